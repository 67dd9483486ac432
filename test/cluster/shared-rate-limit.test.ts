/**
 * The shared per-operator rate: each node sends at limit / liveNodes, waits (never fails), keeps FIFO order and
 * follows changes of the live-node count. Runs on a fake clock: the assertions are about how many messages may go
 * out by a given instant, not about how fast the machine is.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { nodeShare, rateLimitedConnector, SharedRateLimiter } from '../../src/cluster/shared-rate-limit.ts';
import type { Connector, SubmitRequest } from '../../src/operators/connector.ts';

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_800_000_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

/** Start `n` takes and record, in order, which have gone through. */
function takeMany(limiter: SharedRateLimiter, n: number): number[] {
  const done: number[] = [];
  for (let i = 0; i < n; i++) void limiter.take().then(() => done.push(i));
  return done;
}

describe('nodeShare', () => {
  it('splits the limit over the live nodes and treats 0 as unlimited', () => {
    expect(nodeShare(30, 3)).toBe(10);
    expect(nodeShare(30, 0)).toBe(30);
    expect(nodeShare(0, 3)).toBe(Infinity);
  });
});

describe('SharedRateLimiter', () => {
  it('lets each of two nodes send half of the operator limit, in request order', async () => {
    let live = 2;
    const limiter = new SharedRateLimiter({ limit: 10, liveNodes: () => live, now: () => Date.now() });
    const done = takeMany(limiter, 12);
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toEqual([0]); // one token of burst
    await vi.advanceTimersByTimeAsync(1000);
    expect(done).toEqual([0, 1, 2, 3, 4, 5]); // 5 per second
    // The other node left: this one may now use the whole limit.
    live = 1;
    await vi.advanceTimersByTimeAsync(600);
    expect(done.length).toBeGreaterThanOrEqual(11);
    expect(done.length).toBeLessThanOrEqual(12);
    await vi.advanceTimersByTimeAsync(200);
    expect(done).toEqual([...Array(12).keys()]);
  });

  it('lets a stopped caller leave the queue at once without taking a token from the ones behind it', async () => {
    const limiter = new SharedRateLimiter({ limit: 1, liveNodes: () => 1, now: () => Date.now() });
    const order: string[] = [];
    void limiter.take().then(() => order.push('first')); // the burst token
    const stop = new AbortController();
    const stopped = limiter.take(stop.signal).then(
      () => order.push('stopped went through'),
      (e: Error) => order.push(`stopped: ${e.message}`),
    );
    void limiter.take().then(() => order.push('third'));
    await vi.advanceTimersByTimeAsync(100);
    stop.abort(new Error('lease gone'));
    await stopped;
    expect(order).toEqual(['first', 'stopped: lease gone']); // out of the queue at once, not after its turn
    await vi.advanceTimersByTimeAsync(1000);
    expect(order).toEqual(['first', 'stopped: lease gone', 'third']); // the next token (1 s) went to the third
  });

  it('slows down when nodes join, even for callers already waiting', async () => {
    let live = 1;
    const limiter = new SharedRateLimiter({ limit: 4, liveNodes: () => live, now: () => Date.now() });
    const done = takeMany(limiter, 6);
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toHaveLength(1);
    live = 4; // 1 per second each
    await vi.advanceTimersByTimeAsync(2500);
    expect(done).toHaveLength(3);
  });

  it('never waits when the operator has no limit', async () => {
    const limiter = new SharedRateLimiter({ limit: 0, liveNodes: () => 3 });
    const done = takeMany(limiter, 1000);
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toHaveLength(1000);
    expect(() => new SharedRateLimiter({ limit: -1, liveNodes: () => 1 })).toThrow(RangeError);
  });

  it('throttles a connector\'s submissions', async () => {
    const submitted: number[] = [];
    const inner: Connector = {
      operatorId: 7,
      async submit(req) {
        submitted.push(req.mt.mtId);
        return { operatorMessageId: `op-${req.mt.mtId}` };
      },
      async close() {},
    };
    const c = rateLimitedConnector(inner, new SharedRateLimiter({ limit: 2, liveNodes: () => 1, now: () => Date.now() }));
    const req = (mtId: number) => ({ mt: { mtId }, parts: [], mtConfig: 'default' }) as unknown as SubmitRequest;
    const results = [1, 2, 3].map((id) => c.submit(req(id)));
    await vi.advanceTimersByTimeAsync(0);
    expect(submitted).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(submitted).toEqual([1, 2, 3]);
    expect((await results[2]!).operatorMessageId).toBe('op-3');
    expect(c.operatorId).toBe(7);
  });
});
