/**
 * Store.getMtStatus on every backend: the message, its events and its jobs come from one snapshot, even when a state
 * change commits between the reads (made to happen here by running it right after the message row is read).
 */
import type { CompiledQuery, Dialect } from 'kysely';
import { describe, expect, it } from 'vitest';
import { dialectForUrl, openStore } from '../../src/store/open-store.ts';
import { KyselyStore } from '../../src/store/sql-store.ts';
import type { StoreDialect } from '../../src/store/dialect.ts';
import { mtOf, storeBackends } from './fixtures.ts';

const T0 = 1_800_000_000_000;

/** The dialect with `after(sql)` awaited after every query on its connections, before the caller gets the rows. */
function withQueryHook(d: StoreDialect, after: (sqlText: string) => Promise<void>): StoreDialect {
  const inner = d.kysely;
  const kysely: Dialect = {
    createAdapter: () => inner.createAdapter(),
    createIntrospector: (db) => inner.createIntrospector(db),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createDriver: () => {
      const driver = inner.createDriver();
      const acquire = driver.acquireConnection.bind(driver);
      const hooked = new WeakSet<object>();
      driver.acquireConnection = async () => {
        const conn = await acquire();
        if (!hooked.has(conn)) {
          hooked.add(conn);
          const execute = conn.executeQuery.bind(conn);
          conn.executeQuery = async <R>(q: CompiledQuery) => {
            const r = await execute<R>(q);
            await after(q.sql);
            return r;
          };
        }
        return conn;
      };
      return driver;
    },
  };
  return { ...d, kysely };
}

describe.each(storeBackends('mmsgate-status-snapshot'))('MT status read on %s', (_backend, newUrl) => {
  it('shows the message, its timeline and its jobs as they stood together, not a state change half seen', async () => {
    const url = await newUrl();
    const other = await openStore(url); // another node, or this node's writer thread
    let between: (() => Promise<void>) | undefined;
    const store = new KyselyStore(
      withQueryHook(dialectForUrl(url), async (sqlText) => {
        if (!between || !/from "mt_messages"/i.test(sqlText)) return;
        const run = between;
        between = undefined;
        await run();
      }),
    );
    try {
      const mtId = await other.reserveIds('mt', 1);
      const event = (type: string) => ({ mtId, at: T0, type, node: 'n1', detail: {} });
      await other.write([
        { mts: [mtOf(mtId, [])], events: [event('accepted')], jobs: [{ kind: 'submit', refId: mtId, runAt: T0 }] },
        // An MO job whose moId happens to be the same number: not this MT's.
        { jobs: [{ kind: 'mo', refId: mtId, runAt: T0 + 60_000 }] },
      ]);
      const [job] = await other.claimJobs({ kinds: ['submit'], owner: 'w', leaseMs: 60_000, limit: 1, now: T0 });
      // The operator's answer commits while the status read is under way: after it has read the message row.
      between = async () => {
        const unit = { job: { jobId: job!.id, owner: 'w', outcome: 'done' as const }, mtPatches: [{ mtId, state: 'submitted' as const }], events: [event('submitted')] };
        expect(await other.write([unit])).toEqual([{ applied: true }]);
      };
      const view = async () => {
        const s = await store.getMtStatus(mtId);
        return { state: s?.mt.state, events: s?.events.map((e) => e.type), jobs: s?.jobs.map((j) => `${j.kind}:${j.state}`) };
      };
      expect(await view()).toEqual({ state: 'accepted', events: ['accepted'], jobs: ['submit:ready'] });
      expect(between).toBeUndefined(); // the change did commit in the middle of that read
      expect(await view()).toEqual({ state: 'submitted', events: ['accepted', 'submitted'], jobs: ['submit:done'] });
      expect(await store.getMtStatus(mtId + 1)).toBeUndefined();
    } finally {
      await store.close();
      await other.close();
    }
  });
});
