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
    // A bare number is milliseconds: `requestTimeout: 5` meant as seconds is named, with both values.
    expect(() => loadConfig({ raw: { api: { requestTimeout: 5 } } })).toThrow(/api\.requestTimeout: requestTimeout \(5 ms\) must not be shorter than headersTimeout \(20000 ms/);
  });
});
