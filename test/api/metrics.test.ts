import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, http, send, simpleMt, sleep, startSink, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { sample, samples } from '../support/prometheus.ts';

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

describe('GET /metrics: the job queue', () => {
  // Workers off: the submit jobs of accepted messages stay due, as when the workers cannot keep up.
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({}, { start: { workers: false } });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('reports due jobs, the age of the oldest and dead jobs per kind, read from the store', async () => {
    for (let i = 0; i < 2; i++) expect((await send(gw.url, simpleMt('15551230001'))).status).toBe(200);
    // A job that gave up: an MO webhook past its schedule.
    const store = gw.gateway.store;
    await store.write([{ jobs: [{ kind: 'mo', refId: 1 }] }]);
    const [mo] = await store.claimJobs({ kinds: ['mo'], owner: 'test', leaseMs: 60_000, limit: 1, now: Date.now() });
    await store.write([{ job: { jobId: mo!.id, owner: 'test', outcome: 'dead', error: 'HTTP 410' } }]);
    await sleep(300);

    const r = await http(`${gw.url}/metrics`);
    expect(r.status).toBe(200);
    const text = r.body.toString();
    expect(sample(text, 'mmsgate_jobs', { kind: 'submit', state: 'due' })).toBe(2);
    expect(sample(text, 'mmsgate_jobs', { kind: 'submit', state: 'leased' })).toBe(0);
    expect(sample(text, 'mmsgate_jobs', { kind: 'submit', state: 'dead' })).toBe(0);
    expect(sample(text, 'mmsgate_jobs', { kind: 'mo', state: 'dead' })).toBe(1);
    expect(sample(text, 'mmsgate_jobs', { kind: 'mo', state: 'due' })).toBe(0);
    expect(sample(text, 'mmsgate_jobs', { kind: 'report', state: 'scheduled' })).toBe(0);
    const age = sample(text, 'mmsgate_job_oldest_due_age_seconds', { kind: 'submit' })!;
    expect(age).toBeGreaterThanOrEqual(0.3);
    expect(age).toBeLessThan(30);
    expect(sample(text, 'mmsgate_job_oldest_due_age_seconds', { kind: 'mo' })).toBe(0);
    expect(sample(text, 'mmsgate_job_stats_up')).toBe(1);
    for (const line of samples(text, 'mmsgate_jobs')) expect(line).toContain('node="test-node"');
  });
});

describe('GET /metrics: the store failing', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({}, { start: { workers: false } });
  });
  afterAll(async () => {
    await gw.stop().catch(() => undefined);
  });

  it('still answers, with every other metric, when the queue cannot be read', async () => {
    expect((await send(gw.url, simpleMt('15551230001'))).status).toBe(200);
    await gw.gateway.store.close();
    expect((await send(gw.url, simpleMt('15551230001'))).status).toBe(503);
    const r = await http(`${gw.url}/metrics`);
    expect(r.status).toBe(200);
    const text = r.body.toString();
    expect(sample(text, 'mmsgate_job_stats_up')).toBe(0);
    expect(samples(text, 'mmsgate_jobs')).toEqual([]);
    expect(samples(text, 'mmsgate_job_oldest_due_age_seconds')).toEqual([]);
    expect(sample(text, 'mmsgate_http_requests_total', { route: '/mms/v2/send', status: '200' })).toBe(1);
    expect(sample(text, 'mmsgate_http_requests_total', { route: '/mms/v2/send', status: '503' })).toBe(1);
  });
});
