import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, http, send, simpleMt, startSink, startTestGateway, type TestGateway } from '../support/gateway.ts';

/** The value of one sample line of the Prometheus text format, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('GET /metrics', () => {
  let gw: TestGateway;
  let sink: Awaited<ReturnType<typeof startSink>>;
  beforeAll(async () => {
    sink = await startSink();
    gw = await startTestGateway({}, { reportUrl: `${sink.url}/reports` });
  });
  afterAll(async () => {
    await gw.stop();
    await sink.close();
  });

  it('counts requests by route and status, and every hop of the pipeline by event type', async () => {
    for (let i = 0; i < 3; i++) expect((await send(gw.url, simpleMt('15551230001'))).status).toBe(200);
    expect((await send(gw.url, simpleMt('15551230001'), null)).status).toBe(401);
    await eventually(async () => {
      const text = (await http(`${gw.url}/metrics`)).body.toString();
      return sample(text, 'mmsgate_message_events_total', { type: 'report-delivered' }) === 3 ? true : undefined;
    }, 10_000, 'three reports delivered');
    const r = await http(`${gw.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('text/plain');
    const text = r.body.toString();
    expect(sample(text, 'mmsgate_http_requests_total', { route: '/mms/v2/send', status: '200' })).toBe(3);
    expect(sample(text, 'mmsgate_http_requests_total', { route: '/mms/v2/send', status: '401' })).toBe(1);
    expect(sample(text, 'mmsgate_message_events_total', { type: 'accepted' })).toBe(3);
    expect(sample(text, 'mmsgate_message_events_total', { type: 'submitted' })).toBe(3);
    expect(text).toContain('node="test-node"');
  });
});
