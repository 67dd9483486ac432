/**
 * Defaults that depend on the operator type: an MM7 operator gets 32 submissions in flight (MMSCs limit connections
 * per VASP), the in-process simulator 128; an explicit value wins either way. Webhooks default to 128 per kind. MO
 * webhooks are retried for 72 h by default, reports for 24 h, whichever keys of theirs are given.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { parseDuration } from '../../src/core/retry-policy.ts';

const mm7 = { url: 'http://127.0.0.1:9/mm7', username: 'u', password: 'p', vaspId: 'v' };

describe('configuration defaults', () => {
  it('sets operator concurrency by type and keeps an explicit value', () => {
    const config = loadConfig({
      raw: {
        operators: [
          { id: 77, type: 'simulator', prefixes: ['1'] },
          { id: 78, type: 'mm7', prefixes: ['44'], mm7 },
          { id: 79, type: 'mm7', prefixes: ['49'], mm7, limits: { concurrency: 5 } },
          { id: 80, type: 'simulator', prefixes: ['33'], limits: { concurrency: 7 } },
        ],
      },
    });
    expect(config.operators.map((o) => [o.id, o.limits.concurrency])).toEqual([
      [77, 128],
      [78, 32],
      [79, 5],
      [80, 7],
    ]);
    expect(config.operators.every((o) => o.limits.messagesPerSecond === 0)).toBe(true);
    expect(config.webhooks.concurrency).toBe(128);
  });

  it('keeps the 72 h MO maxAge when only webhooks.mo.retrySchedule is given; reports keep 24 h', () => {
    const hours = (n: number) => n * 3600_000;
    const config = loadConfig({ raw: { webhooks: { mo: { retrySchedule: ['1s', '1m'] } } } });
    expect(config.webhooks.mo.retrySchedule).toEqual([1000, 60_000]);
    expect(config.webhooks.mo.maxAge).toBe(hours(72));
    expect(config.webhooks.reports.maxAge).toBe(hours(24));

    const defaultSchedule = ['1s', '5s', '30s', '2m', '10m', '1h'].map(parseDuration);
    for (const webhooks of [{}, { mo: {} }, { reports: { retrySchedule: ['1s'] } }, { reports: { maxAge: '1h' } }]) {
      const c = loadConfig({ raw: { webhooks } });
      expect(c.webhooks.mo, JSON.stringify(webhooks)).toEqual({ retrySchedule: defaultSchedule, maxAge: hours(72) });
    }
    expect(loadConfig({ raw: { webhooks: { mo: { retrySchedule: ['1s'] } } } }).webhooks.reports).toEqual({ retrySchedule: defaultSchedule, maxAge: hours(24) });
    expect(loadConfig({ raw: { webhooks: { mo: { maxAge: '5h' } } } }).webhooks.mo.maxAge).toBe(hours(5));
  });
  it('refuses an inbound section that would let anyone in or has a username without a secret', () => {
    // Shapes the schema refuses as well as ones it takes: typed as raw input only.
    const op = (inbound: object) =>
      ({
        operators: [{ id: 5, name: 'M', type: 'mm7', prefixes: ['1'], mm7: { url: 'http://127.0.0.1:9/mm7', vaspId: 'v' }, inbound }],
      }) as never;
    expect(() => loadConfig({ raw: op({ username: 'mmsc' }) })).toThrow(/password/);
    expect(() => loadConfig({ raw: op({ password: 'pw' }) })).toThrow(/username/);
    expect(() => loadConfig({ raw: op({}) })).toThrow(/inbound/);
    const byAddress = loadConfig({ raw: op({ allowIps: ['10.1.2.0/24'] }) }).operators[0]!.inbound!;
    expect(byAddress).toMatchObject({ allowIps: ['10.1.2.0/24'] });
    expect(byAddress.username).toBeUndefined();
    const withPassword = loadConfig({ raw: op({ username: 'mmsc', password: 'pw' }) }).operators[0]!.inbound!;
    expect(withPassword.passwordHash).toMatch(/^scrypt\$/);
    expect(withPassword.password).toBeUndefined();
  });
  it('gives a simulator operator without a simulator section the documented simulator defaults', () => {
    const config = loadConfig({ raw: { operators: [{ id: 77, name: 'Sim', type: 'simulator', prefixes: ['1'] }] } });
    expect(config.operators[0]!.simulator?.userAgent).toBe('SimPhone MMS/1.0');
  });
});
