/**
 * retention.messages: default, units, 0 to keep everything, and the floor.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';

describe('retention.messages', () => {
  it('defaults to 30 days and takes durations', () => {
    expect(loadConfig({ raw: {} }).retention.messages).toBe(30 * 86_400_000);
    expect(loadConfig({ raw: { retention: { messages: '90d' } } }).retention.messages).toBe(90 * 86_400_000);
    expect(loadConfig({ raw: { retention: { messages: 0 } } }).retention.messages).toBe(0);
  });

  it('refuses less than a day, naming the key', () => {
    expect(() => loadConfig({ raw: { retention: { messages: '12h' } } })).toThrow(/retention\.messages: must be 0 \(keep everything\) or at least 1d/);
    expect(() => loadConfig({ raw: { retention: { message: '30d' } as never } })).toThrow(/retention/);
  });
});
