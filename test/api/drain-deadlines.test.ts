/**
 * A draining node still holds requests that are arriving to api.headersTimeout and api.requestTimeout. node:http
 * stops its deadline checks when the server closes, so without a check of the gateway's own a client that stalls
 * its upload (or its headers) during a SIGTERM would keep the node from ever exiting.
 */
import { describe, expect, it } from 'vitest';
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
});
