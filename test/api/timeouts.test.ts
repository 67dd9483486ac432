/**
 * api.headersTimeout and api.requestTimeout: a request that stalls while it arrives is answered 408 REQUEST_TIMEOUT
 * and its connection closed; answering and idle keep-alive time do not count.
 */
import { describe, expect, it } from 'vitest';
import { AUTH, eventually, http, simpleMt, sleep } from '../support/gateway.ts';
import { RawConnection, rawGatewayFixture, sendHead, type RawResponse } from './raw-http.ts';

const HEADERS_TIMEOUT = 1000; // the shortest the configuration takes (api.headersTimeout: 0 or at least 1s)
const REQUEST_TIMEOUT = 2000;

const fixture = rawGatewayFixture({ api: { headersTimeout: `${HEADERS_TIMEOUT}ms`, requestTimeout: `${REQUEST_TIMEOUT}ms` } });
const connection = (): Promise<RawConnection> => fixture.connection();

function expectTimeout(r: RawResponse): void {
  expect(r.status, r.body).toBe(408);
  expect(JSON.parse(r.body)).toEqual({ code: 'REQUEST_TIMEOUT', description: expect.any(String) });
  expect(r.headers['x-request-id']).toMatch(/^[\x21-\x7e]{1,30}$/);
  expect(r.headers.connection).toBe('close');
}

const CONTROL = '--b\r\nContent-Type: application/json\r\nContent-Id: main\r\n\r\n{"source":"88600","destination":"15551230001"}\r\n--b\r\nContent-Type: image/jpeg\r\n\r\n';

describe('request deadlines', () => {
  it('a send whose body stalls: 408 REQUEST_TIMEOUT with its request id, the connection closed, counted as 408', async () => {
    const conn = await connection();
    const started = Date.now();
    await conn.write(sendHead({ auth: AUTH, contentType: 'multipart/mixed; boundary=b', contentLength: 1_000_000, extra: { 'X-Request-Id': 'stalled-1' } }));
    await conn.write(CONTROL);
    await conn.write(Buffer.alloc(200_000, 0x41)); // then nothing more
    const r = await conn.next(8_000);
    expectTimeout(r);
    expect(r.headers['x-request-id']).toBe('stalled-1');
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(REQUEST_TIMEOUT - 50);
    expect(waited).toBeLessThan(REQUEST_TIMEOUT * 2 + 500);
    expect(await conn.closed(2_000)).toBe(true);
    await eventually(async () => {
      const text = (await http(`${fixture.gw().url}/metrics`)).body.toString();
      return /mmsgate_http_requests_total\{[^}]*route="\/mms\/v2\/send",status="408"[^}]*\} 1/.test(text) ? true : undefined;
    }, 5_000, 'the stalled send counted as 408');
  });

  it('a request whose headers stall: 408 REQUEST_TIMEOUT, the connection closed', async () => {
    const conn = await connection();
    await conn.write('POST /mms/v2/send HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // never the blank line
    const r = await conn.next(8_000);
    expectTimeout(r);
    expect(await conn.closed(2_000)).toBe(true);
  });

  it('a connection idle between keep-alive requests longer than the deadlines is not cut', async () => {
    const conn = await connection();
    const ok = simpleMt('15551230001');
    const request = sendHead({ auth: AUTH, contentType: ok.contentType, contentLength: ok.body.length });
    await conn.write(request);
    await conn.write(ok.body);
    expect((await conn.next()).status).toBe(200);
    await sleep(REQUEST_TIMEOUT * 2);
    expect(conn.closedAt).toBeUndefined();
    await conn.write(request);
    await conn.write(ok.body);
    expect((await conn.next()).status).toBe(200);
  });
});
