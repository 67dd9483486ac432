/**
 * Store contract, part two, on every backend: idempotency keys inside write(), housekeeping, the queue's figures for
 * monitoring (jobStats), the remote-content URL cache and the node registry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.ts';
import type { SqlStore } from '../../src/store/sql-store.ts';
import { DONE_JOB_RETENTION_MS, type CachedUrlRow, type IdempotencyClaim, type JobKindStats } from '../../src/store/store.ts';
import { BINARY, blobOf, moOf, mtOf, storeBackends } from './fixtures.ts';

const HOUR = 3_600_000;

const backends = storeBackends('mmsgate-store-ext');

describe.each(backends)('Store extensions on %s', (backend, newUrl) => {
  let url: string;
  let store: SqlStore;
  beforeAll(async () => {
    url = await newUrl();
    store = await openStore(url);
  });
  afterAll(async () => {
    await store?.close();
  });

  let keySeq = 0;
  /** A claim for a fresh MT id, with a key unique to this test unless given. */
  async function claimFor(over: Partial<IdempotencyClaim> = {}): Promise<IdempotencyClaim> {
    const mtId = await store.reserveIds('mt', 1);
    return { accountId: 'acme', key: `key-${++keySeq}`, requestHash: `h-${mtId}`, mtId, expiresAt: Date.now() + HOUR, ...over };
  }

  describe('idempotency keys', () => {
    it('applies the first unit with a key and answers a repeat with the holder, storing nothing of it', async () => {
      const first = await claimFor();
      expect(await store.write([{ idempotency: first, mts: [mtOf(first.mtId, [])] }])).toEqual([{ applied: true }]);

      const again = await claimFor({ key: first.key, requestHash: 'other-body' });
      const job = { kind: 'submit' as const, refId: again.mtId };
      const [r] = await store.write([{ idempotency: again, mts: [mtOf(again.mtId, [])], jobs: [job] }]);
      expect(r).toEqual({ applied: false, existing: { mtId: first.mtId, requestHash: first.requestHash } });
      expect(await store.getMt(again.mtId)).toBeUndefined();
      expect(await store.listJobs({ refId: again.mtId })).toEqual([]);
      expect(await store.getIdempotencyKey('acme', first.key, Date.now())).toEqual({ mtId: first.mtId, requestHash: first.requestHash });
      // Keys are per account.
      const otherAccount = await claimFor({ key: first.key, accountId: 'globex' });
      expect(await store.write([{ idempotency: otherAccount, mts: [mtOf(otherAccount.mtId, [])] }])).toEqual([{ applied: true }]);
      expect(await store.getIdempotencyKey('acme', 'never-used', Date.now())).toBeUndefined();
    });

    it('within one batch, the first unit with a key wins and later ones are skipped', async () => {
      const a = await claimFor();
      const b = await claimFor({ key: a.key });
      const c = await claimFor();
      const results = await store.write([
        { idempotency: a, mts: [mtOf(a.mtId, [])] },
        { idempotency: b, mts: [mtOf(b.mtId, [])] },
        { idempotency: c, mts: [mtOf(c.mtId, [])] },
      ]);
      expect(results).toEqual([
        { applied: true },
        { applied: false, existing: { mtId: a.mtId, requestHash: a.requestHash } },
        { applied: true },
      ]);
      expect(await store.getMt(b.mtId)).toBeUndefined();
      expect((await store.getMt(c.mtId))?.mtId).toBe(c.mtId);
    });

    it('replaces an expired key', async () => {
      const old = await claimFor({ expiresAt: Date.now() - 1000 });
      expect(await store.write([{ idempotency: old, mts: [mtOf(old.mtId, [])] }])).toEqual([{ applied: true }]);
      expect(await store.getIdempotencyKey('acme', old.key, Date.now())).toBeUndefined();
      const fresh = await claimFor({ key: old.key });
      expect(await store.write([{ idempotency: fresh, mts: [mtOf(fresh.mtId, [])] }])).toEqual([{ applied: true }]);
      expect(await store.getIdempotencyKey('acme', old.key, Date.now())).toEqual({ mtId: fresh.mtId, requestHash: fresh.requestHash });
      // A key is live strictly before its expiresAt.
      expect(await store.getIdempotencyKey('acme', old.key, fresh.expiresAt)).toBeUndefined();
    });

    it('gives a key to exactly one of two concurrent writers (PostgreSQL: two nodes)', async () => {
      // SQLite is one node: its single connection serialises writers, and a second connection in the same
      // process would block the event loop on the file lock. PostgreSQL gets a second node with its own pool.
      const other = backend === 'postgres' ? await openStore(url, { poolSize: 4 }) : store;
      try {
        const rounds = await Promise.all(
          Array.from({ length: 20 }, async (_, i) => {
            const a = await claimFor({ key: `race-${i}` });
            const b = await claimFor({ key: `race-${i}` });
            const [ra, rb] = await Promise.all([
              store.write([{ idempotency: a, mts: [mtOf(a.mtId, [])] }]),
              other.write([{ idempotency: b, mts: [mtOf(b.mtId, [])] }]),
            ]);
            return { a, b, ra: ra[0]!, rb: rb[0]! };
          }),
        );
        for (const { a, b, ra, rb } of rounds) {
          expect([ra.applied, rb.applied].filter(Boolean)).toHaveLength(1);
          const [winner, loser] = ra.applied ? [a, rb] : [b, ra];
          expect(loser.existing).toEqual({ mtId: winner.mtId, requestHash: winner.requestHash });
          expect((await store.getMt(winner.mtId))?.mtId).toBe(winner.mtId);
        }
      } finally {
        if (other !== store) await other.close();
      }
    });

    it('refuses an oversized key instead of shortening it', async () => {
      const c = await claimFor({ key: 'k'.repeat(256) });
      await expect(store.write([{ idempotency: c }])).rejects.toThrow(/idempotency key/);
    });
  });

  it('purges expired keys and done jobs past the retention, keeping everything else', async () => {
    const own = await openStore(await newUrl());
    try {
      const now = Date.now();
      const mtId = await own.reserveIds('mt', 3);
      const claim = (key: string, expiresAt: number, id: number): IdempotencyClaim => ({
        accountId: 'acme', key, requestHash: 'h', mtId: id, expiresAt,
      });
      await own.write([
        { idempotency: claim('gone', now - 1, mtId) },
        { idempotency: claim('live', now + HOUR, mtId + 1) },
        { jobs: [{ kind: 'report', refId: mtId }, { kind: 'report', refId: mtId + 1 }, { kind: 'mo', refId: mtId + 2 }] },
      ]);
      const claimed = await own.claimJobs({ kinds: ['report'], owner: 'w', leaseMs: 60_000, limit: 10, now: Date.now() });
      expect(claimed).toHaveLength(2);
      await own.write(claimed.map((j) => ({ job: { jobId: j.id, owner: 'w', outcome: 'done' as const } })));

      // Within the retention nothing but the expired key goes.
      expect(await own.purgeExpired(now)).toEqual({ idempotencyKeys: 1, doneJobs: 0, parkedReports: 0 });
      expect((await own.listJobs({ state: 'done' })).length).toBe(2);

      const later = Date.now() + DONE_JOB_RETENTION_MS + 1;
      expect(await own.purgeExpired(later)).toEqual({ idempotencyKeys: 1, doneJobs: 2, parkedReports: 0 });
      expect(await own.listJobs({ state: 'done' })).toEqual([]);
      // The ready job stays, however old.
      expect((await own.listJobs({})).map((j) => j.kind)).toEqual(['mo']);
      expect(await own.purgeExpired(later)).toEqual({ idempotencyKeys: 0, doneJobs: 0, parkedReports: 0 });
    } finally {
      await own.close();
    }
  });

  describe('job statistics', () => {
    const zero: JobKindStats = { due: 0, leased: 0, blocked: 0, scheduled: 0, oldestDueAgeMs: 0, dead: 0 };
    const stats = (over: Partial<JobKindStats>): JobKindStats => ({ ...zero, ...over });

    it('counts every kind, zeros included, on an empty queue', async () => {
      const own = await openStore(await newUrl());
      try {
        expect(await own.jobStats(Date.now())).toEqual({ submit: zero, report: zero, mo: zero, 'sim-deliver': zero });
      } finally {
        await own.close();
      }
    });

    it('splits ready jobs into due, leased, blocked and scheduled, follows claims, leases, retries and deaths', async () => {
      const own = await openStore(await newUrl());
      try {
        const t = Date.now();
        await own.write([
          {
            jobs: [
              { kind: 'submit', refId: 1, runAt: t - 3000 },
              { kind: 'submit', refId: 2, runAt: t - 1000 },
              { kind: 'submit', refId: 3, runAt: t + 60_000 }, // a later attempt
              // Reports of one message go out in order: the second waits for the first, though it is due.
              { kind: 'report', refId: 4, orderKey: 'report:4', runAt: t - 5000 },
              { kind: 'report', refId: 4, orderKey: 'report:4', runAt: t - 4000 },
              { kind: 'report', refId: 5, orderKey: 'report:5', runAt: t - 2000 },
              { kind: 'mo', refId: 6, runAt: t - 500 },
            ],
          },
        ]);
        expect(await own.jobStats(t)).toEqual({
          submit: stats({ due: 2, scheduled: 1, oldestDueAgeMs: 3000 }),
          report: stats({ due: 2, blocked: 1, oldestDueAgeMs: 5000 }),
          mo: stats({ due: 1, oldestDueAgeMs: 500 }),
          'sim-deliver': zero,
        });

        // A claim leases the oldest submit job: no longer due; the next one is the oldest due.
        const [leased] = await own.claimJobs({ kinds: ['submit'], owner: 'w1', leaseMs: 30_000, limit: 1, now: t });
        expect(leased?.refId).toBe(1);
        // The MO job dies after its attempt.
        const [mo] = await own.claimJobs({ kinds: ['mo'], owner: 'w1', leaseMs: 30_000, limit: 1, now: t });
        expect((await own.jobStats(t)).mo).toEqual(stats({ leased: 1 }));
        await own.write([{ job: { jobId: mo!.id, owner: 'w1', outcome: 'dead', error: 'gave up' } }]);
        // The first report is attempted and retried in a minute: scheduled; the one behind it stays blocked.
        const [first] = await own.claimJobs({ kinds: ['report'], owner: 'w2', leaseMs: 30_000, limit: 1, now: t });
        expect(first?.refId).toBe(4);
        expect((await own.jobStats(t)).report).toEqual(stats({ due: 1, leased: 1, blocked: 1, oldestDueAgeMs: 2000 }));
        await own.write([{ job: { jobId: first!.id, owner: 'w2', outcome: 'retry', runAt: t + 60_000, error: 'HTTP 503' } }]);
        expect(await own.jobStats(t)).toEqual({
          submit: stats({ due: 1, leased: 1, scheduled: 1, oldestDueAgeMs: 1000 }),
          report: stats({ due: 1, blocked: 1, scheduled: 1, oldestDueAgeMs: 2000 }),
          mo: stats({ dead: 1 }),
          'sim-deliver': zero,
        });

        // Past the lease's end (t + 30 s) the leased job is due again, due since its lease ended; the retry still waits.
        const later = t + 31_000;
        expect((await own.jobStats(later)).submit).toEqual(stats({ due: 2, scheduled: 1, oldestDueAgeMs: 32_000 }));
        expect((await own.jobStats(later)).report).toEqual(stats({ due: 1, blocked: 1, scheduled: 1, oldestDueAgeMs: 33_000 }));
        // Once the retry's time has come it is due, and the report behind it still waits for it.
        expect((await own.jobStats(t + 61_000)).report).toEqual(stats({ due: 2, blocked: 1, oldestDueAgeMs: 63_000 }));

        // A job finished is history: counted nowhere. The report behind it becomes due.
        const claimed = await own.claimJobs({ kinds: ['report'], owner: 'w2', leaseMs: 30_000, limit: 10, now: t + 61_000 });
        expect(claimed.map((j) => j.refId).sort()).toEqual([4, 5]); // not the one behind report:4's first
        const retried = claimed.find((j) => j.refId === 4)!;
        await own.write([{ job: { jobId: retried.id, owner: 'w2', outcome: 'done' } }]);
        expect((await own.jobStats(t + 61_000)).report).toEqual(stats({ due: 1, leased: 1, oldestDueAgeMs: 65_000 }));
        expect((await own.listJobs({ state: 'done' })).length).toBe(1);

        // A replayed dead job is due at once (a replay needs its message: the MO is written now).
        await own.write([{ mos: [{ ...moOf(6, []), receivedAt: t }] }]);
        expect(await own.replayJob(mo!.id, t + 62_000)).toBe(true);
        expect((await own.jobStats(t + 62_000)).mo).toEqual(stats({ due: 1 }));
      } finally {
        await own.close();
      }
    });
  });

  describe('remote-content URL cache', () => {
    it('stores, replaces and reads back cache rows next to their blob', async () => {
      const blob = blobOf(BINARY);
      const row: CachedUrlRow = {
        url: 'https://cdn.example.com/img/a.png?v=1&ü=2',
        sha256: blob.sha256,
        contentType: 'image/png',
        size: BINARY.length,
        etag: '"abc"',
        lastModified: 'Wed, 21 Oct 2015 07:28:00 GMT',
        freshUntil: 1_800_000_060_000,
        fetchedAt: 1_800_000_000_000,
      };
      await store.write([{ blobs: [blob] }]);
      expect(await store.getCachedUrl(row.url)).toBeUndefined();
      await store.putCachedUrl(row);
      expect(await store.getCachedUrl(row.url)).toEqual(row);
      expect((await store.getBlob(row.sha256))!.equals(BINARY)).toBe(true);

      const revalidated = { ...row, etag: null, lastModified: null, freshUntil: row.freshUntil + HOUR, fetchedAt: row.fetchedAt + HOUR };
      await store.putCachedUrl(revalidated);
      expect(await store.getCachedUrl(row.url)).toEqual(revalidated);
      expect(await store.getCachedUrl('https://cdn.example.com/img/a.png?v=2')).toBeUndefined();
    });

    it('refuses URLs too long to index', async () => {
      const long = `https://example.com/${'a'.repeat(2100)}`;
      await expect(store.getCachedUrl(long)).rejects.toThrow(RangeError);
    });
  });

  describe('node registry', () => {
    it('registers nodes, keeps their start time, and lists the live ones', async () => {
      const t = 1_900_000_000_000;
      await store.heartbeat({ id: 'mmsc-01', dataCenter: 'fra', url: 'http://mmsc-01:8080' }, t);
      await store.heartbeat({ id: 'mmsc-02', dataCenter: 'ams', url: null }, t + 10);
      await store.heartbeat({ id: 'mmsc-01', dataCenter: 'fra', url: 'http://mmsc-01:8080' }, t + 5000);
      const live = await store.listNodes(t + 1000);
      expect(live).toEqual([
        { id: 'mmsc-01', dataCenter: 'fra', url: 'http://mmsc-01:8080', startedAt: t, heartbeatAt: t + 5000 },
      ]);
      expect((await store.listNodes(t)).map((n) => n.id)).toEqual(['mmsc-01', 'mmsc-02']);
    });
  });
});
