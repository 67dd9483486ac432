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
});
