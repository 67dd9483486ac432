import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schedule } from '../../src/core/retry-policy.ts';
import { createMoStep, createReportStep } from '../../src/pipeline/webhook-steps.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Job, Store } from '../../src/store/store.ts';
import { WebhookDispatcher } from '../../src/webhooks/webhook-dispatcher.ts';
import { blobOf, moOf, partOf } from '../store/fixtures.ts';

const HOUR = 3_600_000;

/** A customer endpoint that is down (503) for the whole test. */
let server: Server;
let url: string;
let store: Store;
let dispatcher: WebhookDispatcher;

beforeAll(async () => {
  server = createServer((_req, res) => res.writeHead(503).end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  store = await openStore('sqlite::memory:');
  dispatcher = new WebhookDispatcher({ max4xxAttempts: 3, timeoutMs: 2000, addressPolicy: { allowPrivateAddresses: true } }, pino({ level: 'silent' }));
});
afterAll(async () => {
  await dispatcher.close();
  await store.close();
  await new Promise((r) => server.close(r));
});

function jobOf(kind: 'report' | 'mo', refId: number, firstAttemptAt: number, payload: Record<string, unknown>): Job {
  return { id: 1, kind, refId, orderKey: null, payload, state: 'ready', runAt: 0, attempts: 9, firstAttemptAt, leaseOwner: 'w', leaseExpiresAt: null, lastError: null, createdAt: 0, updatedAt: 0 };
}

describe('webhook retry horizons', () => {
  it('keeps retrying an MO for 72 h but gives a report up after 24 h (each kind its own schedule)', async () => {
    const deps = {
      store,
      dispatcher,
      nodeId: 'n',
      concurrency: 1,
      reportSchedule: schedule(['1h'], '24h'),
      moSchedule: schedule(['1h'], '72h'),
      secretsFor: () => [],
      configured: { operator: () => true, account: () => true, mtConfig: () => true },
    };
    const b = blobOf(Buffer.from('hi'));
    await store.write([{ blobs: [b], mos: [moOf(500, [partOf(b, 'text/plain', 'text.txt')])] }]);
    const thirtyHoursAgo = Date.now() - 30 * HOUR;

    const mo = await createMoStep(deps).run(jobOf('mo', 500, thirtyHoursAgo, { url, requestId: 'r', accountId: 'a' }));
    expect(mo.type).toBe('retry');

    const report = await createReportStep(deps).run(jobOf('report', 7, thirtyHoursAgo, { url, requestId: 'r', accountId: 'a', body: { type: 'REPORT', mtId: 7 } }));
    expect(report.type).toBe('dead');
  });
});

describe('a webhook step stopped for its lease', () => {
  it('cuts the POST to a slow endpoint short and fails the attempt as retryable, with the reason', async () => {
    let received = 0;
    const slow = createServer(() => {
      received++; // never answers
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/hook`;
    try {
      const deps = { store, dispatcher, nodeId: 'n', concurrency: 1, reportSchedule: schedule(['1h'], '24h'), moSchedule: schedule(['1h'], '72h'), secretsFor: () => [], configured: { operator: () => true, account: () => true, mtConfig: () => true } };
      const stop = new AbortController();
      setTimeout(() => stop.abort(new Error('lease gone')), 200);
      const started = Date.now();
      const job = jobOf('report', 8, Date.now(), { url: slowUrl, requestId: 'r', accountId: 'a', body: { type: 'REPORT', mtId: 8 } });
      const out = await createReportStep(deps).run(job, stop.signal);
      expect(Date.now() - started).toBeLessThan(1500); // not the dispatcher's 2 s timeout
      expect(received).toBe(1);
      expect(out.type).toBe('retry');
      expect(out.type === 'retry' && out.error).toContain('lease gone');
    } finally {
      slow.closeAllConnections();
      await new Promise((r) => slow.close(r));
    }
  });
});

describe('a webhook for an account this node does not know (nodes with different configurations)', () => {
  it('is not posted, unsigned for lack of the secrets, but passed on to the nodes that have the account, this one held back for its schedule\'s first delay', async () => {
    let received = 0;
    const counting = createServer((_req, res) => {
      received++;
      res.writeHead(200).end();
    });
    await new Promise<void>((r) => counting.listen(0, '127.0.0.1', r));
    const hook = `http://127.0.0.1:${(counting.address() as AddressInfo).port}/hook`;
    try {
      const deps = {
        store,
        dispatcher,
        nodeId: 'n',
        concurrency: 1,
        // The job has had 9 attempts (jobOf): a real failure would now wait an hour.
        reportSchedule: schedule(['1s', '1h'], '24h'),
        moSchedule: schedule(['1s', '1h'], '72h'),
        secretsFor: () => [],
        configured: { operator: () => true, account: (id: string) => id !== 'newcomer', mtConfig: () => true },
      };
      const b = blobOf(Buffer.from('hi'));
      await store.write([{ blobs: [b], mos: [moOf(501, [partOf(b, 'text/plain', 'text.txt')])] }]);
      const now = Date.now();
      const report = await createReportStep(deps).run(jobOf('report', 9, now, { url: hook, requestId: 'r', accountId: 'newcomer', body: { type: 'REPORT', mtId: 9 } }));
      const mo = await createMoStep(deps).run(jobOf('mo', 501, now, { url: hook, requestId: 'r', accountId: 'newcomer' }));
      for (const out of [report, mo]) {
        expect(out).toMatchObject({ type: 'retry', error: "account newcomer is not in this node's configuration", passOn: true });
        // Due at once for the other nodes (job-runner.ts); this one may claim it again after the schedule's first
        // delay, however often it claimed it before.
        expect(out.type === 'retry' && out.runAt - now).toBeLessThan(2_000);
      }
      expect(received).toBe(0);
    } finally {
      await new Promise((r) => counting.close(r));
    }
  });
});
