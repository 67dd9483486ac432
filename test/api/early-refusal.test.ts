/**
 * A send refused before its body is all read closes the connection after the answer (docs/errors.md): the gateway
 * never reads an upload it refused without bound, and a client that writes its whole request before reading still
 * gets the answer instead of a stalled or reset connection. `Expect: 100-continue` requests refused on their headers
 * get the final answer without `100 Continue`.
 */
import { describe, expect, it } from 'vitest';
import { ERRORS, type ErrorCode } from '../../src/core/errors.ts';
import { AUTH, basic, simpleMt } from '../support/gateway.ts';
import { RawConnection, rawGatewayFixture, sendHead, type RawResponse } from './raw-http.ts';

const MAX_BODY = 16 * 1024 * 1024;
const MiB = 1024 * 1024;

const fixture = rawGatewayFixture({ api: { maxBodyBytes: MAX_BODY, maxPartBytes: MAX_BODY } });
const connection = (): Promise<RawConnection> => fixture.connection();

function expectRefusal(r: RawResponse, code: ErrorCode): void {
  expect(r.status, r.body).toBe(ERRORS[code].status);
  expect(JSON.parse(r.body)).toEqual({ code, description: expect.any(String) });
  expect(r.headers['x-request-id']).toMatch(/^[\x21-\x7e]{1,30}$/);
}

/** Resolves false when `p` has not settled within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

const MT = 'multipart/mixed; boundary=b';
const CONTROL = '--b\r\nContent-Type: application/json\r\nContent-Id: main\r\n\r\n{"source":"88600","destination":"15551230001"}\r\n';

describe('refused on the request head, body not yet read', () => {
  const cases: { name: string; code: ErrorCode; head: (length: number) => string }[] = [
    { name: 'no Authorization', code: 'AUTH_REQUIRED', head: (n) => sendHead({ auth: null, contentType: MT, contentLength: n }) },
    { name: 'a wrong password', code: 'AUTH_INVALID', head: (n) => sendHead({ auth: basic('acme', 'wrong'), contentType: MT, contentLength: n }) },
    { name: 'a wrong Content-Type', code: 'UNSUPPORTED_MEDIA_TYPE', head: (n) => sendHead({ auth: AUTH, contentType: 'application/json', contentLength: n }) },
    { name: 'no boundary', code: 'MISSING_BOUNDARY', head: (n) => sendHead({ auth: AUTH, contentType: 'multipart/mixed', contentLength: n }) },
    {
      name: 'an invalid Idempotency-Key',
      code: 'INVALID_FIELD',
      head: (n) => sendHead({ auth: AUTH, contentType: MT, contentLength: n, extra: { 'Idempotency-Key': 'has space' } }),
    },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.code} with Connection: close; the rest of the body is taken, then the connection closes`, async () => {
      const length = 2 * MiB;
      const conn = await connection();
      await conn.write(c.head(length));
      await conn.write(CONTROL);
      const r = await conn.next();
      expectRefusal(r, c.code);
      expect(r.headers.connection).toBe('close');
      // A client that writes its whole request before it reads can finish writing...
      expect(await within(conn.pump(length - CONTROL.length), 5_000)).toBe(true);
      expect(conn.flushed).toBe(c.head(length).length + length);
      // ...and the server closes once the body is in.
      expect(await conn.closed(3_000)).toBe(true);
    });
  }

  it('an announced upload over api.maxBodyBytes is not read: the connection closes right after the answer', async () => {
    const announced = 256 * MiB;
    const conn = await connection();
    await conn.write(sendHead({ auth: basic('acme', 'wrong'), contentType: MT, contentLength: announced }));
    const pumping = conn.pump(announced);
    const r = await conn.next();
    expectRefusal(r, 'AUTH_INVALID');
    expect(r.headers.connection).toBe('close');
    expect(await conn.closed(3_000)).toBe(true);
    await pumping;
    // What the kernel buffers took before the close, not the upload.
    expect(conn.flushed).toBeLessThan(announced / 4);
  });

  it('a refused chunked upload (no length announced) is read at most api.maxBodyBytes further', async () => {
    const conn = await connection();
    const head = sendHead({ auth: null, contentType: MT, extra: { 'Transfer-Encoding': 'chunked' } });
    const huge = 256 * MiB;
    await conn.write(`${head}${huge.toString(16)}\r\n`);
    const pumping = conn.pump(huge);
    const r = await conn.next();
    expectRefusal(r, 'AUTH_REQUIRED');
    expect(r.headers.connection).toBe('close');
    expect(await conn.closed(5_000)).toBe(true);
    await pumping;
    expect(conn.flushed).toBeLessThan(huge / 4);
  });

  it('a refusal after the whole body was read keeps the connection for the next request', async () => {
    const conn = await connection();
    const body = `${CONTROL}--b--\r\n`; // no content part
    await conn.write(sendHead({ auth: AUTH, contentType: MT, contentLength: body.length }) + body);
    const r = await conn.next();
    expectRefusal(r, 'NO_CONTENT');
    expect(r.headers.connection).not.toBe('close');
    const ok = simpleMt('15551230001');
    await conn.write(sendHead({ auth: AUTH, contentType: ok.contentType, contentLength: ok.body.length }));
    await conn.write(ok.body);
    expect((await conn.next()).status).toBe(200);
  });
});

describe('refused in the middle of the body, client writes everything before reading', () => {
  // The filler after the faulty part is far more than socket buffers hold, so a server that stops reading without
  // closing stalls the client's write.
  const filler = 12 * MiB;
  const cases: { name: string; code: ErrorCode; faulty: string }[] = [
    {
      name: 'an unknown Content-Transfer-Encoding',
      code: 'UNSUPPORTED_TRANSFER_ENCODING',
      faulty: '--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nhi\r\n',
    },
    { name: 'invalid base64', code: 'MALFORMED_MULTIPART', faulty: '--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n' },
  ];
  for (const c of cases) {
    it(`${c.name}: 400 ${c.code}, the upload completes, the answer is read, the connection closes`, async () => {
      const head = `${CONTROL}${c.faulty}--b\r\nContent-Type: application/octet-stream\r\n\r\n`;
      const tail = '\r\n--b--\r\n';
      const length = head.length + filler + tail.length;
      const conn = await connection();
      await conn.write(sendHead({ auth: AUTH, contentType: MT, contentLength: length }) + head);
      const upload = (async () => {
        await conn.pump(filler);
        await conn.write(tail);
      })();
      expect(await within(upload, 10_000), 'the whole body was written').toBe(true);
      const r = await conn.next();
      expectRefusal(r, c.code);
      expect(r.headers.connection).toBe('close');
      expect(await conn.closed(3_000)).toBe(true);
      expect(conn.error).toBeUndefined(); // closed, not reset
    });
  }
});

describe('Expect: 100-continue', () => {
  it('refused on its headers: the final answer comes without 100 Continue, and the connection closes', async () => {
    for (const [head, code] of [
      [sendHead({ auth: null, contentType: MT, contentLength: 100_000, extra: { Expect: '100-continue' } }), 'AUTH_REQUIRED'],
      [sendHead({ auth: AUTH, contentType: 'text/plain', contentLength: 100_000, extra: { Expect: '100-continue' } }), 'UNSUPPORTED_MEDIA_TYPE'],
      [sendHead({ auth: AUTH, contentType: MT, contentLength: 100_000, extra: { Expect: '100-continue', 'Content-Encoding': 'gzip' } }), 'UNSUPPORTED_CONTENT_ENCODING'],
      [sendHead({ auth: AUTH, contentType: MT, contentLength: MAX_BODY + 1, extra: { Expect: '100-continue' } }), 'BODY_TOO_LARGE'],
    ] as const) {
      const conn = await connection();
      await conn.write(head);
      const r = await conn.next();
      expectRefusal(r, code);
      expect(r.headers.connection).toBe('close');
      expect(await conn.closed(3_000)).toBe(true);
    }
  });

  it('a request that passes its header checks gets 100 Continue, then its answer after the body', async () => {
    const ok = simpleMt('15551230001');
    const conn = await connection();
    await conn.write(sendHead({ auth: AUTH, contentType: ok.contentType, contentLength: ok.body.length, extra: { Expect: '100-continue' } }));
    expect((await conn.next()).status).toBe(100);
    await conn.write(ok.body);
    const r = await conn.next();
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ mtId: expect.any(Number) });
  });

  it('other routes get 100 Continue at once, as before', async () => {
    const conn = await connection();
    await conn.write('POST /sandbox/inbox/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n');
    expect((await conn.next()).status).toBe(100);
  });
});
