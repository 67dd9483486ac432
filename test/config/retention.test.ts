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
    // One error for one value: the idempotency check is not added on top.
    expect(() => loadConfig({ raw: { retention: { messages: '12h' } } })).not.toThrow(/idempotencyTtl/);
    expect(() => loadConfig({ raw: { retention: { message: '30d' } as never } })).toThrow(/retention/);
  });

  it('must outlast idempotency keys, which replay the mtId of the message they name', () => {
    expect(() => loadConfig({ raw: { retention: { messages: '2d' }, api: { idempotencyTtl: '3d' } } })).toThrow(
      /retention\.messages: must not be shorter than api\.idempotencyTtl \(3d\)/,
    );
    expect(loadConfig({ raw: { retention: { messages: 0 }, api: { idempotencyTtl: '3d' } } }).retention.messages).toBe(0);
  });

  it('caps the simulator delivery delay at an hour (handset copies follow their submission closely)', () => {
    const op = (deliveryDelay: string) => ({ operators: [{ id: 77, name: 'Sim', type: 'simulator', prefixes: ['1'], simulator: { deliveryDelay } }] });
    expect(() => loadConfig({ raw: op('2h') as never })).toThrow(/deliveryDelay: must be at most 1h/);
    expect(loadConfig({ raw: op('30m') as never }).operators[0]).toBeDefined();
  });
});
