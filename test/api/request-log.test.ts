/**
 * "X-Request-Id in every log line of that request": with request logging on, every line a request writes carries
 * its id, on the send route (served in front of Fastify, src/api/send-fast-path.ts) as on Fastify's routes; the
 * refusal line names the registry code. Also: metrics count the send route like any other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTH, basic, http, send, simpleMt, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { captureLogs } from '../support/log-capture.ts';

const logs = captureLogs();
const lines = logs.lines;
let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({}, { start: { logger: logs.logger, logRequests: true } });
});
afterAll(async () => {
  await gw?.stop();
});

const linesOf = (id: string) => lines.filter((l) => JSON.stringify(l).includes(id));

describe('request logging', () => {
  it('an accepted send logs "incoming request" and "request completed", both with its request id', async () => {
    const r = await send(gw.url, simpleMt('15551230001'), AUTH, { 'x-request-id': 'log-accept-1' });
    expect(r.status).toBe(200);
    expect(r.headers['x-request-id']).toBe('log-accept-1');
    const mine = linesOf('log-accept-1');
    expect(mine.map((l) => l.msg)).toEqual(['incoming request', 'request completed']);
    for (const l of mine) expect(l.requestId).toBe('log-accept-1');
    expect(mine[1]).toMatchObject({ res: { statusCode: 200 } });
  });

  it('a refused send logs the refusal with its code, every line with the request id', async () => {
    const r = await send(gw.url, simpleMt('15551230001'), basic('acme', 'wrong'), { 'x-request-id': 'log-refused-2' });
    expect(r.status).toBe(401);
    const mine = linesOf('log-refused-2');
    expect(mine.length).toBe(3);
    for (const l of mine) expect(l.requestId).toBe('log-refused-2');
    expect(mine.some((l) => l.code === 'AUTH_INVALID')).toBe(true);
    expect(mine.at(-1)).toMatchObject({ msg: 'request completed', res: { statusCode: 401 } });
  });

  it("Fastify's routes label their lines the same way", async () => {
    const ok = await send(gw.url, simpleMt('15551230001'), AUTH);
    const r = await http(`${gw.url}/mms/v2/status/${ok.json.mtId}`, { headers: { authorization: AUTH, 'x-request-id': 'log-status-3' } });
    expect(r.status).toBe(200);
    const mine = linesOf('log-status-3');
    expect(mine.length).toBeGreaterThanOrEqual(2);
    for (const l of mine) expect(l.requestId).toBe('log-status-3');
  });

  it('counts sends in the request metric by route and status', async () => {
    const m = await http(`${gw.url}/metrics`);
    const text = m.body.toString();
    expect(text).toMatch(/mmsgate_http_requests_total\{[^}]*route="\/mms\/v2\/send",status="200"[^}]*\} [1-9]/);
    expect(text).toMatch(/mmsgate_http_requests_total\{[^}]*route="\/mms\/v2\/send",status="401"[^}]*\} [1-9]/);
  });
});
