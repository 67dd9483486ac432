/**
 * The refusing token bucket behind the per-account send rate: this node's share of a cluster-wide rate and burst,
 * a refusal that takes nothing and says how long until a token, refill over time. A hand-driven clock: the
 * assertions are about what may pass by a given instant, not about how fast the machine is.
 */
import { describe, expect, it } from 'vitest';
import { SharedTokenBucket } from '../../src/cluster/shared-token-bucket.ts';

/** A clock the test moves by hand. */
function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** How many of `n` immediate takes pass. */
function passes(bucket: SharedTokenBucket, n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (bucket.tryTake() === 0) ok++;
  return ok;
}

describe('SharedTokenBucket', () => {
  it('holds one second of the limit by default, then refuses with the time until the next token', () => {
    const c = clock();
    const bucket = new SharedTokenBucket({ limit: 4, liveNodes: () => 1, now: c.now });
    expect(passes(bucket, 4)).toBe(4);
    expect(bucket.tryTake()).toBeCloseTo(250); // 4 per second: one every 250 ms
    c.advance(100);
    expect(bucket.tryTake()).toBeCloseTo(150);
  });

  it('takes nothing for a refusal: refused calls do not push the next token further away', () => {
    const c = clock();
    const bucket = new SharedTokenBucket({ limit: 2, burst: 1, liveNodes: () => 1, now: c.now });
    expect(bucket.tryTake()).toBe(0);
    for (let i = 0; i < 10; i++) {
      c.advance(40);
      expect(bucket.tryTake()).toBeGreaterThan(0);
    }
    c.advance(100); // 500 ms since the first take
    expect(bucket.tryTake()).toBe(0);
  });

  it('refills at the rate, up to the burst and no further', () => {
    const c = clock();
    const bucket = new SharedTokenBucket({ limit: 10, burst: 3, liveNodes: () => 1, now: c.now });
    expect(passes(bucket, 5)).toBe(3);
    c.advance(200); // two tokens
    expect(passes(bucket, 5)).toBe(2);
    c.advance(60_000); // idle for a minute: still only the burst
    expect(passes(bucket, 10)).toBe(3);
  });

  it("splits rate and burst over the live nodes, and follows the count's changes", () => {
    const c = clock();
    let live = 2;
    const bucket = new SharedTokenBucket({ limit: 10, burst: 4, liveNodes: () => live, now: c.now });
    expect(passes(bucket, 10)).toBe(2); // half the burst
    expect(bucket.tryTake()).toBeCloseTo(200); // half the rate: 5 per second
    c.advance(1_000);
    expect(passes(bucket, 10)).toBe(2); // refilled at 5/s, capped at this node's half of the burst
    live = 1; // the other node left: the whole limit and burst are this node's
    c.advance(1_000);
    expect(passes(bucket, 10)).toBe(4);
    expect(bucket.tryTake()).toBeCloseTo(100);
  });

  it('holds at least one token, so a node can send at all when the burst is below the node count', () => {
    const c = clock();
    const bucket = new SharedTokenBucket({ limit: 1, liveNodes: () => 4, now: c.now });
    expect(passes(bucket, 3)).toBe(1);
    expect(bucket.tryTake()).toBeCloseTo(4_000); // a quarter message per second on this node
  });

  it('refuses a limit or burst that is not a finite number above 0', () => {
    for (const limit of [0, -1, Infinity, Number.NaN]) {
      expect(() => new SharedTokenBucket({ limit, liveNodes: () => 1 })).toThrow(RangeError);
    }
    expect(() => new SharedTokenBucket({ limit: 1, burst: 0, liveNodes: () => 1 })).toThrow(RangeError);
  });
});
