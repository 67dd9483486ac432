/**
 * The submit step's retry timing: the backoff after a temporary refusal counts from the moment the attempt failed,
 * however long preparing and submitting took (a slow operator must not shorten the first delay).
 */
import { describe, expect, it } from 'vitest';
import { schedule, TemporaryError } from '../../src/core/retry-policy.ts';
import type { Connector } from '../../src/operators/connector.ts';
import { createSubmitStep } from '../../src/pipeline/submit-step.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Job } from '../../src/store/store.ts';
import { BINARY, blobOf, mtOf, partOf } from '../store/fixtures.ts';

const T0 = 1_800_000_000_000;

describe('submit step', () => {
  it('schedules the retry of a temporary refusal from the failure, not from the start of the attempt', async () => {
    const store = await openStore('sqlite::memory:');
    try {
      const b = blobOf(BINARY);
      const mt = mtOf(4242, [partOf(b, 'application/octet-stream', 'p')], { operatorId: 77 });
      await store.write([{ blobs: [b], mts: [mt] }]);
      let clock = T0;
      let failedAt = 0;
      // An operator that takes 5 s to answer "try later".
      const slow: Connector = {
        operatorId: 77,
        async submit() {
          clock += 5_000;
          failedAt = clock;
          throw new TemporaryError('MM7 3001 Not Possible');
        },
        async close() {},
      };
      const step = createSubmitStep({
        store,
        connectors: new Map([[77, slow]]),
        schedule: schedule(['100ms'], '1h', 0, 0), // no jitter: the delay is exactly 100 ms
        nodeId: 'n1',
        concurrency: 1,
        reportUrlFor: () => undefined,
        configured: { operator: () => true, account: () => true, mtConfig: () => true },
        limitsFor: () => ({ maxMessageBytes: 600_000, maxImageWidth: 1600, maxImageHeight: 1600, generateSmil: false, maxFetchedBytes: 10 * 1024 * 1024 }),
        cache: undefined,
        now: () => clock,
      });
      const job = { id: 1, kind: 'submit', refId: mt.mtId, attempts: 1, firstAttemptAt: T0 } as Job;
      const out = await step.run(job);
      expect(out.type).toBe('retry');
      expect(failedAt).toBe(T0 + 5_000);
      expect((out as { runAt: number }).runAt).toBe(failedAt + 100);
      const event = out.effects?.events?.[0];
      expect(event).toMatchObject({ type: 'submit-retry', at: failedAt });
    } finally {
      await store.close();
    }
  });

  it('sends a message accepted with a test mtConfig only to its stand-in, and never falls back to the real operator', async () => {
    const store = await openStore('sqlite::memory:');
    try {
      const b = blobOf(BINARY);
      const mts = [4301, 4302, 4303].map((id) => mtOf(id, [partOf(b, 'application/octet-stream', 'p')], { operatorId: 77 }));
      await store.write([{ blobs: [b], mts }]);
      const calls: string[] = [];
      const connector = (name: string, operatorId: number): Connector => ({
        operatorId,
        async submit(req) {
          calls.push(`${name}:${req.mt.mtId}`);
          return { operatorMessageId: `${name}-${req.mt.mtId}` };
        },
        async close() {},
      });
      const deps = {
        store,
        connectors: new Map([[77, connector('real', 77)]]),
        schedule: schedule(['100ms'], '1h', 0, 0),
        nodeId: 'n1',
        concurrency: 1,
        reportUrlFor: () => undefined,
        configured: { operator: () => true, account: () => true, mtConfig: () => true },
        limitsFor: () => ({ maxMessageBytes: 600_000, maxImageWidth: 1600, maxImageHeight: 1600, generateSmil: false, maxFetchedBytes: 10 * 1024 * 1024 }),
        cache: undefined,
      };
      const job = (refId: number, payload: Record<string, unknown>) => ({ id: refId, kind: 'submit', refId, attempts: 1, firstAttemptAt: T0, payload }) as Job;
      const step = createSubmitStep({ ...deps, testConnectors: new Map([[77, connector('stand-in', 77)]]) });
      expect((await step.run(job(4301, { test: true }))).type).toBe('done');
      expect((await step.run(job(4302, {}))).type).toBe('done'); // accepted as live: the real operator
      // No stand-in for its operator (e.g. the configuration changed since): unroutable, not sent for real.
      const out = await createSubmitStep({ ...deps, testConnectors: new Map() }).run(job(4303, { test: true }));
      expect(out.effects?.events?.[0]).toMatchObject({ type: 'submit-failed' });
      expect(calls).toEqual(['stand-in:4301', 'real:4302']);
    } finally {
      await store.close();
    }
  });
});
