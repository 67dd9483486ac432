/**
 * The Store contract, run against every backend: SQLite (temp file) and PostgreSQL (embedded server).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.ts';
import type { SqlStore } from '../../src/store/sql-store.ts';
import { MAX_PARKED_REPORTS_PER_OPERATOR, PARKED_REPORT_RETENTION_MS, type Job, type JobKind, type NewJob } from '../../src/store/store.ts';
import { BINARY, blobOf, moOf, mtOf, partOf, storeBackends } from './fixtures.ts';

const FIRST_ID = 100_000_000_000_000;
const T0 = 1_800_000_000_000;

const backends = storeBackends('mmsgate-store');

describe.each(backends)('Store contract on %s', (backend, newUrl) => {
  let url: string;
  let store: SqlStore;
  beforeAll(async () => {
    url = await newUrl();
    store = await openStore(url);
  });
  afterAll(async () => {
    await store?.close();
  });

  /** Enqueue jobs through write() and return them as stored (newest last). */
  async function enqueue(kind: JobKind, n: number, extra: Partial<NewJob> = {}): Promise<Job[]> {
    const refId = await store.reserveIds('mt', 1);
    await store.write([{ jobs: Array.from({ length: n }, () => ({ kind, refId, runAt: T0, ...extra })) }]);
    return (await store.listJobs({ refId, limit: 1000 })).reverse();
  }

  it('reports its backend name', () => {
    expect(store.backend).toBe(backend.split('-')[0]);
  });

  it('stores a blob whose first write failed when a later write brings it again', async () => {
    const mtId = await store.reserveIds('mt', 3);
    const b = blobOf(Buffer.from(`content of ${mtId}`));
    // A unit the store refuses as a whole: its blob must not count as stored afterwards.
    await expect(store.write([{ blobs: [b], mts: [mtOf(mtId, [partOf(b, 'text/plain', 't')], { state: 'bogus' as never })] }])).rejects.toThrow();
    expect(await store.getBlob(b.sha256)).toBeUndefined();
    await store.write([{ blobs: [b], mts: [mtOf(mtId + 1, [partOf(b, 'text/plain', 't')])] }]);
    expect((await store.getBlob(b.sha256))?.toString()).toBe(`content of ${mtId}`);
    // Once stored, a unit may bring it again (or not at all): the part still reads back.
    await store.write([{ blobs: [b], mts: [mtOf(mtId + 2, [partOf(b, 'text/plain', 't')])] }]);
    expect((await store.getMt(mtId + 2))?.parts[0]?.sha256).toBe(b.sha256);
  });

  it('accepts an MT and reads it back with byte-exact blobs, deduplicating identical blobs', async () => {
    const mtId = await store.reserveIds('mt', 2);
    expect(typeof mtId).toBe('number');
    expect(mtId).toBeGreaterThanOrEqual(FIRST_ID);
    const bin = blobOf(BINARY);
    const text = blobOf(Buffer.from('Grüße, ünïcödé ✓\r\n', 'utf8'));
    const mt = mtOf(mtId, [
      partOf(text, 'text/plain; charset=utf-8', 'text1'),
      partOf(bin, 'image/jpeg', 'img1'),
      { contentType: 'application/vnd.openmarket.remoteContent', contentId: 'r1', size: 0, remoteUrl: 'https://example.com/a.png' },
    ]);
    const [r] = await store.write([
      {
        blobs: [bin, text],
        mts: [mt],
        events: [{ mtId, at: T0, type: 'accepted', node: 'n1', detail: { parts: 3 } }],
        jobs: [{ kind: 'submit', refId: mtId, payload: { hint: 'x' } }],
      },
    ]);
    expect(r).toEqual({ applied: true });
    // The same image again (another MT): no conflict, still one copy with the same bytes.
    const mt2 = mtOf(mtId + 1, [partOf(bin, 'image/jpeg', 'img1')]);
    expect(await store.write([{ blobs: [bin, bin], mts: [mt2] }])).toEqual([{ applied: true }]);

    const back = await store.getMt(mtId);
    expect(back).toEqual(mt);
    expect(typeof back!.mtId).toBe('number');
    expect(back!.parts[2]).not.toHaveProperty('sha256');
    expect((await store.getMt(mtId + 1))!.parts).toEqual(mt2.parts);
    const bytes = await store.getBlob(bin.sha256);
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect(bytes!.equals(BINARY)).toBe(true);
    expect((await store.getBlob(text.sha256))!.toString('utf8')).toBe('Grüße, ünïcödé ✓\r\n');
    expect(await store.getBlob('0'.repeat(64))).toBeUndefined();
    expect(await store.getMt(mtId + 5)).toBeUndefined();
    const [job] = await store.listJobs({ refId: mtId });
    expect(job).toMatchObject({ kind: 'submit', refId: mtId, state: 'ready', attempts: 0, payload: { hint: 'x' } });
    expect(typeof job!.id).toBe('number');
  });

  it('rolls back a whole batch when one unit fails', async () => {
    const id = await store.reserveIds('mt', 2);
    await store.write([{ mts: [mtOf(id, [])] }]);
    const events = [{ mtId: id + 1, at: T0, type: 'accepted', node: 'n1', detail: {} }];
    await expect(store.write([{ mts: [mtOf(id + 1, [])], events }, { mts: [mtOf(id, [])] }])).rejects.toThrow();
    expect(await store.getMt(id + 1)).toBeUndefined();
    expect(await store.getEvents({ mtId: id + 1 })).toEqual([]);
  });

  it('keeps events in insertion order, separately for MT and MO with the same number', async () => {
    const id = await store.reserveIds('mt', 1);
    const ev = (type: string, at: number) => ({ at, type, node: 'n1', detail: { type, nested: { a: [1, 2] } } });
    await store.write([
      { mts: [mtOf(id, [])], events: [{ mtId: id, ...ev('accepted', T0 + 5) }, { mtId: id, ...ev('submitted', T0 + 5) }] },
      { mos: [moOf(id, [])], events: [{ moId: id, ...ev('received', T0) }] },
    ]);
    await store.write([{ events: [{ mtId: id, ...ev('report-received', T0 + 1) }] }]);
    expect((await store.getEvents({ mtId: id })).map((e) => e.type)).toEqual(['accepted', 'submitted', 'report-received']);
    expect(await store.getEvents({ moId: id })).toEqual([ev('received', T0)]);
  });

  it('applies MT patches forward-only: late interim reports are ignored, reported may repeat with another outcome', async () => {
    const id = await store.reserveIds('mt', 2);
    await store.write([{ mts: [mtOf(id, []), mtOf(id + 1, [])] }]);
    await store.write([{ mtPatches: [{ mtId: id, state: 'submitted', operatorMessageId: 'op-1' }] }]);
    await store.write([{ mtPatches: [{ mtId: id, state: 'reported', status: 'Deferred', outcomeId: 2 }] }]);
    await store.write([{ mtPatches: [{ mtId: id, state: 'reported', status: 'Forwarded', outcomeId: 3 }] }]);
    let mt = await store.getMt(id);
    expect(mt).toMatchObject({ state: 'reported', status: 'Forwarded', outcomeId: 3, operatorMessageId: 'op-1' });
    // The same outcome again (an operator's resend) changes nothing: a required patch of it is not applied.
    expect(await store.write([{ mtPatches: [{ mtId: id, state: 'reported', status: 'Forwarded', outcomeId: 3, required: true }] }])).toEqual([{ applied: false }]);
    // Another outcome, then that one again, in one batch: the first applies, its repeat does not.
    expect(
      await store.write([
        { mtPatches: [{ mtId: id, state: 'reported', status: 'Deferred', outcomeId: 2, required: true }] },
        { mtPatches: [{ mtId: id, state: 'reported', status: 'Deferred', outcomeId: 2, required: true }] },
        { mtPatches: [{ mtId: id, state: 'reported', status: 'Forwarded', outcomeId: 3, required: true }] },
      ]),
    ).toEqual([{ applied: true }, { applied: false }, { applied: true }]);
    // Final, then stale reports arrive: ignored.
    await store.write([
      { mtPatches: [{ mtId: id, state: 'failed', status: 'Failed', outcomeId: 9, outcomeDescription: 'Expired' }] },
    ]);
    await store.write([
      { mtPatches: [{ mtId: id, state: 'reported', status: 'Retrieved' }] },
      { mtPatches: [{ mtId: id, state: 'delivered', status: 'Retrieved' }, { mtId: id, state: 'submitted' }] },
    ]);
    mt = await store.getMt(id);
    expect(mt).toMatchObject({ state: 'failed', status: 'Failed', outcomeId: 9, outcomeDescription: 'Expired' });
    // Within one batch, patches of one message apply in order.
    await store.write([
      { mtPatches: [{ mtId: id + 1, state: 'submitted' }] },
      { mtPatches: [{ mtId: id + 1, state: 'delivered', status: 'Retrieved', userAgent: 'UA/2' }] },
      { mtPatches: [{ mtId: id + 1, state: 'reported', status: 'Deferred' }] },
    ]);
    expect(await store.getMt(id + 1)).toMatchObject({ state: 'delivered', status: 'Retrieved', userAgent: 'UA/2' });
    expect((await store.findMtByOperatorMessageId(77, 'op-1'))?.mtId).toBe(id);
    expect(await store.findMtByOperatorMessageId(78, 'op-1')).toBeUndefined();
  });

  it('resolves many jobs and patches many messages in one batch, each under its own conditions', async () => {
    const id = await store.reserveIds('mt', 3);
    await store.write([{ mts: [mtOf(id, []), mtOf(id + 1, [], { userAgent: 'UA/0' }), mtOf(id + 2, [])] }]);
    await store.write([{ mtPatches: [{ mtId: id + 2, state: 'delivered', status: 'Retrieved', userAgent: 'UA/1' }] }]);
    const jobs = await enqueue('submit', 4);
    await store.claimJobs({ kinds: ['submit'], owner: 'W', leaseMs: 60_000, limit: 10, now: T0 });
    const [j0, j1, j2, j3] = jobs.map((j) => j.id) as [number, number, number, number];
    const results = await store.write([
      { job: { jobId: j0, owner: 'W', outcome: 'done' }, mtPatches: [{ mtId: id, state: 'submitted', operatorMessageId: 'op-b' }] },
      { job: { jobId: j1, owner: 'W', outcome: 'retry', runAt: T0 + 5000, error: 'busy' } },
      { job: { jobId: j2, owner: 'W', outcome: 'dead', error: 'refused' }, mtPatches: [{ mtId: id + 2, state: 'submitted' }] },
      { job: { jobId: j3, owner: 'someone-else', outcome: 'done' }, mtPatches: [{ mtId: id + 1, state: 'failed' }] },
      { mtPatches: [{ mtId: id + 1, state: 'reported', status: 'Deferred', outcomeId: 2, userAgent: null }] },
    ]);
    expect(results).toEqual([{ applied: true }, { applied: true }, { applied: true }, { applied: false }, { applied: true }]);
    const byId = new Map((await store.listJobs({ refId: jobs[0]!.refId })).map((j) => [j.id, j]));
    expect(byId.get(j0)).toMatchObject({ state: 'done', leaseOwner: null, leaseExpiresAt: null });
    expect(byId.get(j1)).toMatchObject({ state: 'ready', runAt: T0 + 5000, lastError: 'busy', leaseOwner: null });
    expect(byId.get(j2)).toMatchObject({ state: 'dead', lastError: 'refused', leaseOwner: null });
    expect(byId.get(j3)).toMatchObject({ state: 'ready', leaseOwner: 'W' });
    expect(await store.getMt(id)).toMatchObject({ state: 'submitted', operatorMessageId: 'op-b', status: null });
    // The skipped unit's patch is not applied; the later unit's is (null clears a field).
    expect(await store.getMt(id + 1)).toMatchObject({ state: 'reported', status: 'Deferred', outcomeId: 2, userAgent: null });
    // A backward patch is ignored even next to forward ones.
    expect(await store.getMt(id + 2)).toMatchObject({ state: 'delivered', status: 'Retrieved', userAgent: 'UA/1' });
  });

  it('applies a unit with a required patch only if the patch moves its message forward, per unit in one batch', async () => {
    const id = await store.reserveIds('mt', 5);
    await store.write([
      {
        mts: [
          mtOf(id, []),
          mtOf(id + 1, [], { state: 'delivered', status: 'Retrieved' }),
          mtOf(id + 2, [], { state: 'reported', status: 'Deferred', outcomeId: 2 }),
          mtOf(id + 3, []),
          mtOf(id + 4, [], { state: 'submitted', operatorMessageId: 'op-4' }),
        ],
      },
    ]);
    const [job] = await enqueue('submit', 1);
    await store.claimJobs({ kinds: ['submit'], owner: 'W', leaseMs: 60_000, limit: 10, now: T0 });
    const event = (mtId: number, type: string) => ({ mtId, at: T0, type, node: 'n1', detail: {} });
    const LATER = T0 + 86_400_000; // not due in the other tests' claims (now = T0)
    const results = await store.write([
      // Forward: applies, with its event and report job.
      { mtPatches: [{ mtId: id, state: 'submitted', operatorMessageId: 'op-0', required: true }], events: [event(id, 'submitted')], jobs: [{ kind: 'report', refId: id, runAt: LATER }] },
      // Backward (a late interim report): the whole unit is skipped.
      { mtPatches: [{ mtId: id + 1, state: 'reported', status: 'Deferred', required: true }], events: [event(id + 1, 'report-received')], jobs: [{ kind: 'report', refId: id + 1, runAt: LATER }] },
      // 'reported' again: refines the outcome, applies.
      { mtPatches: [{ mtId: id + 2, state: 'reported', status: 'Forwarded', outcomeId: 3, required: true }], events: [event(id + 2, 'report-received')] },
      // Its job was lost to another owner: skipped before its patch is even tried.
      { job: { jobId: job!.id, owner: 'someone-else', outcome: 'done' }, mtPatches: [{ mtId: id + 3, state: 'submitted', required: true }], events: [event(id + 3, 'submitted')] },
      // Forward, to delivered (the report of a submitted message).
      { mtPatches: [{ mtId: id + 4, state: 'delivered', status: 'Retrieved', outcomeId: 0, required: true }], events: [event(id + 4, 'delivered')] },
    ]);
    expect(results).toEqual([{ applied: true }, { applied: false }, { applied: true }, { applied: false }, { applied: true }]);
    expect(await store.getMt(id)).toMatchObject({ state: 'submitted', operatorMessageId: 'op-0' });
    expect(await store.getMt(id + 1)).toMatchObject({ state: 'delivered', status: 'Retrieved' });
    expect(await store.getMt(id + 2)).toMatchObject({ state: 'reported', status: 'Forwarded', outcomeId: 3 });
    expect(await store.getMt(id + 3)).toMatchObject({ state: 'accepted' });
    expect(await store.getMt(id + 4)).toMatchObject({ state: 'delivered', status: 'Retrieved', outcomeId: 0, operatorMessageId: 'op-4' });
    // A skipped unit wrote nothing else either: no event, no job.
    expect((await store.getEvents({ mtId: id + 1 })).map((e) => e.type)).toEqual([]);
    expect(await store.listJobs({ refId: id + 1 })).toEqual([]);
    expect((await store.getEvents({ mtId: id + 3 })).map((e) => e.type)).toEqual([]);
    expect((await store.getEvents({ mtId: id })).map((e) => e.type)).toEqual(['submitted']);
    expect((await store.listJobs({ refId: id })).map((j) => j.kind)).toEqual(['report']);
    expect((await store.getEvents({ mtId: id + 4 })).map((e) => e.type)).toEqual(['delivered']);
  });

  it('applies several patches of one message in one batch in their order, required or not', async () => {
    const id = await store.reserveIds('mt', 3);
    await store.write([{ mts: [mtOf(id, []), mtOf(id + 1, []), mtOf(id + 2, [])] }]);
    const results = await store.write([
      { mtPatches: [{ mtId: id, state: 'submitted', operatorMessageId: 'op-a', required: true }] },
      { mtPatches: [{ mtId: id + 1, state: 'submitted', operatorMessageId: 'op-b' }] },
      { mtPatches: [{ mtId: id, state: 'delivered', status: 'Retrieved', required: true }] },
      { mtPatches: [{ mtId: id + 1, state: 'delivered', status: 'Retrieved' }] },
      // Behind the patch before it in the batch: skipped.
      { mtPatches: [{ mtId: id, state: 'submitted', operatorMessageId: 'op-late', required: true }] },
      { mtPatches: [{ mtId: id + 2, state: 'submitted', operatorMessageId: 'op-c', required: true }] },
      { mtPatches: [{ mtId: id + 1, state: 'submitted', operatorMessageId: 'op-late' }] },
    ]);
    expect(results.map((r) => r.applied)).toEqual([true, true, true, true, false, true, true]);
    expect(await store.getMt(id)).toMatchObject({ state: 'delivered', status: 'Retrieved', operatorMessageId: 'op-a' });
    expect(await store.getMt(id + 1)).toMatchObject({ state: 'delivered', status: 'Retrieved', operatorMessageId: 'op-b' });
    expect(await store.getMt(id + 2)).toMatchObject({ state: 'submitted', operatorMessageId: 'op-c' });
  });

  it('parks delivery reports until an MT of their operator carries the message ID, and purges old ones', async () => {
    const id = await store.reserveIds('mt', 1);
    await store.write([{ mts: [mtOf(id, [], { operatorId: 77 })] }]);
    const msgId = `parked-${id}`;
    await store.parkReport({ operatorId: 77, operatorMessageId: msgId, report: { outcome: { id: 1, status: 'Retrieved' }, at: T0 }, receivedAt: T0 });
    await store.parkReport({ operatorId: 78, operatorMessageId: msgId, report: { other: true }, receivedAt: T0 }); // another operator's
    await store.parkReport({ operatorId: 77, operatorMessageId: `never-${id}`, report: {}, receivedAt: T0 - PARKED_REPORT_RETENTION_MS - 1 });
    const mine = (await store.matchedParkedReports(100)).filter((p) => p.operatorMessageId === msgId);
    expect(mine).toEqual([]);
    await store.write([{ mtPatches: [{ mtId: id, state: 'submitted', operatorMessageId: msgId }] }]);
    const matched = (await store.matchedParkedReports(100)).filter((p) => p.operatorMessageId === msgId);
    expect(matched).toEqual([{ id: expect.any(Number), operatorId: 77, operatorMessageId: msgId, report: { outcome: { id: 1, status: 'Retrieved' }, at: T0 }, receivedAt: T0, mtId: id }]);
    // Claimed by a unit: consumed with it, and a second claim of the same report skips its unit.
    expect(await store.write([{ claimParked: matched.map((p) => p.id), events: [{ mtId: id, at: T0, type: 'report-received', node: 'n1', detail: {} }] }])).toEqual([{ applied: true }]);
    expect(await store.write([{ claimParked: matched.map((p) => p.id), events: [{ mtId: id, at: T0, type: 'report-received', node: 'n1', detail: {} }] }])).toEqual([{ applied: false, claimLost: true }]);
    expect((await store.getEvents({ mtId: id })).filter((e) => e.type === 'report-received')).toHaveLength(1);
    expect((await store.matchedParkedReports(100)).filter((p) => p.operatorMessageId === msgId)).toEqual([]);
    // The one for nothing of ours is dropped after the retention; the other operator's (younger) stays.
    expect((await store.purgeExpired(T0)).parkedReports).toBe(1);
    expect((await store.purgeExpired(T0)).parkedReports).toBe(0);
  });

  it('never applies a parked report to a message created after it arrived (an operator reusing an ID)', async () => {
    const id = await store.reserveIds('mt', 1);
    const msgId = `reused-${id}`;
    await store.parkReport({ operatorId: 77, operatorMessageId: msgId, report: { old: true }, receivedAt: T0 });
    await store.write([{ mts: [mtOf(id, [], { operatorId: 77, state: 'submitted', operatorMessageId: msgId, createdAt: T0 + 2 * 3600_000, updatedAt: T0 + 2 * 3600_000 })] }]);
    expect((await store.matchedParkedReports(1000)).filter((p) => p.operatorMessageId === msgId)).toEqual([]);
  });

  it('keeps at most MAX_PARKED_REPORTS_PER_OPERATOR parked per operator', async () => {
    const operatorId = 9000 + (backend.length % 7);
    for (let i = 0; i < MAX_PARKED_REPORTS_PER_OPERATOR; i++) {
      expect(await store.parkReport({ operatorId, operatorMessageId: `flood-${i}`, report: {}, receivedAt: T0 })).toBe(true);
    }
    expect(await store.parkReport({ operatorId, operatorMessageId: 'one-more', report: {}, receivedAt: T0 })).toBe(false);
    expect(await store.parkReport({ operatorId: operatorId + 100, operatorMessageId: 'another-operator', report: {}, receivedAt: T0 })).toBe(true);
  });

  it('lets a reported message take another outcome but not the same again, for several messages in one batch', async () => {
    const id = await store.reserveIds('mt', 2);
    await store.write([{ mts: [mtOf(id, [], { state: 'reported', status: 'Deferred', outcomeId: 4 }), mtOf(id + 1, [], { state: 'reported', status: 'Deferred', outcomeId: 4 })] }]);
    const results = await store.write([
      { mtPatches: [{ mtId: id, state: 'reported', status: 'Deferred', outcomeId: 4, required: true }] },
      { mtPatches: [{ mtId: id + 1, state: 'reported', status: 'Forwarded', outcomeId: 5, required: true }] },
    ]);
    expect(results).toEqual([{ applied: false }, { applied: true }]);
    // Not required: the same rule, without a unit to skip.
    await store.write([
      { mtPatches: [{ mtId: id, state: 'reported', status: 'Forwarded', outcomeId: 5 }] },
      { mtPatches: [{ mtId: id + 1, state: 'reported', status: 'Forwarded', outcomeId: 5, userAgent: 'changed' }] },
    ]);
    expect(await store.getMt(id)).toMatchObject({ status: 'Forwarded', outcomeId: 5 });
    expect(await store.getMt(id + 1)).toMatchObject({ status: 'Forwarded', outcomeId: 5, userAgent: null });
  });

  it('stores MOs with parts and applies MO state changes', async () => {
    const moId = await store.reserveIds('mo', 1);
    expect(moId).toBeGreaterThanOrEqual(FIRST_ID);
    const b = blobOf(Buffer.from('mo body'));
    const mo = moOf(moId, [partOf(b, 'text/plain', 't')]);
    await store.write([{ blobs: [b], mos: [mo] }]);
    expect(await store.getMo(moId)).toEqual(mo);
    await store.write([{ moStates: [{ moId, state: 'delivered' }] }]);
    expect((await store.getMo(moId))!.state).toBe('delivered');
    expect(await store.getMo(moId + 1)).toBeUndefined();
  });

  it('never hands the same job to two concurrent claimers', async () => {
    const jobs = await enqueue('report', 120);
    const claimed: number[] = [];
    const claimer = async (w: number): Promise<void> => {
      for (;;) {
        const got = await store.claimJobs({ kinds: ['report'], owner: `node-${w}`, leaseMs: 60_000, limit: 7, now: T0 });
        if (got.length === 0) return;
        claimed.push(...got.map((j) => j.id));
      }
    };
    await Promise.all(Array.from({ length: 6 }, (_, w) => claimer(w)));
    expect(claimed.length).toBe(jobs.length);
    expect(new Set(claimed).size).toBe(jobs.length);
  });

  it('lets another owner claim after the lease expires, then skips the old owner\'s resolution', async () => {
    const [job] = await enqueue('mo', 1);
    const [a] = await store.claimJobs({ kinds: ['mo'], owner: 'A', leaseMs: 1000, limit: 5, now: T0 });
    expect(a).toMatchObject({ id: job!.id, leaseOwner: 'A', leaseExpiresAt: T0 + 1000, attempts: 1, firstAttemptAt: T0 });
    expect(await store.claimJobs({ kinds: ['mo'], owner: 'B', leaseMs: 1000, limit: 5, now: T0 + 500 })).toEqual([]);
    const [b] = await store.claimJobs({ kinds: ['mo'], owner: 'B', leaseMs: 1000, limit: 5, now: T0 + 1001 });
    expect(b).toMatchObject({ id: job!.id, leaseOwner: 'B', attempts: 2, firstAttemptAt: T0 });
    expect(await store.extendLeases([job!.id], 'A', T0 + 9000)).toEqual([]);
    expect(await store.extendLeases([job!.id], 'B', T0 + 9000)).toEqual([job!.id]);

    const lateEvent = { mtId: job!.refId, at: T0, type: 'fetched', node: 'A', detail: {} };
    const results = await store.write([
      { job: { jobId: job!.id, owner: 'A', outcome: 'done' }, events: [lateEvent] },
      { job: { jobId: job!.id, owner: 'B', outcome: 'done' } },
    ]);
    expect(results).toEqual([{ applied: false }, { applied: true }]);
    expect(await store.getEvents({ mtId: job!.refId })).toEqual([]);
    expect((await store.listJobs({ refId: job!.refId }))[0]).toMatchObject({ state: 'done', leaseOwner: null });
  });

  it('serialises jobs that share an order key', async () => {
    const refId = await store.reserveIds('mt', 1);
    await store.write([
      {
        jobs: [
          { kind: 'mo', refId, orderKey: `k:${refId}`, runAt: T0 },
          { kind: 'mo', refId, orderKey: `k:${refId}`, runAt: T0 - 10 },
          { kind: 'mo', refId, orderKey: null, runAt: T0 },
        ],
      },
    ]);
    const [first, second, free] = (await store.listJobs({ refId })).reverse();
    const claim = (now: number) => store.claimJobs({ kinds: ['mo'], owner: 'W', leaseMs: 60_000, limit: 10, now });
    expect((await claim(T0)).map((j) => j.id).sort()).toEqual([first!.id, free!.id].sort());
    // The second waits even though its own runAt passed and the first is merely leased.
    expect(await claim(T0 + 5000)).toEqual([]);
    await store.write([{ job: { jobId: first!.id, owner: 'W', outcome: 'done' } }]);
    expect((await claim(T0 + 5000)).map((j) => j.id)).toEqual([second!.id]);
  });

  it('retries with a new runAt, dead-letters, and replays', async () => {
    const [job] = await enqueue('submit', 1);
    const claim = (now: number) => store.claimJobs({ kinds: ['submit'], owner: 'W', leaseMs: 30_000, limit: 10, now });
    const mine = async (now: number) => (await claim(now)).filter((j) => j.id === job!.id);
    expect(await mine(T0)).toHaveLength(1);
    await store.write([{ job: { jobId: job!.id, owner: 'W', outcome: 'retry', runAt: T0 + 60_000, error: 'HTTP 503' } }]);
    let [stored] = await store.listJobs({ refId: job!.refId });
    expect(stored).toMatchObject({ state: 'ready', runAt: T0 + 60_000, leaseOwner: null, lastError: 'HTTP 503' });
    expect(await mine(T0 + 59_999)).toEqual([]);
    const [again] = await mine(T0 + 60_000);
    expect(again).toMatchObject({ attempts: 2, firstAttemptAt: T0 });
    await store.write([{ job: { jobId: job!.id, owner: 'W', outcome: 'dead', error: 'gave up' } }]);
    [stored] = await store.listJobs({ refId: job!.refId });
    expect(stored).toMatchObject({ state: 'dead', lastError: 'gave up', leaseOwner: null });
    expect((await store.listJobs({ state: 'dead', kind: 'submit' })).map((j) => j.id)).toContain(job!.id);
    expect(await mine(T0 + 999_999)).toEqual([]);

    // A job is replayed for its message, which the replay marks changed (the retention then keeps it).
    expect(await store.replayJob(job!.id, T0 + 100_000)).toBe(false);
    await store.write([{ mts: [mtOf(job!.refId, [], { createdAt: T0, updatedAt: T0 })] }]);
    expect(await store.replayJob(job!.id, T0 + 100_000)).toBe(true);
    expect(await store.replayJob(job!.id, T0 + 100_000)).toBe(false);
    expect((await store.getMt(job!.refId))?.updatedAt).toBe(T0 + 100_000);
    const [replayed] = await mine(T0 + 100_000);
    expect(replayed).toMatchObject({ attempts: 1, firstAttemptAt: T0 + 100_000, state: 'ready' });

    // Dead again, then given up for good by an operator: done, marked, and no longer replayable.
    await store.write([{ job: { jobId: job!.id, owner: 'W', outcome: 'dead', error: 'gave up again' } }]);
    expect(await store.discardJob(job!.id, T0 + 200_000)).toBe(true);
    expect(await store.discardJob(job!.id, T0 + 200_000)).toBe(false);
    [stored] = await store.listJobs({ refId: job!.refId });
    expect(stored).toMatchObject({ state: 'done', updatedAt: T0 + 200_000, lastError: 'discarded by an operator; last error: gave up again' });
    expect(await store.replayJob(job!.id, T0 + 300_000)).toBe(false);
    expect(await mine(T0 + 999_999)).toEqual([]);
  });

  it('releases leases so others claim at once, and reports the next run time', async () => {
    const refId = await store.reserveIds('mt', 1);
    await store.write([
      { jobs: [{ kind: 'sim-deliver', refId, runAt: T0 + 100 }, { kind: 'sim-deliver', refId, runAt: T0 + 50 }] },
    ]);
    expect(await store.nextRunAt(['sim-deliver'])).toBe(T0 + 50);
    const got = await store.claimJobs({ kinds: ['sim-deliver'], owner: 'old', leaseMs: 10_000, limit: 1, now: T0 + 60 });
    // The job due first; once claimed it is due again when its lease ends (if its runner never resolves it).
    expect(got.map((j) => [j.refId, j.runAt, j.leaseExpiresAt])).toEqual([[refId, T0 + 10_060, T0 + 10_060]]);
    // The leased job is not runnable before its lease ends; the other one is at T0+100.
    expect(await store.nextRunAt(['sim-deliver'])).toBe(T0 + 100);
    expect(await store.releaseLeases('old')).toBe(1);
    expect(await store.nextRunAt(['sim-deliver'])).toBeLessThanOrEqual(Date.now()); // released: due at once
    const taken = await store.claimJobs({ kinds: ['sim-deliver'], owner: 'new', leaseMs: 10_000, limit: 5, now: T0 + 100 });
    expect(taken.map((j) => j.leaseOwner)).toEqual(['new', 'new']);
    expect(await store.nextRunAt(['sim-deliver'])).toBe(T0 + 10_101);
    expect(await store.nextRunAt([])).toBeNull();
  });

  it('reserves unique id blocks under concurrency', async () => {
    const starts = await Promise.all(Array.from({ length: 25 }, () => store.reserveIds('mt', 10)));
    const ids = starts.flatMap((s) => Array.from({ length: 10 }, (_, i) => s + i));
    expect(new Set(ids).size).toBe(250);
    for (const s of starts) expect(Number.isSafeInteger(s)).toBe(true);
    await expect(store.reserveIds('mt', 0)).rejects.toThrow(RangeError);
  });

  it('keeps handset messages and inbox entries, newest first', async () => {
    const parts = [{ contentType: 'text/plain', contentId: 'a', sha256: 'f'.repeat(64), size: 3 }];
    await store.write([
      { handsetMessages: [{ number: '14255550100', mtId: 1, source: '12345', subject: 's1', receivedAt: T0, parts }] },
      { handsetMessages: [{ number: '14255550100', mtId: 2, source: '12345', subject: null, receivedAt: T0 + 1, parts: [] }] },
      {
        inbox: [
          { box: 'reports', receivedAt: T0, headers: { 'content-type': 'application/json' }, contentType: 'application/json', body: Buffer.from('{"a":1}') },
          { box: 'mo', receivedAt: T0 + 1, headers: {}, contentType: 'multipart/mixed', body: BINARY },
        ],
      },
    ]);
    const hs = await store.listHandsetMessages('14255550100', 10);
    expect(hs.map((h) => h.mtId)).toEqual([2, 1]);
    expect(hs[1]).toEqual({ number: '14255550100', mtId: 1, source: '12345', subject: 's1', receivedAt: T0, parts });
    expect(await store.listHandsetMessages('14255550100', 1)).toHaveLength(1);
    // One message by its mtId, however old (the sandbox serves part bytes this way).
    expect((await store.listHandsetMessages('14255550100', 1, 1)).map((h) => h.subject)).toEqual(['s1']);
    expect(await store.listHandsetMessages('14255550100', 1, 3)).toEqual([]);
    const all = await store.listInbox(undefined, 10);
    expect(all.map((e) => e.box)).toEqual(['mo', 'reports']);
    expect(all[0]!.body.equals(BINARY)).toBe(true);
    const reports = await store.listInbox('reports', 10);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ headers: { 'content-type': 'application/json' }, contentType: 'application/json' });
    expect(typeof reports[0]!.id).toBe('number');
  });

  it('tells listeners when jobs are enqueued', async () => {
    const seen: JobKind[][] = [];
    const off = store.onJobsEnqueued((k) => seen.push(k));
    await new Promise((r) => setTimeout(r, 100)); // PostgreSQL: LISTEN connection established
    await store.write([{ jobs: [{ kind: 'report', refId: 1, runAt: T0 }] }]);
    await expect.poll(() => seen.some((k) => k.includes('report'))).toBe(true);
    off();
  });

  it('migrate() again is a no-op and reopening keeps everything', async () => {
    const id = await store.reserveIds('mt', 1);
    await store.write([{ mts: [mtOf(id, [])] }]);
    await store.migrate();
    const other = await openStore(url);
    try {
      expect((await other.getMt(id))?.mtId).toBe(id);
      expect(await other.reserveIds('mt', 1)).toBe(id + 1);
    } finally {
      await other.close();
    }
  });
});
