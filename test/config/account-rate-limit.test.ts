/**
 * accounts[].maxSendsPerSecond and accounts[].sendBurst: optional, and refused with the key named when wrong.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';

function load(account: Record<string, unknown>) {
  return loadConfig({ raw: { accounts: [{ id: 'acme', password: 'pw', ...account }] } as never });
}

describe('per-account send rate settings', () => {
  it('are absent (unlimited) by default and kept as given', () => {
    const plain = load({}).accounts[0]!;
    expect(plain.maxSendsPerSecond).toBeUndefined();
    expect(plain.sendBurst).toBeUndefined();
    const limited = load({ maxSendsPerSecond: 0.5, sendBurst: 3 }).accounts[0]!;
    expect([limited.maxSendsPerSecond, limited.sendBurst]).toEqual([0.5, 3]);
  });

  it('refuse a rate that is not a number above 0, naming the key', () => {
    for (const bad of [0, -2, '10', Infinity]) {
      expect(() => load({ maxSendsPerSecond: bad }), String(bad)).toThrow(/accounts\.0\.maxSendsPerSecond: /);
    }
    expect(() => load({ maxSendsPerSecond: 0 })).toThrow(/maxSendsPerSecond: must be a number of sends per second above 0/);
  });

  it('refuse a burst that is not a whole number of at least 1, naming the key', () => {
    expect(() => load({ maxSendsPerSecond: 5, sendBurst: 0 })).toThrow(/accounts\.0\.sendBurst: must be at least 1/);
    expect(() => load({ maxSendsPerSecond: 5, sendBurst: 2.5 })).toThrow(/accounts\.0\.sendBurst: must be a whole number/);
  });

  it('refuse a burst without a rate (it would silently limit nothing)', () => {
    expect(() => load({ sendBurst: 5 })).toThrow(/accounts\.0\.sendBurst: sendBurst needs maxSendsPerSecond/);
  });
});
