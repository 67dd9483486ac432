/**
 * MMStatus words in DeliveryReportReq (TS 23.140 §8.4.2; REL-6 mmDeliveryStatusType adds Processing, Cancelled and
 * Replaced), through the inbound handler into the pipeline and a real store: what the message ends as, and which
 * REPORTs the customer gets.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleMm7Request } from '../../src/operators/mm7/mm7-inbound.ts';
import type { PipelineInboundSink } from '../../src/pipeline/inbound-sink.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { SqlStore } from '../../src/store/sql-store.ts';
import { mtOf } from '../store/fixtures.ts';
import { deliveryReportXml } from '../support/mm7-peer.ts';
import { inboundSinkOver } from '../pipeline/sink-fixture.ts';

const OPERATOR = 78;
let dir: string;
let store: SqlStore;
let sink: PipelineInboundSink;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mmsgate-mm7-status-'));
  store = await openStore(`sqlite:${join(dir, 'store.db')}`);
  sink = inboundSinkOver(store, { correlationRetryMs: [20] });
});
afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

let seq = 0;
/** A submitted MT and a function posting DeliveryReportReqs for it, as the MMSC would. */
async function submitted() {
  const operatorMessageId = `st-${++seq}-${Date.now()}`;
  const mtId = await store.reserveIds('mt', 1);
  await store.write([{ mts: [mtOf(mtId, [], { operatorId: OPERATOR, state: 'submitted', operatorMessageId })] }]);
  const report = async (mmStatus: string, edit: (xml: string) => string = (x) => x) => {
    const xml = edit(deliveryReportXml({ messageId: operatorMessageId, mmStatus }));
    const res = await handleMm7Request(
      { headers: { 'content-type': 'text/xml; charset=utf-8' }, body: Buffer.from(xml), remoteAddress: '127.0.0.1' },
      { operatorId: OPERATOR, sink },
    );
    expect(res.status).toBe(200);
  };
  const reports = async () => (await store.listJobs({ refId: mtId, kind: 'report' })).map((j) => j.payload.body as { status: string; outcomeId: number; date: string });
  return { mtId, report, reports };
}

describe('MMStatus words that do not end the message', () => {
  it.each(['Processing', 'processing', 'Sent', 'Submitted'])('%s then Retrieved: delivered, and the customer gets both reports', async (word) => {
    const m = await submitted();
    await m.report(word);
    expect((await store.getMt(m.mtId))?.state).toBe('reported');
    await m.report('Retrieved');
    const mt = await store.getMt(m.mtId);
    expect(mt).toMatchObject({ state: 'delivered', status: 'Retrieved', outcomeId: 1 });
    const statuses = (await m.reports()).map((r) => r.status).sort();
    expect(statuses).toEqual([word.toLowerCase() === 'processing' ? 'Processing' : 'Indeterminate', 'Retrieved'].sort());
    expect((await store.getEvents({ mtId: m.mtId })).map((e) => e.type)).not.toContain('report-ignored');
  });
});

describe('MMStatus words that end the message', () => {
  it.each([
    ['Cancelled', 13],
    ['Replaced', 14],
    ['Indeterminate', 3],
  ])('%s is final: a later Retrieved is ignored', async (word, outcomeId) => {
    const m = await submitted();
    await m.report(word);
    expect(await store.getMt(m.mtId)).toMatchObject({ state: 'failed', status: word, outcomeId });
    await m.report('Retrieved');
    expect((await store.getMt(m.mtId))?.state).toBe('failed');
    expect(await m.reports()).toHaveLength(1);
  });
});

describe('the date of the customer REPORT', () => {
  it("is the DeliveryReportReq's Date when the report has one", async () => {
    const m = await submitted();
    await m.report('Retrieved', (x) => x.replace(/<Date>[^<]*<\/Date>/, '<Date>2024-03-16T14:03:51+02:00</Date>'));
    expect((await m.reports()).map((r) => r.date)).toEqual(['2024-03-16T12:03:51+00:00']);
  });

  it('is the time of receipt when the report has no Date', async () => {
    const m = await submitted();
    const before = Date.now() - 1000;
    await m.report('Retrieved', (x) => x.replace(/<Date>[^<]*<\/Date>/, ''));
    const [r] = await m.reports();
    expect(Date.parse(r!.date)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(r!.date)).toBeLessThanOrEqual(Date.now());
  });
});
