/**
 * Intervals, retry delays and lifetimes that mean nothing at 0 or a few milliseconds (most often a bare number meant
 * as seconds, which is read as milliseconds): refused at start with the key, the floor and how to write a duration,
 * instead of a node that polls or heartbeats continuously, retries in a loop, or forgets at once.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { configIssues } from './config-issues.ts';

const HOW = '(a bare number is milliseconds: write 10s for ten seconds)';
const operator = (mm7: Record<string, unknown>) => ({ id: 78, type: 'mm7', mm7: { url: 'http://mmsc.example/mm7', ...mm7 } });

const issues = configIssues;

describe('a duration under its floor', () => {
  it.each([
    ['queue.pollInterval', { queue: { pollInterval: 0 } }, `must be at least 50ms ${HOW}`],
    ['queue.pollInterval', { queue: { pollInterval: '10ms' } }, `must be at least 50ms ${HOW}`],
    ['node.heartbeatInterval', { node: { heartbeatInterval: 0 } }, `must be at least 1s ${HOW}`],
    ['node.heartbeatInterval', { node: { heartbeatInterval: 5 } }, `must be at least 1s ${HOW}`],
    ['submit.retrySchedule.1', { submit: { retrySchedule: ['1s', 0] } }, `must be at least 50ms ${HOW}`],
    ['webhooks.reports.retrySchedule.0', { webhooks: { reports: { retrySchedule: [30] } } }, `must be at least 50ms ${HOW}`],
    ['webhooks.mo.retrySchedule.0', { webhooks: { mo: { retrySchedule: ['0s'] } } }, `must be at least 50ms ${HOW}`],
    ['api.authCacheTtl', { api: { authCacheTtl: 300 } }, `must be at least 1s ${HOW}`],
    ['api.idempotencyTtl', { api: { idempotencyTtl: 0 } }, `must be at least 5m ${HOW}`],
    ['api.idempotencyTtl', { api: { idempotencyTtl: 86_400 } }, `must be at least 5m ${HOW}`],
    ['api.headersTimeout', { api: { headersTimeout: 20 } }, `must be 0 (no limit) or at least 1s ${HOW}`],
    ['operators.0.mm7.expiry', { operators: [operator({ expiry: 48 })] }, `must be at least 1m ${HOW}`],
  ])('%s (%j) is refused, naming the key and the floor', (key, raw, message) => {
    expect(issues(raw)).toEqual([`  ${key}: ${message}`]);
  });

  it('a heartbeat interval over 10 minutes is refused (the node registry would cap it there without a word)', () => {
    expect(issues({ node: { heartbeatInterval: '1h' } })).toEqual([
      '  node.heartbeatInterval: must be at most 10m (a dead node would count as live, keeping its share of the rate limits, for 3 intervals)',
    ]);
  });

  it('the floors themselves, and the defaults, are accepted', () => {
    const c = loadConfig({
      raw: {
        queue: { pollInterval: '50ms' },
        node: { heartbeatInterval: '1s' },
        submit: { retrySchedule: ['50ms'] },
        api: { authCacheTtl: '1s', idempotencyTtl: '5m' },
        operators: [operator({ expiry: '1m' })],
      } as never,
    });
    expect([c.queue.pollInterval, c.node.heartbeatInterval, c.submit.retrySchedule, c.api.authCacheTtl, c.api.idempotencyTtl]).toEqual([50, 1000, [50], 1000, 300_000]);
    expect(c.operators[0]!.mm7!.expiry).toBe(60_000);
    expect(loadConfig({ raw: { node: { heartbeatInterval: '10m' } } }).node.heartbeatInterval).toBe(600_000);
    const d = loadConfig({ raw: {} });
    expect([d.queue.pollInterval, d.node.heartbeatInterval, d.api.authCacheTtl, d.api.idempotencyTtl]).toEqual([1000, 5000, 300_000, 86_400_000]);
  });

  it('0 stays accepted where it has a meaning: immediate simulated delivery, no caching of remote content, keep everything', () => {
    const c = loadConfig({
      raw: {
        operators: [{ id: 77, type: 'simulator', prefixes: ['1'], simulator: { deliveryDelay: 0, chaos: { extraLatency: 0 } } }],
        remoteContent: { defaultTtl: 0, maxTtl: 0 },
        retention: { messages: 0 },
      } as never,
    });
    expect([c.operators[0]!.simulator!.deliveryDelay, c.remoteContent.defaultTtl, c.remoteContent.maxTtl, c.retention.messages]).toEqual([0, 0, 0, 0]);
  });
});

describe('relations between the cluster keys', () => {
  it('a heartbeat interval longer than the job lease is accepted: leases are renewed by the job runner, never by heartbeats', () => {
    // A claim takes a job whose lease has ended (store claimJobs), whatever the heartbeats say, and a running job's
    // lease is renewed every third of leaseTime by the runner that holds it (pipeline/job-runner.ts): no node takes a
    // healthy node's job because its heartbeats are further apart than the lease.
    const c = loadConfig({ raw: { node: { heartbeatInterval: '2m' }, queue: { leaseTime: '30s', pollInterval: '1m' } } });
    expect([c.node.heartbeatInterval, c.queue.leaseTime, c.queue.pollInterval]).toEqual([120_000, 30_000, 60_000]);
  });
});
