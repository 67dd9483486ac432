/**
 * An operator that resends an MO (MM7 peers resend a DeliverReq when our answer is late or lost, NOTES quirk 9) must
 * not make the customer receive it twice: a resend with the same operator message ID (LinkedID) is recognised.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineInboundSink } from '../../src/pipeline/inbound-sink.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { SqlStore } from '../../src/store/sql-store.ts';
import { storeBackends } from '../store/fixtures.ts';
import { inboundSinkOver } from './sink-fixture.ts';

describe.each(storeBackends('mmsgate-mo-resend'))('MO resends from an operator on %s', (_backend, newUrl) => {
  let store: SqlStore;
  let sink: PipelineInboundSink;
  let now = 1_800_000_000_000;
  beforeAll(async () => {
    store = await openStore(await newUrl());
    sink = inboundSinkOver(store, {
      ownerOf: (n) => (n === '88600' ? { accountId: 'acme', moUrl: 'http://127.0.0.1:9/mo' } : undefined),
      reportUrlFor: () => undefined,
      now: () => now,
    });
  });
  afterAll(async () => {
    await store?.close();
  });

  const mo = (operatorId: number, operatorMessageId: string | null) =>
    sink.mo({
      operatorId,
      source: '15551230001',
      destinations: ['88600'],
      operatorMessageId,
      parts: [{ contentType: 'text/plain', contentId: 't', bytes: Buffer.from('hello') }],
    });
  const moJobs = (moId: number) => store.listJobs({ refId: moId, kind: 'mo' });

  it('answers a resend with the same LinkedID with the first moId and posts the MO to the customer once', async () => {
    const first = await mo(310, 'linked-1');
    now += 10_000;
    const again = await mo(310, 'linked-1');
    expect(again.moId).toBe(first.moId);
    expect(await moJobs(first.moId)).toHaveLength(1);
    expect((await store.getEvents({ moId: first.moId })).map((e) => e.type)).toEqual(['received', 'resend-ignored']);
  });

  it('takes the same LinkedID from another operator, or after a day, or no LinkedID at all, as a new MO', async () => {
    const first = await mo(310, 'linked-2');
    expect((await mo(311, 'linked-2')).moId).not.toBe(first.moId);
    now += 24 * 60 * 60 * 1000 + 1;
    expect((await mo(310, 'linked-2')).moId).not.toBe(first.moId);
    const a = await mo(310, null);
    const b = await mo(310, null);
    expect(b.moId).not.toBe(a.moId);
  });
});
