/**
 * How long a node holds back from a job it passes on (pipeline/not-configured-here.ts): the schedule's first delay
 * for a young job, longer as the job ages, never more than MAX_PASS_HOLD_MS, and no passing on past maxAge. A single
 * node lacking an operator must not write an event per message every first delay for a whole day.
 */
import { describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.ts';
import { eventually, send, simpleMt, startTestGateway, testConfig } from '../support/gateway.ts';
import { MAX_PASS_HOLD_MS, retryElsewhere, retryReachedAt } from '../../src/pipeline/not-configured-here.ts';
import { DEFAULT_SCHEDULES, schedule } from '../../src/core/retry-policy.ts';
import type { Job } from '../../src/store/store.ts';

const T0 = 1_800_000_000_000;
const S = 1000;
const MIN = 60 * S;
const noJitter = schedule(['2s', '10s', '30s', '2m', '10m', '30m'], '24h', 0, 0);

function job(firstAttemptAt: number | null): Job {
  return {
    id: 1, kind: 'submit', refId: 7, orderKey: null, payload: {}, state: 'ready', runAt: T0, attempts: 1, firstAttemptAt,
    leaseOwner: 'a/submit', leaseExpiresAt: T0 + MIN, lastError: null, createdAt: T0, updatedAt: T0,
  };
}

/** The hold a job first tried at T0 gets when passed on at T0 + age. */
const holdAt = (age: number, s = noJitter) => retryElsewhere(job(T0), s, 'operator 88', T0 + age)!.runAt - (T0 + age);

describe('passing a job on', () => {
  it('holds a young job back for the schedule\'s first delay, passed on to the others at once', () => {
    const r = retryElsewhere(job(null), noJitter, 'operator 88', T0);
    expect(r).toEqual({ type: 'retry', runAt: T0 + 2 * S, error: "operator 88 is not in this node's configuration", passOn: true });
  });

  it('holds an older job back longer, as a retry of its age would wait, up to the cap', () => {
    expect(holdAt(1 * S)).toBe(2 * S);
    expect(holdAt(5 * S)).toBe(10 * S);
    expect(holdAt(20 * S)).toBe(30 * S);
    expect(holdAt(1 * MIN)).toBe(2 * MIN);
    expect(holdAt(5 * MIN)).toBe(MAX_PASS_HOLD_MS);
    expect(holdAt(3 * 60 * MIN)).toBe(MAX_PASS_HOLD_MS);
  });

  it('passes a job on a few hundred times over a day, not every first delay (43,200 times at 2 s)', () => {
    let now = T0;
    let passes = 0;
    for (;;) {
      const r = retryElsewhere(job(T0), DEFAULT_SCHEDULES.submit, 'operator 88', now);
      if (r === null) break;
      passes++;
      now = r.runAt;
    }
    expect(now).toBeGreaterThanOrEqual(T0 + 24 * 60 * MIN - MAX_PASS_HOLD_MS);
    expect(passes).toBeLessThan(24 * 60 / 5 + 20);
  });

  it('stops at maxAge (the caller then decides with its own configuration), and ignores maxAttempts: no attempt was made', () => {
    expect(retryElsewhere(job(T0), noJitter, 'operator 88', T0 + 24 * 60 * MIN)).toBeNull();
    const counted = schedule(['2s', '10s', '30s'], '1h', 2, 0);
    expect(retryElsewhere(job(T0), counted, 'operator 88', T0 + 30 * MIN)).not.toBeNull();
  });

  it('finds the retry a job of a given age would be at', () => {
    expect([0, 1999, 2000, 11_999, 12_000, 10 * 60 * MIN].map((age) => retryReachedAt(noJitter, age))).toEqual([1, 1, 2, 2, 3, 6]);
  });
});

describe('a message whose account no node serves any more', () => {
  it('expires in the queue once its schedule runs out (outcome 25) instead of going to the operator', async () => {
    // Accepted while the account existed, by a node that only accepts.
    const accepting = await startTestGateway({}, { start: { workers: false }, keepDir: true });
    const r = await send(accepting.url, simpleMt('15551230042'));
    expect(r.status).toBe(200);
    const mtId = (r.json as { mtId: number }).mtId;
    await accepting.stop();

    // Then the account is removed: the node that runs the queue knows only the other account.
    const base = testConfig({ dir: accepting.dir });
    const raw = { ...base, accounts: base.accounts!.slice(1), submit: { retrySchedule: ['50ms'], maxAge: '1s' } } as ConfigInput;
    const running = await startTestGateway({}, { raw });
    try {
      const mt = await eventually(async () => {
        const m = await running.gateway.store.getMt(mtId);
        return m?.state === 'accepted' ? undefined : m;
      }, 10_000, 'the message to end');
      expect([mt.state, mt.outcomeId]).toEqual(['failed', 25]);
      const events = await running.gateway.store.getEvents({ mtId });
      expect(events.map((e) => e.type)).not.toContain('submitted');
      expect(events.find((e) => e.type === 'submit-gave-up')?.detail).toMatchObject({ error: "account acme is not in this node's configuration" });
    } finally {
      await running.stop();
    }
  });
});

