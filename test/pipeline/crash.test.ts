/**
 * kill -9 with hundreds of messages in flight: the gateway (a child process, simulator operator, SQLite file) is
 * killed while sends are still coming in and messages sit at every stage of the pipeline. After a restart on the
 * same file, every accepted mtId gets its one final REPORT at the customer's endpoint (a sink in this process).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import {
  freePort,
  send,
  simpleMt,
  sleep,
  spawnGateway,
  startSink,
  testConfig,
  writeConfigFile,
  type ChildGateway,
  type Sink,
  type SinkRequest,
} from '../support/gateway.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'mmsgate-kill9-pipeline-'));
const children: ChildGateway[] = [];
let sink: Sink | undefined;
afterAll(async () => {
  for (const c of children) await c.kill9();
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

const TARGET = 1000;

describe('kill -9 with messages in flight', () => {
  it('after a restart every accepted mtId gets exactly one final REPORT', { timeout: 90_000 }, async () => {
    sink = await startSink();
    const raw = testConfig({ dir, dbFile: path.join(dir, 'crash.db'), reportUrl: `${sink.url}/reports` });
    // A short lease so the restarted node takes over the dead one's claimed jobs quickly; a delivery delay so many
    // messages are between submission and report at the moment of the kill.
    raw.queue = { pollInterval: '50ms', leaseTime: '2s' };
    raw.operators = [{ id: 77, name: 'Sim Mobile', type: 'simulator', prefixes: ['1'], simulator: { deliveryDelay: '300ms' } }];
    const file = path.join(dir, 'gateway.yaml');
    writeConfigFile(file, raw);

    const first = await spawnGateway(file, await freePort());
    children.push(first);

    const accepted = new Map<number, string>(); // mtId -> destination
    let stop = false;
    let n = 0;
    const worker = async () => {
      while (!stop && n < TARGET * 2) {
        const i = n++;
        // Every 10th message is rejected by the operator (Rejected/9), the others delivered (Retrieved/1).
        const destination = i % 10 === 0 ? '15550100009' : `1555300${String(i).padStart(4, '0')}`;
        try {
          const r = await send(first.url, simpleMt(destination));
          if (r.status === 200) accepted.set(r.json.mtId as number, destination);
        } catch {
          await sleep(5); // the process is gone: this send was not accepted
        }
      }
    };
    const workers = Array.from({ length: 12 }, () => worker());
    const t0 = Date.now();
    while (accepted.size < TARGET && Date.now() - t0 < 30_000) await sleep(10);
    const reportsBeforeKill = sink.requests.length;
    await first.kill9();
    stop = true;
    await Promise.all(workers);
    expect(accepted.size).toBeGreaterThanOrEqual(TARGET);
    // The kill really caught work in flight: not everything had been reported yet.
    expect(reportsBeforeKill).toBeLessThan(accepted.size);

    const second = await spawnGateway(file, await freePort());
    children.push(second);

    const byMtId = (): Map<number, SinkRequest[]> => {
      const m = new Map<number, SinkRequest[]>();
      for (const r of sink!.requests) {
        const id = JSON.parse(r.body.toString()).mtId as number;
        m.set(id, [...(m.get(id) ?? []), r]);
      }
      return m;
    };
    const deadline = Date.now() + 45_000;
    let missing: number[] = [];
    for (;;) {
      const got = byMtId();
      missing = [...accepted.keys()].filter((id) => !got.has(id));
      if (missing.length === 0 || Date.now() > deadline) break;
      await sleep(200);
    }
    expect(missing, `${missing.length} of ${accepted.size} accepted messages never reported; gateway output:\n${second.output().slice(-2000)}`).toEqual([]);
    await sleep(1000); // anything still to come (a duplicate) has time to arrive

    const got = byMtId();
    const problems: string[] = [];
    let duplicates = 0;
    for (const [mtId, destination] of accepted) {
      const reqs = got.get(mtId)!;
      const bodies = reqs.map((r) => JSON.parse(r.body.toString()));
      const expected = destination === '15550100009' ? { status: 'Rejected', outcomeId: 9 } : { status: 'Retrieved', outcomeId: 1 };
      if (!bodies.every((b) => b.type === 'REPORT' && b.status === expected.status && b.outcomeId === expected.outcomeId)) {
        problems.push(`${mtId}: ${JSON.stringify(bodies)}`);
      }
      // One delivery per message. A repeat of the same delivery (same X-Mmsgate-Delivery-Id, same body) is what
      // at-least-once allows when the kill fell between the customer's 200 and our commit; customers drop it by id.
      const deliveryIds = new Set(reqs.map((r) => r.headers['x-mmsgate-delivery-id']));
      if (deliveryIds.size !== 1) problems.push(`${mtId}: ${deliveryIds.size} different deliveries`);
      if (!reqs.every((r) => r.body.equals(reqs[0]!.body))) problems.push(`${mtId}: repeated with a different body`);
      duplicates += reqs.length - 1;
    }
    expect(problems).toEqual([]);
    // Repeats can only come from deliveries in flight at the kill (at most the webhook concurrency).
    expect(duplicates).toBeLessThanOrEqual(128);
    // A graceful stop (SIGTERM) of the restarted node exits cleanly.
    expect(await second.stop()).toBe(0);

    // Nothing was submitted twice: the simulated operator's handsets hold each delivered message exactly once
    // (the simulator's answer is committed with the submission, so it can never be lost).
    const db = new BetterSqlite3(path.join(dir, 'crash.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT mt_id AS mtId, COUNT(*) AS n FROM handset_messages GROUP BY mt_id').all() as { mtId: number; n: number }[];
      const onHandset = new Map(rows.map((r) => [r.mtId, r.n]));
      const delivered = [...accepted].filter(([, d]) => d !== '15550100009').map(([id]) => id);
      expect(rows.filter((r) => r.n !== 1)).toEqual([]);
      expect(delivered.filter((id) => onHandset.get(id) !== 1)).toEqual([]);
    } finally {
      db.close();
    }
  });
});
