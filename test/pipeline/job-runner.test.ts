import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schedule } from '../../src/core/retry-policy.ts';
import { JobRunner, type Step } from '../../src/pipeline/job-runner.ts';
import { GroupCommitter } from '../../src/store/group-commit.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';

let store: Store;
beforeAll(async () => {
  store = await openStore('sqlite::memory:');
});
afterAll(async () => {
  await store.close();
});

describe('JobRunner leases', () => {
  it('keeps the lease of a job that runs longer than the lease time, so no other worker runs it too', async () => {
    const committer = new GroupCommitter(store);
    await store.write([{ jobs: [{ kind: 'report', refId: 1 }] }]);
    const runs: string[] = [];
    const slowStep = (who: string): Step => ({
      name: `slow-${who}`,
      kinds: ['report'],
      concurrency: 1,
      retrySchedule: schedule(['1s'], '1h'),
      async run() {
        runs.push(who);
        await new Promise((r) => setTimeout(r, 1200)); // four lease times
        return { type: 'done' };
      },
    });
    const opts = (owner: string) => ({
      store,
      commit: (u: Parameters<GroupCommitter['submit']>[0]) => committer.submit(u),
      owner,
      leaseMs: 300,
      pollMs: 50,
      batchSize: 10,
      log: pino({ level: 'silent' }),
    });
    const a = new JobRunner(slowStep('A'), opts('A'));
    a.start();
    await new Promise((r) => setTimeout(r, 100)); // A has claimed it
    const b = new JobRunner(slowStep('B'), opts('B'));
    b.start();
    await new Promise((r) => setTimeout(r, 1500));
    await Promise.all([a.stop(), b.stop()]);
    expect(runs).toEqual(['A']);
    const [job] = await store.listJobs({ kind: 'report' });
    expect(job?.state).toBe('done');
  });

  it('never starts a second copy of a job it is still running when its own lapsed lease comes back to it', async () => {
    const committer = new GroupCommitter(store);
    await store.write([{ jobs: [{ kind: 'mo', refId: 2 }] }]);
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    const step: Step = {
      name: 'slow-mo',
      kinds: ['mo'],
      concurrency: 4,
      retrySchedule: schedule(['1s'], '1h'),
      async run() {
        runs++;
        maxActive = Math.max(maxActive, ++active);
        await new Promise((r) => setTimeout(r, 1500)); // well past the lease while renewals fail
        active--;
        return { type: 'done' };
      },
    };
    // The database refuses lease renewals for the first second (an outage), then answers again.
    let failing = true;
    setTimeout(() => (failing = false), 1000);
    const flaky = new Proxy(store, {
      get(target, prop) {
        if (prop === 'extendLeases' && failing) return async () => Promise.reject(new Error('database unreachable'));
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const runner = new JobRunner(step, {
      store: flaky,
      commit: (u) => committer.submit(u),
      owner: 'A/slow-mo',
      leaseMs: 300,
      pollMs: 50,
      batchSize: 10,
      log: pino({ level: 'silent' }),
    });
    runner.start();
    await new Promise((r) => setTimeout(r, 2000));
    await runner.stop();
    expect({ runs, maxActive }).toEqual({ runs: 1, maxActive: 1 });
    const [job] = await store.listJobs({ kind: 'mo' });
    expect(job?.state).toBe('done');
  });
});
