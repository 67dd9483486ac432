/**
 * api.headersTimeout and api.requestTimeout: defaults, units, and the order node:http requires of them.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';

describe('api request deadlines', () => {
  it('default to 20 s for the headers and 60 s for the whole request', () => {
    const api = loadConfig({ raw: {} }).api;
    expect(api.headersTimeout).toBe(20_000);
    expect(api.requestTimeout).toBe(60_000);
  });

  it('take durations and 0 (no limit)', () => {
    const api = loadConfig({ raw: { api: { headersTimeout: '5s', requestTimeout: '2m' } } }).api;
    expect([api.headersTimeout, api.requestTimeout]).toEqual([5_000, 120_000]);
    const off = loadConfig({ raw: { api: { headersTimeout: 0, requestTimeout: 0 } } }).api;
    expect([off.headersTimeout, off.requestTimeout]).toEqual([0, 0]);
    expect(loadConfig({ raw: { api: { headersTimeout: '90s', requestTimeout: 0 } } }).api.headersTimeout).toBe(90_000);
  });

  it('refuse a headers deadline longer than the request deadline (node:http would throw at start)', () => {
    expect(() => loadConfig({ raw: { api: { headersTimeout: '90s' } } })).toThrow(/headersTimeout/);
    expect(() => loadConfig({ raw: { api: { requestTimeout: '-1s' } } })).toThrow(/requestTimeout/);
    // Either may be the one set by mistake: both values are named.
    expect(() => loadConfig({ raw: { api: { requestTimeout: '5s' } } })).toThrow(/api\.requestTimeout: requestTimeout \(5000 ms\) must not be shorter than headersTimeout \(20000 ms/);
  });

  it('refuse a deadline under 1s other than 0 (a bare number meant as seconds would time out every request): one error each', () => {
    const msg = (api: Record<string, unknown>) => {
      try {
        loadConfig({ raw: { api } });
      } catch (e) {
        return (e as Error).message.split('\n').slice(1);
      }
      return ['accepted'];
    };
    expect(msg({ requestTimeout: 5 })).toEqual(['  api.requestTimeout: must be 0 (no limit) or at least 1s (a bare number is milliseconds: write 10s for ten seconds)']);
    expect(msg({ headersTimeout: 20 })).toEqual(['  api.headersTimeout: must be 0 (no limit) or at least 1s (a bare number is milliseconds: write 10s for ten seconds)']);
    expect(loadConfig({ raw: { api: { headersTimeout: '1s', requestTimeout: '1s' } } }).api.requestTimeout).toBe(1000);
  });
});
