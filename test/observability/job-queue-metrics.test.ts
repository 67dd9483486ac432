/**
 * The job queue's gauges (GatewayMetrics.trackJobQueue) over a stand-in for Store.jobStats: what they export, how one
 * reading serves several scrapes, and that a failed or slow reading never fails the scrape of everything else.
 */
import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../src/observability/metrics.ts';
import { JOB_KINDS, type JobKindStats, type JobStats } from '../../src/store/store.ts';
import { sample, samples } from '../support/prometheus.ts';

const zero: JobKindStats = { due: 0, leased: 0, blocked: 0, scheduled: 0, oldestDueAgeMs: 0, dead: 0 };

function statsOf(over: Partial<Record<keyof JobStats, Partial<JobKindStats>>> = {}): JobStats {
  return Object.fromEntries(JOB_KINDS.map((k) => [k, { ...zero, ...over[k] }])) as JobStats;
}

/** A reader whose answers the test decides, counting the calls and the `now` each got. */
function stubReader(answer: (now: number) => Promise<JobStats>) {
  const calls: number[] = [];
  return {
    calls,
    read: (now: number) => {
      calls.push(now);
      return answer(now);
    },
  };
}

async function scrape(m: GatewayMetrics): Promise<string> {
  return (await m.render()).body;
}

describe('job queue gauges', () => {
  it('export every kind and state, and the oldest due age in seconds, labelled with the node', async () => {
    const m = new GatewayMetrics('node-a');
    const stub = stubReader(async () =>
      statsOf({ submit: { due: 7, leased: 3, scheduled: 2, oldestDueAgeMs: 12_500 }, report: { blocked: 4, dead: 5 } }),
    );
    m.trackJobQueue(stub.read, { clock: () => 1_000_000 });
    const text = await scrape(m);
    expect(stub.calls).toEqual([1_000_000]);
    expect(sample(text, 'mmsgate_jobs', { kind: 'submit', state: 'due' })).toBe(7);
    expect(sample(text, 'mmsgate_jobs', { kind: 'submit', state: 'leased' })).toBe(3);
    expect(sample(text, 'mmsgate_jobs', { kind: 'submit', state: 'scheduled' })).toBe(2);
    expect(sample(text, 'mmsgate_jobs', { kind: 'report', state: 'blocked' })).toBe(4);
    expect(sample(text, 'mmsgate_jobs', { kind: 'report', state: 'dead' })).toBe(5);
    expect(sample(text, 'mmsgate_jobs', { kind: 'sim-deliver', state: 'due' })).toBe(0);
    expect(sample(text, 'mmsgate_job_oldest_due_age_seconds', { kind: 'submit' })).toBe(12.5);
    expect(sample(text, 'mmsgate_job_oldest_due_age_seconds', { kind: 'mo' })).toBe(0);
    expect(sample(text, 'mmsgate_job_stats_up')).toBe(1);
    // Bounded labels: 4 kinds x 5 states, 4 ages; each with the node label.
    expect(samples(text, 'mmsgate_jobs')).toHaveLength(20);
    expect(samples(text, 'mmsgate_job_oldest_due_age_seconds')).toHaveLength(4);
    for (const line of [...samples(text, 'mmsgate_jobs'), ...samples(text, 'mmsgate_job_stats_up')]) expect(line).toContain('node="node-a"');
    expect(text).toMatch(/# HELP mmsgate_jobs .*Cluster-wide.*every node reports the same figures/);
    expect(text).toMatch(/# HELP mmsgate_job_oldest_due_age_seconds .*Cluster-wide/);
  });

  it('read the store once per cacheMs, however many scrapes (concurrent ones share the reading)', async () => {
    let t = 1_000_000;
    const m = new GatewayMetrics('node-a');
    let due = 1;
    const stub = stubReader(async () => statsOf({ submit: { due: due++ } }));
    m.trackJobQueue(stub.read, { cacheMs: 5000, clock: () => t });
    const [a, b] = await Promise.all([scrape(m), scrape(m)]);
    expect(stub.calls).toHaveLength(1);
    expect(sample(a, 'mmsgate_jobs', { kind: 'submit', state: 'due' })).toBe(1);
    expect(sample(b, 'mmsgate_jobs', { kind: 'submit', state: 'due' })).toBe(1);
    t += 4999;
    expect(sample(await scrape(m), 'mmsgate_jobs', { kind: 'submit', state: 'due' })).toBe(1);
    expect(stub.calls).toHaveLength(1);
    t += 1;
    expect(sample(await scrape(m), 'mmsgate_jobs', { kind: 'submit', state: 'due' })).toBe(2);
    expect(stub.calls).toEqual([1_000_000, 1_005_000]);
  });

  it('a failing store leaves the queue series out (never stale ones) and the rest of the scrape answers', async () => {
    let t = 1_000_000;
    let fail = false;
    const logged: string[] = [];
    const m = new GatewayMetrics('node-a');
    m.observeRequest('POST', '/mms/v2/send', 200, 0.01);
    const stub = stubReader(async () => {
      if (fail) throw new Error('connection terminated');
      return statsOf({ mo: { dead: 2 } });
    });
    m.trackJobQueue(stub.read, { cacheMs: 5000, clock: () => t, log: (msg, extra) => logged.push(`${msg} ${JSON.stringify(extra)}`) });
    expect(sample(await scrape(m), 'mmsgate_jobs', { kind: 'mo', state: 'dead' })).toBe(2);

    fail = true;
    t += 5000;
    const text = await scrape(m);
    expect(sample(text, 'mmsgate_job_stats_up')).toBe(0);
    expect(samples(text, 'mmsgate_jobs')).toEqual([]);
    expect(samples(text, 'mmsgate_job_oldest_due_age_seconds')).toEqual([]);
    expect(sample(text, 'mmsgate_http_requests_total', { route: '/mms/v2/send', status: '200' })).toBe(1);
    expect(text).toContain('mmsgate_process_cpu_seconds_total');
    expect(logged).toEqual([expect.stringContaining('connection terminated')]);
    // A store that is down is not asked again by every scrape.
    t += 1000;
    expect(sample(await scrape(m), 'mmsgate_job_stats_up')).toBe(0);
    expect(stub.calls).toHaveLength(2);

    fail = false;
    t += 4000;
    const back = await scrape(m);
    expect(sample(back, 'mmsgate_job_stats_up')).toBe(1);
    expect(sample(back, 'mmsgate_jobs', { kind: 'mo', state: 'dead' })).toBe(2);
  });

  it('a reading slower than timeoutMs leaves the series out of that scrape; later scrapes join it instead of starting another', async () => {
    const t = 1_000_000;
    const logged: string[] = [];
    let release: (s: JobStats) => void = () => {};
    const m = new GatewayMetrics('node-a');
    const stub = stubReader(() => new Promise<JobStats>((resolve) => (release = resolve)));
    m.trackJobQueue(stub.read, { timeoutMs: 50, clock: () => t, log: (msg) => logged.push(msg) });
    const started = Date.now();
    const first = await scrape(m);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(sample(first, 'mmsgate_job_stats_up')).toBe(0);
    expect(samples(first, 'mmsgate_jobs')).toEqual([]);
    expect(logged).toEqual([expect.stringContaining('took too long')]);

    const second = scrape(m);
    release(statsOf({ submit: { due: 9 } }));
    const text = await second;
    expect(stub.calls).toHaveLength(1);
    expect(sample(text, 'mmsgate_jobs', { kind: 'submit', state: 'due' })).toBe(9);
    expect(sample(text, 'mmsgate_job_stats_up')).toBe(1);
  });
});
