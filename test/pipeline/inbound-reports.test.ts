/**
 * Operator delivery reports as they really arrive: copies of one report at the same moment, a late interim report
 * racing the final one, a report that overtakes the commit of our own submission. On every store backend, because
 * the decision is taken inside the store's transaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outcomeFromMmStatus } from '../../src/core/outcomes.ts';
import type { PipelineInboundSink } from '../../src/pipeline/inbound-sink.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { SqlStore } from '../../src/store/sql-store.ts';
import { mtOf, storeBackends } from '../store/fixtures.ts';
import { inboundSinkOver } from './sink-fixture.ts';

const OPERATOR = 77;

describe.each(storeBackends('mmsgate-inbound-reports'))('delivery reports from an operator on %s', (_backend, newUrl) => {
  let store: SqlStore;
  let sink: PipelineInboundSink;
  beforeAll(async () => {
    store = await openStore(await newUrl());
    sink = inboundSinkOver(store, { correlationRetryMs: [20, 40, 80, 160, 320] });
  });
  afterAll(async () => {
    await store?.close();
  });

  /** A submitted MT carrying `operatorMessageId`. */
  async function submittedMt(operatorMessageId: string): Promise<number> {
    const mtId = await store.reserveIds('mt', 1);
    await store.write([{ mts: [mtOf(mtId, [], { operatorId: OPERATOR, state: 'submitted', operatorMessageId })] }]);
    return mtId;
  }

  const report = (operatorMessageId: string, mmStatus: string) =>
    sink.deliveryReport({ operatorId: OPERATOR, operatorMessageId, outcome: outcomeFromMmStatus(mmStatus) });

  const reportJobs = (mtId: number) => store.listJobs({ refId: mtId, kind: 'report' });
  const eventTypes = async (mtId: number) => (await store.getEvents({ mtId })).map((e) => e.type);

  it('forwards one REPORT for copies of one report handled at the same moment', async () => {
    const mtId = await submittedMt(`dup-${Date.now()}`);
    const id = (await store.getMt(mtId))!.operatorMessageId!;
    const answers = await Promise.all(Array.from({ length: 12 }, () => report(id, 'Retrieved')));
    expect(answers.every((a) => a === 'ok')).toBe(true); // the operator may forget every copy
    expect(await reportJobs(mtId)).toHaveLength(1);
    const types = await eventTypes(mtId);
    expect(types.filter((t) => t === 'report-received')).toHaveLength(1);
    expect(types.filter((t) => t === 'report-ignored')).toHaveLength(11);
    expect((await store.getMt(mtId))?.state).toBe('delivered');
  });

  it('does not forward an interim report that arrives with or after the final one', async () => {
    const mtId = await submittedMt(`race-${Date.now()}`);
    const id = (await store.getMt(mtId))!.operatorMessageId!;
    await Promise.all([report(id, 'Retrieved'), report(id, 'Deferred')]);
    await report(id, 'Deferred');
    const jobs = await reportJobs(mtId);
    // Either the Deferred landed first and was forwarded before the Retrieved, or it lost and was ignored; never after.
    const statuses = jobs.reverse().map((j) => (j.payload.body as { status: string }).status);
    expect(statuses.at(-1)).toBe('Retrieved');
    expect(statuses.filter((s) => s === 'Retrieved')).toHaveLength(1);
    expect((await store.getMt(mtId))?.state).toBe('delivered');
  });

  it('forwards each change of interim report before the final one, but not a resend of the same one', async () => {
    const mtId = await submittedMt(`interim-${Date.now()}`);
    const id = (await store.getMt(mtId))!.operatorMessageId!;
    await report(id, 'Deferred');
    await report(id, 'Deferred'); // the operator's resend (our answer lost, NOTES quirk 9): nothing new
    expect(await reportJobs(mtId)).toHaveLength(1);
    await report(id, 'Forwarded');
    await report(id, 'Deferred');
    const statuses = (await reportJobs(mtId)).reverse().map((j) => (j.payload.body as { status: string }).status);
    expect(statuses).toEqual(['Deferred', 'Forwarded', 'Deferred']);
    expect((await eventTypes(mtId)).filter((t) => t === 'report-ignored')).toHaveLength(1);
    expect((await store.getMt(mtId))?.state).toBe('reported');
  });

  it('forwards one REPORT for copies of one interim report handled at the same moment', async () => {
    const mtId = await submittedMt(`dup-interim-${Date.now()}`);
    const id = (await store.getMt(mtId))!.operatorMessageId!;
    await Promise.all(Array.from({ length: 8 }, () => report(id, 'Deferred')));
    expect(await reportJobs(mtId)).toHaveLength(1);
    expect((await store.getMt(mtId))?.state).toBe('reported');
  });

  it('correlates a report that arrives before the submission carrying its message ID is committed', async () => {
    const mtId = await store.reserveIds('mt', 1);
    await store.write([{ mts: [mtOf(mtId, [], { operatorId: OPERATOR })] }]);
    const id = `early-${mtId}`;
    const answer = report(id, 'Retrieved');
    // The submit step commits the operator's SubmitRsp a moment after the operator already sent the report.
    await new Promise((r) => setTimeout(r, 60));
    await store.write([{ mtPatches: [{ mtId, state: 'submitted', operatorMessageId: id }] }]);
    expect(await answer).toBe('ok');
    expect(await reportJobs(mtId)).toHaveLength(1);
    expect((await store.getMt(mtId))?.state).toBe('delivered');
  });

  it('parks a report whose message ID is still unknown after the wait, and applies it once the ID appears', async () => {
    const mtId = await store.reserveIds('mt', 1);
    await store.write([{ mts: [mtOf(mtId, [], { operatorId: OPERATOR })] }]);
    const id = `late-${mtId}`;
    const t0 = Date.now();
    // Taken (the operator may forget it), after looking again for the configured 620 ms.
    expect(await report(id, 'Deferred')).toBe('ok');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
    expect(await report(id, 'Retrieved')).toBe('ok');
    expect(await reportJobs(mtId)).toHaveLength(0);
    // Nothing to apply while no message carries the ID.
    expect(await sink.redeliverParked()).toBe(0);
    // Our SubmitRsp's commit lands long after the reports: both apply, in the order they came.
    await store.write([{ mtPatches: [{ mtId, state: 'submitted', operatorMessageId: id }] }]);
    expect(await sink.redeliverParked()).toBe(2);
    const statuses = (await reportJobs(mtId)).reverse().map((j) => (j.payload.body as { status: string }).status);
    expect(statuses).toEqual(['Deferred', 'Retrieved']);
    expect((await store.getMt(mtId))?.state).toBe('delivered');
    // Applied once: nothing is left parked for it.
    expect(await sink.redeliverParked()).toBe(0);
    expect(await reportJobs(mtId)).toHaveLength(2);
  });

  it('applies each parked report once when several nodes sweep at the same moment', async () => {
    const mtId = await store.reserveIds('mt', 1);
    await store.write([{ mts: [mtOf(mtId, [], { operatorId: OPERATOR })] }]);
    const id = `swept-${mtId}`;
    expect(await report(id, 'Forwarded')).toBe('ok');
    expect(await report(id, 'Deferred')).toBe('ok');
    await store.write([{ mtPatches: [{ mtId, state: 'submitted', operatorMessageId: id }] }]);
    const other = inboundSinkOver(store, { nodeId: 'n2' });
    await Promise.all([sink.redeliverParked(), other.redeliverParked(), sink.redeliverParked()]);
    const statuses = (await reportJobs(mtId)).reverse().map((j) => (j.payload.body as { status: string }).status);
    expect(statuses).toEqual(['Forwarded', 'Deferred']);
    // The nodes that lost a claim ignored nothing: no report-ignored event is logged for them.
    expect((await eventTypes(mtId)).filter((t) => t === 'report-ignored')).toEqual([]);
  });

  it('applies a parked report to the message that existed when it came, not a later one given the same ID', async () => {
    const mtId = await store.reserveIds('mt', 2);
    const now = Date.now();
    await store.write([{ mts: [mtOf(mtId, [], { operatorId: OPERATOR, createdAt: now - 10_000, updatedAt: now - 10_000 })] }]);
    const id = `reused-${mtId}`;
    expect(await report(id, 'Retrieved')).toBe('ok');
    await store.write([{ mtPatches: [{ mtId, state: 'submitted', operatorMessageId: id }] }]);
    // An hour later the operator hands the same ID to another message of ours, before the sweep ran.
    const later = now + 3600_000;
    await store.write([{ mts: [mtOf(mtId + 1, [], { operatorId: OPERATOR, state: 'submitted', operatorMessageId: id, createdAt: later, updatedAt: later })] }]);
    expect(await sink.redeliverParked()).toBe(1);
    expect((await store.getMt(mtId))?.state).toBe('delivered');
    expect((await store.getMt(mtId + 1))?.state).toBe('submitted');
  });
});
