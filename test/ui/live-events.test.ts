import { describe, expect, it } from 'vitest';
import { LiveEvents, TooManySubscribersError, summarise, type LiveDelivery } from '../../src/ui/live-events.ts';
import type { WriteUnit } from '../../src/store/store.ts';

const nextTurn = () => new Promise((r) => setImmediate(r));
const AT = Date.UTC(2026, 4, 16, 19, 20, 30);

const reportUnit: WriteUnit = {
  events: [
    {
      mtId: 100000000000123,
      at: AT,
      type: 'report-received',
      node: 'n1',
      detail: { status: 'Retrieved', outcomeId: 1, outcomeDescription: 'Success.', userAgent: 'SimPhone' },
    },
    { moId: 7, at: AT, type: 'mo-not-sent', node: 'n1', detail: { reason: 'x'.repeat(500) } },
  ],
  inbox: [{ box: 'reports', receivedAt: AT, headers: { secret: 'no' }, contentType: 'application/json', body: Buffer.from('{"a":1}') }],
};

describe('summarise', () => {
  it('turns events and inbox entries into small summaries without bodies or headers', () => {
    const s = summarise(reportUnit);
    expect(s[0]).toEqual({
      kind: 'event',
      at: '2026-05-16T19:20:30.000Z',
      mtId: 100000000000123,
      type: 'report-received',
      node: 'n1',
      status: 'Retrieved',
      outcomeId: 1,
      outcomeDescription: 'Success.',
    });
    expect(s[1]).toMatchObject({ kind: 'event', moId: 7, type: 'mo-not-sent' });
    expect((s[1] as { reason: string }).reason.length).toBeLessThanOrEqual(201);
    expect(s[2]).toEqual({ kind: 'inbox', at: '2026-05-16T19:20:30.000Z', box: 'reports', contentType: 'application/json', size: 7 });
    expect(JSON.stringify(s)).not.toContain('secret');
  });

  it('gives nothing for a unit with no events or inbox entries', () => {
    expect(summarise({ jobs: [{ kind: 'submit', refId: 1 }] })).toEqual([]);
  });
});

describe('LiveEvents', () => {
  it('delivers to every subscriber, in order, after publish has returned', async () => {
    const live = new LiveEvents();
    const a: LiveDelivery[] = [];
    const b: LiveDelivery[] = [];
    live.subscribe((d) => a.push(d));
    live.subscribe((d) => b.push(d));
    live.publish(reportUnit);
    expect(a).toEqual([]); // never in the committer's stack
    await nextTurn();
    expect(a.map((d) => ('summary' in d ? d.summary.kind : 'dropped'))).toEqual(['event', 'event', 'inbox']);
    expect(b).toEqual(a);
  });

  it('stops delivering after unsubscribe, also for entries already queued', async () => {
    const live = new LiveEvents();
    const got: LiveDelivery[] = [];
    const off = live.subscribe((d) => got.push(d));
    live.publish(reportUnit);
    off();
    await nextTurn();
    expect(got).toEqual([]);
    expect(live.size).toBe(0);
  });

  it('bounds the subscribers', () => {
    const live = new LiveEvents({ maxSubscribers: 2 });
    live.subscribe(() => undefined);
    const off = live.subscribe(() => undefined);
    expect(() => live.subscribe(() => undefined)).toThrow(TooManySubscribersError);
    off();
    expect(() => live.subscribe(() => undefined)).not.toThrow();
  });

  it('keeps only the newest entries of a subscriber that falls behind and reports how many it dropped', async () => {
    const live = new LiveEvents({ queueLength: 4 });
    const got: LiveDelivery[] = [];
    live.subscribe((d) => got.push(d));
    for (let i = 1; i <= 10; i++) live.publish({ events: [{ mtId: i, at: AT, type: 'accepted', node: 'n', detail: {} }] });
    await nextTurn();
    expect(got[0]).toEqual({ dropped: 6 });
    expect(got.slice(1).map((d) => ('summary' in d && d.summary.kind === 'event' ? d.summary.mtId : 0))).toEqual([7, 8, 9, 10]);
  });

  it('a throwing subscriber does not affect the publisher or other subscribers', async () => {
    const live = new LiveEvents();
    const got: LiveDelivery[] = [];
    live.subscribe(() => {
      throw new Error('boom');
    });
    live.subscribe((d) => got.push(d));
    expect(() => live.publish(reportUnit)).not.toThrow();
    await nextTurn();
    expect(got).toHaveLength(3);
  });
});
