/**
 * webhooks.timeout bounds a whole webhook attempt. A customer endpoint that answers a byte at a time never trips
 * undici's idle timeouts (each byte restarts them), so without a deadline on the attempt it held one of the kind's
 * delivery slots, shared by every account, for as long as it kept trickling.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebhookDispatcher } from '../../src/webhooks/webhook-dispatcher.ts';

const TIMEOUT_MS = 800;
let server: Server | undefined;
let dispatcher: WebhookDispatcher | undefined;

afterEach(async () => {
  // The endpoint's connections first: an attempt still hanging on one (without the deadline) then ends, and close() returns.
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  await dispatcher?.close();
  server = dispatcher = undefined;
});

/** A loopback endpoint whose answer is written by `answer`, once the request body has arrived. */
async function endpoint(answer: (res: ServerResponse, socket: Socket) => void): Promise<string> {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(res, req.socket));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

/** Writes `chunk` every `ms` until the connection closes. */
function trickle(res: { write(c: string): unknown; once(e: 'close', f: () => void): unknown }, chunk: string, ms: number): void {
  const t = setInterval(() => res.write(chunk), ms);
  res.once('close', () => clearInterval(t));
}

function attempt(url: string) {
  dispatcher = new WebhookDispatcher({ max4xxAttempts: 3, timeoutMs: TIMEOUT_MS, addressPolicy: { allowPrivateAddresses: true } }, pino({ level: 'silent' }));
  return dispatcher.attempt({ url, contentType: 'application/json', body: Buffer.from('{}'), requestId: 'r', deliveryId: 'd', secrets: [] });
}

describe('webhook attempt deadline (webhooks.timeout)', () => {
  it('counts a 2xx whose body trickles as delivered, and ends the attempt at the timeout', async () => {
    const url = await endpoint((res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      trickle(res, 'x', 100);
    });
    const started = Date.now();
    const r = await attempt(url);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 1000);
    expect(r).toEqual({ ok: true, status: 200 });
  }, 5000);

  it('fails a 5xx whose body trickles at the timeout, still retryable', async () => {
    const url = await endpoint((res) => {
      res.writeHead(503);
      trickle(res, 'x', 100);
    });
    const started = Date.now();
    const r = await attempt(url);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 1000);
    expect(r).toMatchObject({ ok: false, retryable: true, status: 503 });
  }, 5000);
});
