/**
 * Jobs passed on to the other claimers (store/job-passing.ts), on every backend: due at once for the others, held back
 * from the claimers that passed them on until the hold ends, through each way a resolution is written (one job, and
 * several in one batch: PostgreSQL's multi-row UPDATE).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passedOnAgain } from '../../src/pipeline/job-runner.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { SqlStore } from '../../src/store/sql-store.ts';
import type { Job, JobResolution } from '../../src/store/store.ts';
import { storeBackends } from './fixtures.ts';

const T0 = 1_800_000_000_000;
const HOLD = 60_000;

describe.each(storeBackends('mmsgate-job-passing'))('jobs passed on, on %s', (_backend, newUrl) => {
  let store: SqlStore;
  beforeAll(async () => {
    store = await openStore(await newUrl());
  });
  afterAll(async () => {
    await store?.close();
  });

  const claim = (owner: string, now: number) => store.claimJobs({ kinds: ['submit'], owner, leaseMs: 30_000, limit: 10, now });
  /** The resolution a runner writes when its step passes the job on at `now` (job-runner.ts). */
  const passOn = (job: Job, owner: string, now: number): JobResolution => ({
    jobId: job.id,
    owner,
    outcome: 'retry',
    runAt: now,
    error: 'operator 77 is not in this node\'s configuration',
    passOn: passedOnAgain(job, owner, now + HOLD, now),
  });

  it('holds a job back from the claimers that passed it on, and from them only, until the hold ends', async () => {
    const refId = await store.reserveIds('mt', 1);
    await store.write([{ jobs: [{ kind: 'submit', refId, runAt: T0 }, { kind: 'submit', refId, runAt: T0 }, { kind: 'submit', refId, runAt: T0 }] }]);
    const ids = (jobs: Job[]) => jobs.map((j) => j.id).sort((a, b) => a - b);

    // A passes all three on: two in one batch, one alone.
    const taken = await claim('A/submit', T0);
    expect(taken).toHaveLength(3);
    expect(taken.every((j) => j.passedOn === undefined)).toBe(true);
    const results = await store.write([{ job: passOn(taken[0]!, 'A/submit', T0 + 5) }, { job: passOn(taken[1]!, 'A/submit', T0 + 5) }]);
    expect(results).toEqual([{ applied: true }, { applied: true }]);
    expect(await store.write([{ job: passOn(taken[2]!, 'A/submit', T0 + 5) }])).toEqual([{ applied: true }]);
    const [stored] = await store.listJobs({ refId, limit: 1 });
    expect(stored).toMatchObject({ runAt: T0 + 5, leaseOwner: null, passedOn: { owners: ['A/submit'], until: T0 + 5 + HOLD } });
    // Passing a job on tried nothing: no attempt counted (the claim's count is taken back), on every write path.
    expect((await store.listJobs({ refId })).map((j) => j.attempts)).toEqual([0, 0, 0]);

    // Due at once, for anyone but A: A's runner sleeps until the hold ends instead of claiming in a loop.
    expect(await claim('A/submit', T0 + 10)).toEqual([]);
    expect(await store.nextRunAt(['submit'], 'A/submit')).toBe(T0 + 5 + HOLD);
    expect(await store.nextRunAt(['submit'], 'B/submit')).toBe(T0 + 5);
    expect(await store.nextRunAt(['submit'])).toBe(T0 + 5);

    // C lacks the configuration too and passes them on within A's round: both are held back until the round ends,
    // so the two cannot hand the jobs back and forth while B, which knows it, is busy.
    const byC = await claim('C/submit', T0 + 10);
    expect(ids(byC)).toEqual(ids(taken));
    expect(byC[0]!.passedOn).toEqual({ owners: ['A/submit'], until: T0 + 5 + HOLD });
    await store.write(byC.slice(0, 2).map((j) => ({ job: passOn(j, 'C/submit', T0 + 15) })));
    await store.write([{ job: passOn(byC[2]!, 'C/submit', T0 + 15) }]);
    expect(await claim('A/submit', T0 + 20)).toEqual([]);
    expect(await claim('C/submit', T0 + 20)).toEqual([]);
    expect((await store.listJobs({ refId, limit: 1 }))[0]!.passedOn).toEqual({ owners: ['A/submit', 'C/submit'], until: T0 + 5 + HOLD });

    // B takes them; B's own results (a done, a retry, a plain retry alone) end the hold.
    const byB = await claim('B/submit', T0 + 20);
    expect(ids(byB)).toEqual(ids(taken));
    expect(byB.map((j) => j.attempts)).toEqual([1, 1, 1]);
    await store.write([
      { job: { jobId: byB[0]!.id, owner: 'B/submit', outcome: 'done' } },
      { job: { jobId: byB[1]!.id, owner: 'B/submit', outcome: 'retry', runAt: T0 + 100, error: 'HTTP 503' } },
    ]);
    await store.write([{ job: { jobId: byB[2]!.id, owner: 'B/submit', outcome: 'retry', runAt: T0 + 100, error: 'HTTP 503' } }]);
    expect((await store.listJobs({ refId })).map((j) => j.passedOn)).toEqual([undefined, undefined, undefined]);
    // B's were attempts: they count.
    expect((await store.listJobs({ refId })).map((j) => j.attempts)).toEqual([1, 1, 1]);
    expect(ids(await claim('A/submit', T0 + 100))).toEqual(ids(byB.slice(1)));
  });

  it('lets the claimer that passed a job on take it again once the hold ends, in a round of its own', async () => {
    const refId = await store.reserveIds('mt', 1);
    await store.write([{ jobs: [{ kind: 'submit', refId, runAt: T0 }] }]);
    const [job] = (await claim('A/submit', T0)).filter((j) => j.refId === refId);
    await store.write([{ job: passOn(job!, 'A/submit', T0) }]);
    expect((await claim('A/submit', T0 + HOLD - 1)).filter((j) => j.refId === refId)).toEqual([]);
    const [again] = (await claim('A/submit', T0 + HOLD)).filter((j) => j.refId === refId);
    expect(again).toMatchObject({ id: job!.id, attempts: 1, firstAttemptAt: T0 });
    // The old round is over: a new one starts, with a hold of its own.
    expect(passedOnAgain(again!, 'A/submit', T0 + 2 * HOLD, T0 + HOLD)).toEqual({ owners: ['A/submit'], until: T0 + 2 * HOLD });
  });
});
