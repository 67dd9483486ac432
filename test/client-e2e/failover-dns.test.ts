/**
 * MmsClient against real gateways: failover past an endpoint that refuses connections, and a host name that moves
 * to another gateway being followed once the cached DNS answer expires (OpenMarket's "Things to know": the global
 * name may move between data centers; cache its answer for at most a minute). A send whose answer is lost is
 * repeated on the next endpoint with the same Idempotency-Key, and the gateway stores it once.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { MmsClient, MmsNetworkError, type ResolvedAddress } from '../../src/client/index.ts';
import { ACCOUNT, freePort, sleep, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { Cleanups, handsetMessages, storedMessageCount, waitForHandset } from './helpers.ts';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

async function gateway(overrides: Parameters<typeof startTestGateway>[0] = {}): Promise<TestGateway> {
  const gw = await startTestGateway(overrides);
  cleanups.add(() => gw.stop());
  return gw;
}

function client(opts: Omit<ConstructorParameters<typeof MmsClient>[0], 'accountId' | 'password'>): MmsClient {
  const c = new MmsClient({ accountId: ACCOUNT.id, password: ACCOUNT.password, timeoutMs: 5_000, ...opts });
  cleanups.add(() => c.close());
  return c;
}

describe('failover across endpoints', () => {
  it('sends through the second endpoint when the first refuses connections, storing the message once', async () => {
    const gw = await gateway();
    const closed = `http://127.0.0.1:${await freePort()}`;
    const c = client({ endpoints: [closed, gw.url] });

    const res = await c.send({ source: '88600', destination: '15551230001', subject: 'failover', parts: [{ text: 'via the second endpoint' }] });
    expect(res.endpoint).toBe(gw.url);
    expect(Number.isSafeInteger(res.mtId)).toBe(true);
    expect(res.requestId).not.toBe('');

    const [msg] = await waitForHandset(gw, '15551230001');
    expect(msg!.mtId).toBe(res.mtId);
    expect(await storedMessageCount(gw)).toBe(1);
    const status = await c.status(res.mtId);
    expect(status.requestId).toBe(res.requestId);
  });

  it('retries on the next endpoint with the same Idempotency-Key when the answer is lost: one message', async () => {
    const gw = await gateway();
    // A node that takes the request (the gateway stores the message) and dies before answering.
    const keys: string[] = [];
    const lossy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        keys.push(String(req.headers['idempotency-key']));
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k))) as Record<string, string>;
        const r = await request(`${gw.url}${req.url}`, { method: 'POST', headers, body: Buffer.concat(chunks) });
        await r.body.dump();
        expect(r.statusCode).toBe(200);
        res.socket?.destroy();
      });
    });
    await new Promise<void>((ok) => lossy.listen(0, '127.0.0.1', ok));
    cleanups.add(() => new Promise((ok) => lossy.close(ok)));
    const lossyUrl = `http://127.0.0.1:${(lossy.address() as AddressInfo).port}`;

    const c = client({ endpoints: [lossyUrl, gw.url] });
    const res = await c.send({ source: '88600', destination: '15551230003', parts: [{ text: 'exactly once' }] });
    expect(res.endpoint).toBe(gw.url);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);

    const [msg] = await waitForHandset(gw, '15551230003');
    expect(msg!.mtId).toBe(res.mtId);
    await sleep(300);
    expect(await handsetMessages(gw, '15551230003')).toHaveLength(1);
    expect(await storedMessageCount(gw)).toBe(1);
    // The request id send returned is the one the stored message (and so every delivery report) carries, although the
    // answer came from the retry.
    expect((await c.status(res.mtId)).requestId).toBe(res.requestId);
  });

  it('reports every failed attempt when no endpoint answers', async () => {
    const a = `http://127.0.0.1:${await freePort()}`;
    const b = `http://127.0.0.1:${await freePort()}`;
    const c = client({ endpoints: [a, b], retries: 1 });
    const err = await c.send({ source: '88600', destination: '15551230002', parts: [{ text: 'nobody home' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MmsNetworkError);
    expect((err as MmsNetworkError).attempts.map((x) => x.endpoint)).toEqual([a, b]);
    expect((err as MmsNetworkError).message).toMatch(/ECONNREFUSED/);
  });
});

describe('DNS changes are followed within the cache time', () => {
  it('sends to the new address once the cached answer expired, and not before', async () => {
    // Two gateways on the same port, one on 127.0.0.1 and one on 127.0.0.2: only the name's address tells them apart.
    const port = await freePort();
    const gwA = await gateway({ listen: { host: '127.0.0.1', port } });
    const gwB = await gateway({ listen: { host: '127.0.0.2', port } });

    let current: ResolvedAddress = { address: '127.0.0.1', family: 4 };
    const lookups: string[] = [];
    let clock = 1_000_000;
    const c = client({
      endpoints: [`http://mmsgate.test:${port}`],
      dnsTtlMs: 5_000,
      now: () => clock,
      lookup: async (host) => {
        lookups.push(host);
        return [current];
      },
    });
    const send = (destination: string) => c.send({ source: '88600', destination, parts: [{ text: `to ${destination}` }] });

    await send('15551230010');
    expect(await storedMessageCount(gwA)).toBe(1);

    // The name moves; the cached answer is still fresh, so the next send stays on A.
    current = { address: '127.0.0.2', family: 4 };
    clock += 4_000;
    await send('15551230011');
    expect(await storedMessageCount(gwA)).toBe(2);
    expect(await storedMessageCount(gwB)).toBe(0);
    expect(lookups).toEqual(['mmsgate.test']);

    // Past the TTL the name is looked up again and the keep-alive connection to A is not reused.
    clock += 1_500;
    const moved = await send('15551230012');
    expect(await storedMessageCount(gwB)).toBe(1);
    expect(await storedMessageCount(gwA)).toBe(2);
    expect(lookups).toEqual(['mmsgate.test', 'mmsgate.test']);
    const [onB] = await waitForHandset(gwB, '15551230012');
    expect(onB!.mtId).toBe(moved.mtId);
    expect((await gwB.gateway.store.getMt(moved.mtId))?.destination).toBe('15551230012');
  });

  it('keeps sending when the name has two addresses and nothing listens on one of them', async () => {
    const port = await freePort();
    const gw = await gateway({ listen: { host: '127.0.0.1', port } });
    const c = client({
      endpoints: [`http://mmsgate.test:${port}`],
      connections: 1,
      lookup: async () => [
        { address: '127.0.0.3', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ],
    });
    for (let i = 0; i < 3; i++) {
      await c.send({ source: '88600', destination: `1555123002${i}`, parts: [{ text: `message ${i}` }] });
    }
    expect(await storedMessageCount(gw)).toBe(3);
  });
});
