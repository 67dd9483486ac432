/**
 * Every refusal of POST /mms/v2/send carries its registry code and status (src/core/errors.ts), a JSON body
 * `{code, description}` and an X-Request-Id — never a 500. Oversized uploads are refused without being read.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS, type ErrorCode } from '../../src/core/errors.ts';
import { buildMultipart } from '../../src/shared/multipart-writer.ts';
import { parseResponseHead } from './raw-http.ts';
import {
  AUTH,
  basic,
  buildMultipartRequest,
  http,
  send,
  simpleMt,
  startTestGateway,
  type BuiltRequest,
  type HttpResult,
  type TestGateway,
} from '../support/gateway.ts';

const MAX_BODY = 64 * 1024;
const MAX_PARTS = 5;
const MAX_PART = 16 * 1024;
const MAX_HEADER = 1024;

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ api: { maxBodyBytes: MAX_BODY, maxParts: MAX_PARTS, maxPartBytes: MAX_PART, maxHeaderBytes: MAX_HEADER } });
});
afterAll(async () => {
  await gw?.stop();
});

/** The answer is the registry's error: status, exact body shape, a request id. */
function expectError(r: HttpResult, code: ErrorCode): void {
  expect(r.status, `${code}: ${r.body.toString()}`).toBe(ERRORS[code].status);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  expect(r.json).toEqual({ code, description: expect.any(String) });
  expect(r.json.description.length).toBeGreaterThan(0);
  expect(r.headers['x-request-id']).toMatch(/^[\x21-\x7e]{1,30}$/);
}

const mt = (control: Record<string, unknown>): BuiltRequest => buildMultipartRequest(control);
const good = { type: 'MT', source: '88600', destination: '15551230001' };

describe('authentication', () => {
  it('no Authorization: 401 AUTH_REQUIRED with a Basic challenge', async () => {
    const r = await send(gw.url, simpleMt('15551230001'), null);
    expectError(r, 'AUTH_REQUIRED');
    expect(r.headers['www-authenticate']).toMatch(/^Basic realm="[^"]+"/);
  });

  it('wrong password: 401 AUTH_INVALID with a challenge', async () => {
    const r = await send(gw.url, simpleMt('15551230001'), basic('acme', 'not-the-password'));
    expectError(r, 'AUTH_INVALID');
    expect(r.headers['www-authenticate']).toMatch(/^Basic /);
  });

  it('unknown account: 401 AUTH_INVALID, the same answer as a wrong password', async () => {
    const r = await send(gw.url, simpleMt('15551230001'), basic('nobody', 'x'));
    expectError(r, 'AUTH_INVALID');
  });
});

describe('request framing', () => {
  it('wrong content type: 415', async () => {
    const { body } = simpleMt('15551230001');
    for (const ct of ['application/json', 'multipart/form-data; boundary=x', 'text/plain']) {
      expectError(await send(gw.url, { contentType: ct, body }), 'UNSUPPORTED_MEDIA_TYPE');
    }
    // No Content-Type at all.
    const r = await http(`${gw.url}/mms/v2/send`, { method: 'POST', headers: { authorization: AUTH }, body });
    expectError(r, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('multipart/mixed without a boundary: 400 MISSING_BOUNDARY', async () => {
    expectError(await send(gw.url, { contentType: 'multipart/mixed', body: simpleMt('15551230001').body }), 'MISSING_BOUNDARY');
  });

  it('truncated body: 400 MALFORMED_MULTIPART', async () => {
    const req = simpleMt('15551230001');
    const cut = req.body.subarray(0, req.body.length - 30);
    expectError(await send(gw.url, { contentType: req.contentType, body: cut }), 'MALFORMED_MULTIPART');
  });

  it('a body that never mentions the boundary: 400 MALFORMED_MULTIPART', async () => {
    expectError(await send(gw.url, { contentType: 'multipart/mixed; boundary=abc', body: Buffer.from('just text\r\n') }), 'MALFORMED_MULTIPART');
  });

  it('too many parts: 413 TOO_MANY_PARTS', async () => {
    const parts = Array.from({ length: MAX_PARTS + 3 }, (_, i) => ({
      headers: { 'Content-Type': 'text/plain', 'Content-Id': `t${i}.txt` },
      body: `part ${i}`,
    }));
    const r = await send(gw.url, buildMultipartRequest(good, parts));
    expectError(r, 'TOO_MANY_PARTS');
  });

  it('one part over the part limit: 413 PART_TOO_LARGE', async () => {
    const r = await send(gw.url, buildMultipartRequest(good, [{ headers: { 'Content-Type': 'image/jpeg' }, body: Buffer.alloc(MAX_PART + 1000, 0x61) }]));
    expectError(r, 'PART_TOO_LARGE');
  });

  it('a part header block over the limit: 431 HEADER_TOO_LARGE', async () => {
    const r = await send(gw.url, buildMultipartRequest(good, [{ headers: { 'Content-Type': 'text/plain', 'X-Padding': 'p'.repeat(MAX_HEADER + 100) }, body: 'hi' }]));
    expectError(r, 'HEADER_TOO_LARGE');
  });

  it('an unknown Content-Transfer-Encoding: 400 UNSUPPORTED_TRANSFER_ENCODING', async () => {
    const r = await send(gw.url, buildMultipartRequest(good, [{ headers: { 'Content-Type': 'text/plain', 'Content-Transfer-Encoding': 'x-uuencode' }, body: 'begin 644 x' }]));
    expectError(r, 'UNSUPPORTED_TRANSFER_ENCODING');
  });

  it('a remote content part that is not an http(s) URL: 400 INVALID_REMOTE_CONTENT', async () => {
    for (const url of ['ftp://example.com/a.jpg', 'not a url', 'https://user:pw@example.com/a.jpg', '']) {
      const r = await send(gw.url, buildMultipartRequest(good, [{ headers: { 'Content-Type': 'application/vnd.openmarket.remoteContent' }, body: url }]));
      expectError(r, 'INVALID_REMOTE_CONTENT');
    }
  });

  it('wrong method on /mms/v2/send: 405 with Allow: POST (RFC 9110 §15.5.6)', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'OPTIONS']) {
      const r = await http(`${gw.url}/mms/v2/send`, { method, headers: { authorization: AUTH } });
      expectError(r, 'METHOD_NOT_ALLOWED');
      expect(r.headers.allow).toBe('POST');
    }
  });

  it('wrong method on /mms/v2/status/{mtId}: 405 with Allow: GET, HEAD', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const r = await http(`${gw.url}/mms/v2/status/1`, { method, headers: { authorization: AUTH } });
      expectError(r, 'METHOD_NOT_ALLOWED');
      expect(r.headers.allow).toBe('GET, HEAD');
    }
  });
});

describe('control part', () => {
  it('no part with Content-Id main and a first part that is not JSON or text: 400 MISSING_CONTROL_PART', async () => {
    for (const first of ['image/gif', 'application/octet-stream', 'text/html']) {
      const { contentType, body } = buildMultipart([
        { headers: { 'Content-Type': first, 'Content-Id': 'a' }, body: JSON.stringify(good) },
        { headers: { 'Content-Type': 'text/plain', 'Content-Id': 'text.txt' }, body: 'hello' },
      ]);
      expectError(await send(gw.url, { contentType, body }), 'MISSING_CONTROL_PART');
    }
  });

  it('no part with Content-Id main: a first part typed JSON, text/plain or untyped (RFC 2045 §5.2) is the control part', async () => {
    const firsts: Record<string, string>[] = [
      {}, // no Content-Type: text/plain by default
      { 'Content-Type': 'text/plain' },
      { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Id': 'ctl' },
      { 'Content-Type': 'application/json' },
      { 'Content-Type': 'application/vnd.example+json' },
    ];
    for (const headers of firsts) {
      const { contentType, body } = buildMultipart([
        { headers, body: JSON.stringify(good) },
        { headers: { 'Content-Type': 'text/plain' }, body: 'hello' },
      ]);
      const r = await send(gw.url, { contentType, body });
      expect(r.status, `${JSON.stringify(headers)}: ${r.body.toString()}`).toBe(200);
      expect(r.json.mtId).toEqual(expect.any(Number));
    }
  });

  it('a first text/plain part that is not JSON is taken as the control part: 400 INVALID_JSON', async () => {
    const { contentType, body } = buildMultipart([
      { headers: { 'Content-Type': 'text/plain', 'Content-Id': 'text.txt' }, body: 'hello' },
      { headers: { 'Content-Type': 'image/gif', 'Content-Id': 'a.gif' }, body: Buffer.from('GIF89a') },
    ]);
    expectError(await send(gw.url, { contentType, body }), 'INVALID_JSON');
  });

  it('invalid JSON: 400 INVALID_JSON', async () => {
    const { contentType, body } = buildMultipart([
      { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: '{"type": "MT", "source": "88600",' },
      { headers: { 'Content-Type': 'text/plain' }, body: 'hello' },
    ]);
    expectError(await send(gw.url, { contentType, body }), 'INVALID_JSON');
  });

  it('a control part that is not valid UTF-8 (RFC 8259 §8.1): 400 INVALID_JSON, not a subject full of U+FFFD', async () => {
    const json = Buffer.concat([Buffer.from('{"type":"MT","source":"88600","destination":"15551230001","subject":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const { contentType, body } = buildMultipart([
      { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: json },
      { headers: { 'Content-Type': 'text/plain' }, body: 'hello' },
    ]);
    const r = await send(gw.url, { contentType, body });
    expectError(r, 'INVALID_JSON');
    expect(r.json.description).toMatch(/UTF-8/);
  });

  it('a JSON array instead of an object: 400 INVALID_JSON', async () => {
    const { contentType, body } = buildMultipart([
      { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: '[1,2]' },
      { headers: { 'Content-Type': 'text/plain' }, body: 'hello' },
    ]);
    expectError(await send(gw.url, { contentType, body }), 'INVALID_JSON');
  });

  it('missing destination: 400 MISSING_FIELD naming it', async () => {
    const r = await send(gw.url, mt({ type: 'MT', source: '88600' }));
    expectError(r, 'MISSING_FIELD');
    expect(r.json.description).toContain('destination');
  });

  it('malformed destinations: 400 INVALID_DESTINATION', async () => {
    for (const destination of ['+15551230001', '1555-123-0001', 'abc', '0155512300', '1234567890123456']) {
      expectError(await send(gw.url, mt({ ...good, destination })), 'INVALID_DESTINATION');
    }
  });

  it("another account's source: 403 FORBIDDEN_SOURCE", async () => {
    const r = await send(gw.url, mt({ ...good, source: '88700' }));
    expectError(r, 'FORBIDDEN_SOURCE');
    expect(r.json.description).toContain('88700');
  });

  it('unknown mtConfig: 400 UNKNOWN_MT_CONFIG', async () => {
    const r = await send(gw.url, mt({ ...good, mtConfig: 'config9' }));
    expectError(r, 'UNKNOWN_MT_CONFIG');
    expect(r.json.description).toContain('config9');
  });

  it('unknown mobileOperatorId: 400 UNKNOWN_OPERATOR', async () => {
    expectError(await send(gw.url, mt({ ...good, mobileOperatorId: 999 })), 'UNKNOWN_OPERATOR');
  });

  it('no operator serves the destination: 400 NO_ROUTE', async () => {
    const r = await send(gw.url, mt({ ...good, destination: '447700900123' }));
    expectError(r, 'NO_ROUTE');
    expect(r.json.description).toContain('447700900123');
  });

  it('a control part and no content: 400 NO_CONTENT', async () => {
    const { contentType, body } = buildMultipart([{ headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: JSON.stringify(good) }]);
    expectError(await send(gw.url, { contentType, body }), 'NO_CONTENT');
  });

  it('a control part and only an empty part (a stray delimiter): 400 NO_CONTENT, not an empty MMS', async () => {
    const b = 'mimeboundary';
    const body = Buffer.from(
      `--${b}\r\nContent-Type: application/json\r\nContent-Id: main\r\n\r\n${JSON.stringify(good)}\r\n--${b}\r\n\r\n\r\n--${b}--\r\n`,
    );
    expectError(await send(gw.url, { contentType: `multipart/mixed; boundary=${b}`, body }), 'NO_CONTENT');
  });

  it('a type other than MT: 400 INVALID_TYPE', async () => {
    expectError(await send(gw.url, mt({ ...good, type: 'MO' })), 'INVALID_TYPE');
  });
});

/** Raw HTTP/1.1 answer as read off a socket. */
interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Body bytes the client had written when the answer's head arrived. */
  sentWhenAnswered: number;
}

/**
 * Write `head` and then body chunks from `next()` on a raw socket, pausing `gapMs` between chunks, until an answer
 * arrives, the producer is exhausted, or the server closes. Resolves with the parsed answer.
 */
function rawRequest(port: number, head: string, next: () => Buffer | null, gapMs: number, timeoutMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const sock: Socket = connect(port, '127.0.0.1');
    let sent = 0;
    let sentWhenAnswered = -1;
    let got = Buffer.alloc(0);
    let timer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms; got: ${got.toString('latin1').slice(0, 300)}`));
    }, timeoutMs);
    const finish = () => {
      const text = got.toString('latin1');
      const head = parseResponseHead(text);
      if (!head) return false;
      const { status, headers } = head;
      const body = text.slice(head.headEnd + 4);
      const len = Number(headers['content-length'] ?? NaN);
      if (Number.isFinite(len) && Buffer.byteLength(body, 'latin1') < len) return false;
      clearTimeout(deadline);
      clearTimeout(timer);
      sock.destroy();
      resolve({ status, headers, body, sentWhenAnswered });
      return true;
    };
    sock.on('data', (c: Buffer) => {
      if (sentWhenAnswered < 0) sentWhenAnswered = sent;
      got = Buffer.concat([got, c]);
      finish();
    });
    sock.on('error', () => {
      /* EPIPE / ECONNRESET once the server closed: the answer (if any) is already read */
    });
    sock.on('close', () => {
      if (!finish()) {
        clearTimeout(deadline);
        clearTimeout(timer);
        reject(new Error(`connection closed without a complete answer; got: ${got.toString('latin1').slice(0, 300)}`));
      }
    });
    sock.write(head);
    const pump = () => {
      if (sock.destroyed || sentWhenAnswered >= 0) return;
      const chunk = next();
      if (!chunk) return;
      sent += chunk.length;
      sock.write(chunk);
      timer = setTimeout(pump, gapMs);
    };
    pump();
  });
}

describe('uploads over the body limit', () => {
  // Only the body limit is small here, so that no other limit (part size, part count) trips first.
  let big: TestGateway;
  let port: number;
  beforeAll(async () => {
    big = await startTestGateway({ api: { maxBodyBytes: MAX_BODY } });
    port = Number(new URL(big.url).port);
  });
  afterAll(async () => {
    await big?.stop();
  });
  const ct = 'multipart/mixed; boundary=big-boundary';
  const start = Buffer.from('--big-boundary\r\nContent-Type: application/json\r\nContent-Id: main\r\n\r\n{"type":"MT"}\r\n--big-boundary\r\nContent-Type: image/jpeg\r\n\r\n');

  it('announced by Content-Length: 413 BODY_TOO_LARGE arrives before the body is sent', async () => {
    const declared = 50 * 1024 * 1024;
    const head =
      `POST /mms/v2/send HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${AUTH}\r\nContent-Type: ${ct}\r\n` +
      `Content-Length: ${declared}\r\n\r\n`;
    let i = 0;
    // Only the first 4 KiB, then a trickle; the answer must not wait for the other 50 MB.
    const a = await rawRequest(port, head, () => (i++ === 0 ? Buffer.concat([start, Buffer.alloc(4096 - start.length, 0x41)]) : i < 200 ? Buffer.alloc(100, 0x41) : null), 20);
    expect(a.status).toBe(413);
    expect(JSON.parse(a.body)).toEqual({ code: 'BODY_TOO_LARGE', description: expect.stringContaining(String(MAX_BODY)) });
    expect(a.headers['x-request-id']).toMatch(/^[\x21-\x7e]{1,30}$/);
    expect(a.headers['connection']).toBe('close');
    // Answered while the client was still trickling its first 24 KiB (of 50 MB announced).
    expect(a.sentWhenAnswered).toBeGreaterThanOrEqual(0);
    expect(a.sentWhenAnswered).toBeLessThan(4096 + 199 * 100);
  });

  it('chunked, without Content-Length: 413 BODY_TOO_LARGE once the limit is passed', async () => {
    const head = `POST /mms/v2/send HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${AUTH}\r\nContent-Type: ${ct}\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const piece = Buffer.alloc(8 * 1024, 0x42);
    let i = 0;
    const chunk = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
    // Up to 128 x 8 KiB = 16 x the limit; the answer must come long before the producer runs dry.
    const a = await rawRequest(port, head, () => (i++ === 0 ? chunk(start) : i < 128 ? chunk(piece) : null), 10);
    expect(a.status).toBe(413);
    expect(JSON.parse(a.body)).toEqual({ code: 'BODY_TOO_LARGE', description: expect.any(String) });
    expect(a.headers['x-request-id']).toMatch(/^[\x21-\x7e]{1,30}$/);
    expect(a.sentWhenAnswered).toBeGreaterThanOrEqual(MAX_BODY);
    expect(a.sentWhenAnswered).toBeLessThan(8 * MAX_BODY);
  });

  it('the gateway still accepts normal sends afterwards', async () => {
    const r = await send(big.url, simpleMt('15551230001'));
    expect(r.status).toBe(200);
  });
});
