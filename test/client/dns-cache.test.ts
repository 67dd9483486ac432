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

  it('does not let a query that never answers hold later callers: each waits to its own limit, then a fresh query', async () => {
    const never = new Promise<ResolvedAddress[]>(() => undefined);
    let late!: (a: ResolvedAddress[]) => void;
    const answers: Promise<ResolvedAddress[]>[] = [never, Promise.resolve(both), new Promise((r) => (late = r))];
    let calls = 0;
    // The cache's own limit (1 s) is far from the callers' (50 and 30 ms), so a loaded machine's late timers cannot
    // blur which limit ended a wait.
    const c = new DnsCache(() => answers[calls++]!, 60_000, Date.now, 1000);
    const t0 = Date.now();
    await expect(c.resolve('a.test', AbortSignal.timeout(50))).rejects.toMatchObject({ code: 'ETIMEOUT' });
    expect(Date.now() - t0).toBeLessThan(600);
    // A caller that joins while the query is shared gives up at its own limit, not the first caller's.
    const t1 = Date.now();
    await expect(c.resolve('a.test', AbortSignal.timeout(30))).rejects.toMatchObject({ code: 'ETIMEOUT' });
    expect(Date.now() - t1).toBeLessThan(600);
    expect(calls).toBe(1);
    // Without a signal the cache's own limit applies (the net.connect lookup path).
    await expect(c.resolve('a.test')).rejects.toMatchObject({ code: 'ETIMEOUT' });
    // The shared query is given up after 1 s: the next caller asks the resolver again and gets an answer.
    await new Promise((r) => setTimeout(r, 50));
    expect(await c.resolve('a.test', AbortSignal.timeout(1000))).toEqual(both);
    expect(calls).toBe(2);
    expect(c.isFresh('a.test')).toBe(true);

    // A query given up earlier that answers after a newer one does not overwrite the newer answer.
    const d = new DnsCache(() => answers[calls++]!, 60_000, Date.now, 20);
    calls = 2;
    const slow = d.resolve('b.test'); // the third answer, settled by hand below
    await expect(slow).rejects.toMatchObject({ code: 'ETIMEOUT' });
    await new Promise((r) => setTimeout(r, 30));
    answers.push(Promise.resolve([{ address: '127.0.0.7', family: 4 }]));
    expect(await d.resolve('b.test')).toEqual([{ address: '127.0.0.7', family: 4 }]);
    late([{ address: '127.0.0.6', family: 4 }]);
    await new Promise((r) => setImmediate(r));
    expect(await d.resolve('b.test')).toEqual([{ address: '127.0.0.7', family: 4 }]);
  }, 5_000);

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
