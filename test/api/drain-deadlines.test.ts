/**
 * A draining node still holds requests that are arriving to api.headersTimeout and api.requestTimeout. node:http
 * stops its deadline checks when the server closes, so without a check of the gateway's own a client that stalls
 * its upload (or its headers) during a SIGTERM would keep the node from ever exiting.
 */
import { describe, expect, it } from 'vitest';
import { buildMultipart } from '../../src/shared/multipart-writer.ts';
import { AUTH, simpleMt } from '../support/gateway.ts';
import { rawGatewayPerTest, sendHead } from './raw-http.ts';

const HEADERS_TIMEOUT = 1000;
const REQUEST_TIMEOUT = 2000;

const fixture = rawGatewayPerTest();
const connect = () => fixture.connection();

describe('stopping with requests still arriving', () => {
  it('answers a stalled upload and stalled headers 408 by their deadlines and then stops', async () => {
    const gw = await fixture.start({ api: { headersTimeout: `${HEADERS_TIMEOUT}ms`, requestTimeout: `${REQUEST_TIMEOUT}ms` } });
    const mt = simpleMt('15551230001');
    const body = await connect();
    await body.write(sendHead({ auth: AUTH, contentType: mt.contentType, contentLength: mt.body.length, extra: { 'X-Request-Id': 'stalled-body' } }));
    await body.write(mt.body.subarray(0, 40)); // then nothing more
    const head = await connect();
    await head.write('POST /mms/v2/send HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // never the blank line
    await new Promise((r) => setTimeout(r, 100)); // both have reached the server

    const started = Date.now();
    let stoppedAt: number | undefined;
    const stopping = gw.gateway.stop().then(() => (stoppedAt = Date.now()));
    const [a, b] = await Promise.all([body.next(REQUEST_TIMEOUT * 3), head.next(REQUEST_TIMEOUT * 3)]);
    expect(a.status, a.body).toBe(408);
    expect(JSON.parse(a.body).code).toBe('REQUEST_TIMEOUT');
    expect(a.headers['x-request-id']).toBe('stalled-body');
    expect(b.status, b.body).toBe(408);
    await Promise.race([stopping, new Promise((r) => setTimeout(r, REQUEST_TIMEOUT * 3))]);
    expect(stoppedAt, 'the gateway stopped').toBeDefined();
    expect(stoppedAt! - started).toBeLessThan(REQUEST_TIMEOUT * 3);
  });

  it('waits for an upload that goes on within its deadline, and answers it', async () => {
    const gw = await fixture.start({ api: { headersTimeout: `${HEADERS_TIMEOUT}ms`, requestTimeout: `${REQUEST_TIMEOUT}ms` } });
    const mt = simpleMt('15551230001');
    const conn = await connect();
    await conn.write(sendHead({ auth: AUTH, contentType: mt.contentType, contentLength: mt.body.length }));
    await conn.write(mt.body.subarray(0, 40));
    const stopping = gw.gateway.stop();
    await new Promise((r) => setTimeout(r, REQUEST_TIMEOUT / 4));
    await conn.write(mt.body.subarray(40)); // within its deadline: the drain waits for it
    const r = await conn.next(REQUEST_TIMEOUT * 2);
    // A send whose body arrives during the drain is refused (the node takes no new messages), not cut off.
    expect(r.status, r.body).toBe(503);
    expect(JSON.parse(r.body).code).toBe('SHUTTING_DOWN');
    await stopping;
  });

  it('ends a connection kept alive after an answer given during the drain, and stops', async () => {
    const gw = await fixture.start({ api: { headersTimeout: `${HEADERS_TIMEOUT}ms`, requestTimeout: `${REQUEST_TIMEOUT}ms` } });
    // A sandbox MO: a route Fastify chose before the close, so its answer keeps the connection alive.
    const { contentType, body } = buildMultipart([
      { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: JSON.stringify({ source: '14553011955', destinations: ['88600'] }) },
      { headers: { 'Content-Type': 'text/plain', 'Content-Id': 'text.txt' }, body: 'hello' },
    ]);
    const conn = await connect();
    await conn.write(`POST /sandbox/mo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n\r\n`);
    await conn.write(body.subarray(0, 40));
    await new Promise((r) => setTimeout(r, 100));

    const started = Date.now();
    let stoppedAt: number | undefined;
    const stopping = gw.gateway.stop().then(() => (stoppedAt = Date.now()));
    await new Promise((r) => setTimeout(r, HEADERS_TIMEOUT / 4));
    await conn.write(body.subarray(40));
    const r = await conn.next(REQUEST_TIMEOUT);
    expect(r.status, r.body).toBe(200);
    expect(r.headers.connection).toBe('keep-alive');
    // Idle now: ended at the next check, not after keepAliveTimeout (72 s), and never answered 408 for nothing.
    expect(await conn.closed(REQUEST_TIMEOUT * 2)).toBe(true);
    expect(conn.text()).toBe('');
    await Promise.race([stopping, new Promise((r) => setTimeout(r, REQUEST_TIMEOUT * 2))]);
    expect(stoppedAt, 'the gateway stopped').toBeDefined();
    expect(stoppedAt! - started).toBeLessThan(REQUEST_TIMEOUT * 2);
  });
});
