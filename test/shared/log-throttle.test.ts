import { describe, expect, it } from 'vitest';
import { LogThrottle } from '../../src/shared/log-throttle.ts';

describe('LogThrottle', () => {
  it('lets the first occurrence through, then one per window with the count left out, per key', () => {
    let now = 1000;
    const t = new LogThrottle(10_000, () => now);
    expect(t.take('a')).toBe(0);
    expect(t.take('a')).toBeUndefined();
    expect(t.take('a')).toBeUndefined();
    expect(t.take('b')).toBe(0); // another key has its own window
    now += 9_999;
    expect(t.take('a')).toBeUndefined();
    now += 1;
    expect(t.take('a')).toBe(3);
    expect(t.take('a')).toBeUndefined();
    now += 60_000;
    expect(t.take('a')).toBe(1);
  });
});
