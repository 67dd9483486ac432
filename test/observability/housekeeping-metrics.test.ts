/**
 * Housekeeping in the metrics: runs by result and rows deleted by kind, so a purge that keeps failing (and a store
 * that grows without bound) can be alerted on.
 */
import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../src/observability/metrics.ts';
import { sample } from '../support/prometheus.ts';

describe('housekeeping metrics', () => {
  it('counts runs by result and deleted rows by kind', async () => {
    const m = new GatewayMetrics('n1');
    // Both results are there before any run (rate() works from the start).
    expect(sample((await m.render()).body, 'mmsgate_housekeeping_runs_total', { result: 'failed', node: 'n1' })).toBe(0);
    m.observeHousekeeping({ idempotencyKeys: 2, doneJobs: 0, parkedReports: 0, retired: { mtMessages: 3, moMessages: 0, sandboxRows: 0, cachedUrls: 0, blobs: 1 } });
    m.observeHousekeeping(undefined);
    m.observeHousekeeping(undefined);
    const body = (await m.render()).body;
    expect(sample(body, 'mmsgate_housekeeping_runs_total', { result: 'ok' })).toBe(1);
    expect(sample(body, 'mmsgate_housekeeping_runs_total', { result: 'failed' })).toBe(2);
    expect(sample(body, 'mmsgate_purged_total', { what: 'mt_messages' })).toBe(3);
    expect(sample(body, 'mmsgate_purged_total', { what: 'blobs' })).toBe(1);
    expect(sample(body, 'mmsgate_purged_total', { what: 'idempotency_keys' })).toBe(2);
    expect(sample(body, 'mmsgate_purged_total', { what: 'mo_messages' })).toBe(0); // present from the start
  });
});
