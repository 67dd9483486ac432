import { describe, expect, it } from 'vitest';
import { clampDnsTtl, DnsCache, type ResolvedAddress } from '../../src/client/dns-cache.ts';

function counting(answer: ResolvedAddress[]) {
  let calls = 0;
  const resolver = async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 5));
    return answer;
  };
  return { resolver, calls: () => calls };
}

const both: ResolvedAddress[] = [
  { address: '127.0.0.1', family: 4 },
  { address: '127.0.0.3', family: 4 },
  { address: '::1', family: 6 },
];

describe('DnsCache', () => {
  it('clamps the TTL to at most one minute', () => {
    expect(clampDnsTtl(3_600_000)).toBe(60_000);
    expect(clampDnsTtl(-5)).toBe(0);
    expect(clampDnsTtl(undefined)).toBe(30_000);
    expect(new DnsCache(async () => both, 120_000).ttlMs).toBe(60_000);
  });

  it('shares one query among concurrent look-ups and re-asks after the TTL', async () => {
    const r = counting(both);
    let now = 0;
    const c = new DnsCache(r.resolver, 1000, () => now);
    await Promise.all([c.resolve('a.test'), c.resolve('a.test'), c.resolve('a.test')]);
    expect(r.calls()).toBe(1);
    now = 999;
    await c.resolve('a.test');
    expect(r.calls()).toBe(1);
    now = 1000;
    expect(c.isFresh('a.test')).toBe(false);
    await c.resolve('a.test');
    expect(r.calls()).toBe(2);
    expect(await c.resolve('127.0.0.9')).toEqual([{ address: '127.0.0.9', family: 4 }]);
    expect(r.calls()).toBe(2);
  });

  it('answers net.connect lookups: all addresses, one in turn, or by family', async () => {
    const c = new DnsCache(async () => both, 1000);
    const call = (options: object) =>
      new Promise<unknown[]>((resolve) => c.lookup('a.test', options as never, (...args: unknown[]) => resolve(args)));
    expect(await call({ all: true })).toEqual([null, both]);
    expect((await call({})).slice(1)).toEqual(['127.0.0.1', 4]);
    expect((await call({})).slice(1)).toEqual(['127.0.0.3', 4]);
    expect((await call({ family: 6 })).slice(1)).toEqual(['::1', 6]);
    const none = new DnsCache(async () => [], 1000);
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => none.lookup('x.test', {}, (e) => resolve(e!)));
    expect(err.code).toBe('ENOTFOUND');
  });
});
