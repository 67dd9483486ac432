/**
 * What node:http's parser refuses before any route sees the request still gets the registry's error body, an
 * X-Request-Id and Connection: close (docs/errors.md: every error of the HTTP API).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS, type ErrorCode } from '../../src/core/errors.ts';
import { AUTH, eventually, http, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { RawConnection, type RawResponse } from './raw-http.ts';

let gw: TestGateway;
let port: number;
beforeAll(async () => {
  gw = await startTestGateway();
  port = Number(new URL(gw.url).port);
});
afterAll(async () => {
  await gw?.stop();
});

function expectRegistryError(r: RawResponse, code: ErrorCode): void {
  expect(r.status, r.body).toBe(ERRORS[code].status);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  expect(JSON.parse(r.body)).toEqual({ code, description: expect.any(String) });
  expect(r.headers['x-request-id']).toMatch(/^[\x21-\x7e]{1,30}$/);
  expect(r.headers.connection).toBe('close');
}

async function exchange(raw: string): Promise<{ r: RawResponse; conn: RawConnection }> {
  const conn = await RawConnection.open(port);
  await conn.write(raw);
  const r = await conn.next();
  return { r, conn };
}

describe('requests refused by the HTTP parser', () => {
  it('a header block over the limit: 431 REQUEST_HEADERS_TOO_LARGE', async () => {
    const { r, conn } = await exchange(`POST /mms/v2/send HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'p'.repeat(20_000)}\r\n\r\n`);
    expectRegistryError(r, 'REQUEST_HEADERS_TOO_LARGE');
    expect(JSON.parse(r.body).description).toContain('16384');
    expect(await conn.closed(2_000)).toBe(true);
  });

  it('Content-Length together with Transfer-Encoding: chunked (RFC 9112 §6.3): 400 MALFORMED_REQUEST', async () => {
    const { r, conn } = await exchange(
      `POST /mms/v2/send HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${AUTH}\r\nContent-Type: multipart/mixed; boundary=b\r\n` +
        'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    expectRegistryError(r, 'MALFORMED_REQUEST');
    expect(JSON.parse(r.body).description).toMatch(/Content-Length/i);
    expect(await conn.closed(2_000)).toBe(true);
  });

  it('a request line that is not HTTP: 400 MALFORMED_REQUEST', async () => {
    const { r, conn } = await exchange('HELLO THERE\r\n\r\n');
    expectRegistryError(r, 'MALFORMED_REQUEST');
    expect(await conn.closed(2_000)).toBe(true);
  });

  it('a bad chunk in the middle of a send body: 400 MALFORMED_REQUEST with the request id, counted as 400', async () => {
    const { r } = await exchange(
      `POST /mms/v2/send HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${AUTH}\r\nContent-Type: multipart/mixed; boundary=b\r\n` +
        'X-Request-Id: bad-chunk-1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n--b\r\n\r\nzz-not-hex\r\n',
    );
    expectRegistryError(r, 'MALFORMED_REQUEST');
    expect(r.headers['x-request-id']).toBe('bad-chunk-1');
    const counted = await eventually(async () => {
      const text = (await http(`${gw.url}/metrics`)).body.toString();
      return /mmsgate_http_requests_total\{[^}]*route="\/mms\/v2\/send",status="400"[^}]*\} 1/.test(text) ? text : undefined;
    }, 5_000, 'the send counted');
    expect(counted).not.toMatch(/route="\/mms\/v2\/send",status="499"/);
  });
});

describe('refusals of requests without a body', () => {
  it('keep the connection open: a 404 and a 401 for a GET, then the next request on the same connection', async () => {
    const conn = await RawConnection.open(port);
    await conn.write('GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const notFound = await conn.next();
    expect(notFound.status).toBe(404);
    expect(notFound.headers.connection).not.toBe('close');
    await conn.write('GET /mms/v2/status/100000000000000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect((await conn.next()).status).toBe(401);
    await conn.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect((await conn.next()).status).toBe(200);
    expect(conn.closedAt).toBeUndefined();
    conn.socket.destroy();
  });
});
