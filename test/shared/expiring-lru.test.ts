import { describe, expect, it } from 'vitest';
import { ExpiringLru } from '../../src/shared/expiring-lru.ts';

describe('ExpiringLru', () => {
  it('evicts the least recently used entry, counting reads of the newest entry and of others', () => {
    const lru = new ExpiringLru<number>(3, () => 0);
    lru.set('a', 1, 1000);
    lru.set('b', 2, 1000);
    lru.set('c', 3, 1000);
    expect(lru.get('a')).toBe(1); // order now b, c, a
    expect(lru.get('a')).toBe(1); // already the newest: order unchanged
    expect(lru.get('b')).toBe(2); // c, a, b
    lru.set('d', 4, 1000); // evicts c
    expect(lru.get('c')).toBeUndefined();
    expect([lru.get('a'), lru.get('b'), lru.get('d')]).toEqual([1, 2, 4]);
    lru.set('e', 5, 1000); // evicts a (order was a, b, d before the reads above made it a, b, d again)
    expect(lru.get('a')).toBeUndefined();
    expect(lru.size).toBe(3);
  });

  it('drops an expired entry on read, also when it was the newest, and stores it afresh after', () => {
    let now = 0;
    const lru = new ExpiringLru<string>(2, () => now);
    lru.set('k', 'v', 10);
    expect(lru.get('k')).toBe('v');
    now = 10;
    expect(lru.get('k')).toBeUndefined();
    expect(lru.size).toBe(0);
    lru.set('k', 'w', 10);
    lru.set('j', 'x', 10);
    expect(lru.get('k')).toBe('w'); // k becomes the newest again: j is evicted next
    lru.set('i', 'y', 10);
    expect(lru.get('j')).toBeUndefined();
    expect(lru.get('k')).toBe('w');
  });

  it('update drops the entries answered undefined, the newest included, and keeps order for the rest', () => {
    const lru = new ExpiringLru<number>(3, () => 0);
    lru.set('a', 1, 1000);
    lru.set('b', 2, 1000);
    lru.update((v) => (v === 2 ? undefined : v * 10));
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBe(10);
    lru.set('b', 3, 1000);
    lru.set('c', 4, 1000);
    lru.get('a'); // b, c, a
    lru.set('d', 5, 1000); // evicts b
    expect(lru.get('b')).toBeUndefined();
    expect(lru.size).toBe(3);
  });
});
