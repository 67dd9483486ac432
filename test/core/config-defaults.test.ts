/**
 * Defaults that depend on the operator type: an MM7 operator gets 32 submissions in flight (MMSCs limit connections
 * per VASP), the in-process simulator 128; an explicit value wins either way. Webhooks default to 128 per kind.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';

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
});
