/**
 * Group commit over a real SQLite file: concurrent callers share transactions, and each learns its own fate.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupCommitter } from '../../src/store/group-commit.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { SqlStore } from '../../src/store/sql-store.ts';
import type { Store, WriteResult, WriteUnit } from '../../src/store/store.ts';
import { mtOf } from './fixtures.ts';

/** Wraps a real store to record the batch sizes write() received. */
function recording(store: Store): { store: Store; batches: number[] } {
  const batches: number[] = [];
  const wrapped = Object.create(store) as Store;
  wrapped.write = (units: readonly WriteUnit[]): Promise<WriteResult[]> => {
    batches.push(units.length);
    return store.write(units);
  };
  return { store: wrapped, batches };
}

describe('GroupCommitter', () => {
  let tmp: string;
  let store: SqlStore;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'mmsgate-gc-'));
    store = await openStore(`sqlite:${join(tmp, 'gc.db')}`);
  });
  afterAll(async () => {
    await store.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('merges concurrent units into few transactions and resolves each after commit', async () => {
    const { store: rec, batches } = recording(store);
    const gc = new GroupCommitter(rec, { maxBatch: 40 });
    const first = await store.reserveIds('mt', 100);
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const r = await gc.submit({ mts: [mtOf(first + i, [])] });
        // Committed by the time the caller hears back.
        expect((await store.getMt(first + i))?.mtId).toBe(first + i);
        return r;
      }),
    );
    expect(results.every((r) => r.applied)).toBe(true);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(100);
    expect(Math.max(...batches)).toBeLessThanOrEqual(40);
    expect(batches.length).toBeLessThanOrEqual(5);
  });

  it('isolates a bad unit: the others in its batch still commit', async () => {
    const gc = new GroupCommitter(store);
    const id = await store.reserveIds('mt', 3);
    await store.write([{ mts: [mtOf(id, [])] }]);
    const outcomes = await Promise.allSettled([
      gc.submit({ mts: [mtOf(id + 1, [])] }),
      gc.submit({ mts: [mtOf(id, [])] }), // duplicate primary key
      gc.submit({ mts: [mtOf(id + 2, [])] }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await store.getMt(id + 1)).toBeDefined();
    expect(await store.getMt(id + 2)).toBeDefined();
  });

  it('reports a unit whose job lease was lost as not applied', async () => {
    const gc = new GroupCommitter(store);
    const r = await gc.submit({ job: { jobId: 987654, owner: 'nobody', outcome: 'done' } });
    expect(r).toEqual({ applied: false });
  });

  it('flush() waits for everything submitted', async () => {
    const gc = new GroupCommitter(store);
    await gc.flush();
    const id = await store.reserveIds('mt', 1);
    void gc.submit({ mts: [mtOf(id, [])] });
    await gc.flush();
    expect(await store.getMt(id)).toBeDefined();
  });
});
