/**
 * Periodic purge through a real store: expired idempotency keys disappear without anyone calling the store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startHousekeeping, type Housekeeping } from '../../src/cluster/housekeeping.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { SqlStore } from '../../src/store/sql-store.ts';
import type { MtMessage } from '../../src/core/message.ts';

function oldMt(mtId: number): MtMessage {
  return {
    mtId, accountId: 'acme', requestId: 'r', source: '88600', destination: '15551230001', mtConfig: 'default', subject: null,
    operatorId: 77, state: 'delivered', status: null, outcomeId: null, outcomeDescription: null, userAgent: null,
    operatorMessageId: null, createdAt: 0, updatedAt: 0, parts: [],
  };
}

let store: SqlStore | undefined;
let hk: Housekeeping | undefined;
afterEach(async () => {
  await hk?.stop();
  await store?.close();
  hk = store = undefined;
});

describe('startHousekeeping', () => {
  it('purges expired idempotency keys on its timer and logs what it deleted', async () => {
    store = await openStore('sqlite::memory:');
    const mtId = await store.reserveIds('mt', 2);
    const claim = (key: string, expiresAt: number, id: number) => ({ accountId: 'acme', key, requestHash: 'h', mtId: id, expiresAt });
    await store.write([{ idempotency: claim('old', Date.now() - 1, mtId) }, { idempotency: claim('new', Date.now() + 60_000, mtId + 1) }]);
    const logs: { msg: string; extra?: object }[] = [];
    hk = startHousekeeping(store, { intervalMs: 50, minIntervalMs: 10, log: (msg, extra) => logs.push({ msg, extra }) });
    await expect.poll(() => logs.find((l) => l.msg === 'purged expired rows')?.extra).toEqual({ idempotencyKeys: 1, doneJobs: 0, parkedReports: 0 });
    // The expired key is free again: a new unit with it is applied.
    const [r] = await store.write([{ idempotency: claim('old', Date.now() + 60_000, mtId) }]);
    expect(r).toEqual({ applied: true });
    expect(await store.getIdempotencyKey('acme', 'new', Date.now())).toEqual({ mtId: mtId + 1, requestHash: 'h' });
  });

  it('deletes messages past the configured retention, and none without one', async () => {
    store = await openStore('sqlite::memory:');
    const mtId = await store.reserveIds('mt', 1);
    const day = 86_400_000;
    const now = Date.now();
    await store.write([{ mts: [{ ...oldMt(mtId), createdAt: now - 31 * day, updatedAt: now - 31 * day }] }]);
    const keep = startHousekeeping(store, { retentionMs: 0 });
    expect((await keep.runOnce())?.retired).toBeUndefined();
    await keep.stop();
    expect((await store.getMt(mtId))?.mtId).toBe(mtId);
    hk = startHousekeeping(store, { retentionMs: 30 * day });
    expect((await hk.runOnce())?.retired?.mtMessages).toBe(1);
    expect(await store.getMt(mtId)).toBeUndefined();
  });

  it('logs a failing purge and keeps going', async () => {
    let calls = 0;
    const logs: string[] = [];
    const warnings: string[] = [];
    const runs: unknown[] = [];
    hk = startHousekeeping(
      {
        async purgeExpired() {
          calls++;
          throw new Error('database unavailable');
        },
      },
      { intervalMs: 20, minIntervalMs: 10, log: (m) => logs.push(m), warn: (m) => warnings.push(m), onRun: (c) => runs.push(c) },
    );
    await expect.poll(() => calls).toBeGreaterThanOrEqual(2);
    // A failure is a warning, not an info line, and each failed run is reported as such (the gateway counts them).
    expect(warnings).toContain('purge failed');
    expect(logs).not.toContain('purge failed');
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs.every((r) => r === undefined)).toBe(true);
    expect(await hk.runOnce()).toBeUndefined();
  });

  it('keeps running after a log or metrics callback threw', async () => {
    let calls = 0;
    let thrown = false;
    hk = startHousekeeping(
      {
        async purgeExpired() {
          calls++;
          return { idempotencyKeys: 0, doneJobs: 0, parkedReports: 0 };
        },
      },
      {
        intervalMs: 20,
        minIntervalMs: 10,
        onRun: () => {
          if (!thrown) {
            thrown = true;
            throw new Error('metrics broke');
          }
        },
      },
    );
    await expect.poll(() => calls).toBeGreaterThanOrEqual(3);
    expect(await hk.runOnce()).toEqual({ idempotencyKeys: 0, doneJobs: 0, parkedReports: 0 });
  });
});
