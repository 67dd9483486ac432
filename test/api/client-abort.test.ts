/**
 * A client that disconnects in the middle of its upload is not a failure of the gateway: logged at info, counted
 * under status 499 (docs/api.md, Metrics), never as a 500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTH, basic, eventually, http, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { captureLogs } from '../support/log-capture.ts';
import { RawConnection, sendHead } from './raw-http.ts';

const logs = captureLogs();
const lines = logs.lines;
let gw: TestGateway;
let port: number;
beforeAll(async () => {
  gw = await startTestGateway({}, { start: { logger: logs.logger, logRequests: true } });
  port = Number(new URL(gw.url).port);
});
afterAll(async () => {
  await gw?.stop();
});

/** The value of one sample of the Prometheus text, or undefined. */
function sample(text: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith('mmsgate_http_requests_total{')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const CONTROL = '--b\r\nContent-Type: application/json\r\nContent-Id: main\r\n\r\n{"source":"88600","destination":"15551230001"}\r\n--b\r\nContent-Type: image/jpeg\r\n\r\n';

/** Sends the head and part of the body of `url`, then drops the connection. */
async function abandonUpload(url: string, requestId: string): Promise<void> {
  const conn = await RawConnection.open(port);
  const head = sendHead({ auth: AUTH, contentType: 'multipart/mixed; boundary=b', contentLength: 1_000_000, extra: { 'X-Request-Id': requestId } });
  await conn.write(head.replace('/mms/v2/send', url));
  await conn.write(CONTROL);
  await conn.write(Buffer.alloc(100_000, 0x41));
  await new Promise((r) => setTimeout(r, 50)); // let the server read it
  conn.socket.resetAndDestroy();
}

describe('a client that disconnects mid-upload', () => {
  it('on POST /mms/v2/send: an info line, status 499 in the metrics, no 500', async () => {
    await abandonUpload('/mms/v2/send', 'abort-send-1');
    const done = await eventually(async () => lines.find((l) => l.requestId === 'abort-send-1' && l.msg === 'request completed'), 5_000, 'request completed');
    expect(done).toMatchObject({ res: { statusCode: 499 } });
    const mine = lines.filter((l) => l.requestId === 'abort-send-1');
    expect(mine.filter((l) => (l.level as number) >= 40)).toEqual([]);
    expect(mine.some((l) => l.msg === 'the client closed the connection before the answer')).toBe(true);
    const text = (await http(`${gw.url}/metrics`)).body.toString();
    expect(sample(text, { route: '/mms/v2/send', status: '499' })).toBe(1);
    expect(sample(text, { route: '/mms/v2/send', status: '500' })).toBeUndefined();
  });

  it('while its password is being verified (before the body is read): the send still completes, as a 499', async () => {
    // An account no earlier test used, so its password is not cached: the key derivation runs on libuv's pool
    // while the client resets the connection, and the body stream is gone before the multipart reader gets it.
    const conn = await RawConnection.open(port);
    const head = sendHead({ auth: basic('globex', 'globex-secret-2'), contentType: 'multipart/mixed; boundary=b', contentLength: 1_000_000, extra: { 'X-Request-Id': 'abort-auth-3' } });
    await conn.write(head + CONTROL);
    conn.socket.resetAndDestroy();
    const done = await eventually(async () => lines.find((l) => l.requestId === 'abort-auth-3' && l.msg === 'request completed'), 5_000, 'request completed');
    expect(done).toMatchObject({ res: { statusCode: 499 } });
  });

  it("on one of Fastify's routes (POST /sandbox/mo): an info line, no 500", async () => {
    await abandonUpload('/sandbox/mo', 'abort-mo-2');
    await eventually(async () => lines.find((l) => l.requestId === 'abort-mo-2' && l.msg === 'the client closed the connection before the answer'), 5_000, 'abort logged');
    await new Promise((r) => setTimeout(r, 100));
    const mine = lines.filter((l) => l.requestId === 'abort-mo-2');
    expect(mine.filter((l) => (l.level as number) >= 40)).toEqual([]);
    const text = (await http(`${gw.url}/metrics`)).body.toString();
    expect(sample(text, { route: '/sandbox/mo', status: '500' })).toBeUndefined();
  });
});
