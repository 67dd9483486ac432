/**
 * Several gateway nodes on one PostgreSQL database, each a child process (`node bin/mmsgate.js serve`), with the
 * simulator as operator and a report sink standing in for the customer:
 *   1. two nodes started at the same instant on an empty database both come up;
 *   2. sends spread over three nodes, one node is killed with SIGKILL under load: every accepted message gets
 *      exactly one final report, the survivors take over the dead node's leased jobs, and repeats happen only for
 *      work whose answer the dead node lost;
 *   3. a node stopped with SIGTERM under light load exits 0 and its work completes on the others.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.ts';
import { freshPgDatabase } from '../support/postgres.ts';
import {
  ACCOUNT,
  freePort,
  http,
  send,
  simpleMt,
  sleep,
  spawnGateway,
  writeConfigFile,
  type ChildGateway,
} from '../support/gateway.ts';

/** How long the report sink holds each answer: report jobs stay leased meanwhile, so a killed node holds some. */
const SINK_DELAY_MS = 150;
const LEASE = '2s';

/** One report as the sink received it. */
interface Received {
  mtId: number;
  status: string;
  deliveryId: string;
}

/** A customer endpoint that records REPORT bodies and answers 200 after SINK_DELAY_MS. */
async function startReportSink(): Promise<{ url: string; reports: Received[]; close(): Promise<void> }> {
  const reports: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { mtId: number; status: string };
        reports.push({ mtId: body.mtId, status: body.status, deliveryId: String(req.headers['x-mmsgate-delivery-id'] ?? '') });
      } catch {
        /* not a report: ignored */
      }
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      }, SINK_DELAY_MS);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/reports`;
  return {
    url,
    reports,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The configuration of one node: shared database, its own id and data center. */
function nodeConfig(storeUrl: string, id: string, dataCenter: string, reportUrl: string, dir: string): ConfigInput {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: dir,
    store: storeUrl,
    storePoolSize: 5,
    node: { id, dataCenter },
    log: { level: 'warn' },
    sandbox: { enabled: true }, // the handset copies are read back through /sandbox
    accounts: [
      {
        id: ACCOUNT.id,
        password: ACCOUNT.password,
        mtConfigs: { default: { reportUrl } },
        numbers: [{ number: '88600' }],
      },
    ],
    operators: [{ id: 77, name: 'Sim Mobile', type: 'simulator', prefixes: ['1'], simulator: { deliveryDelay: '100ms' } }],
    webhooks: {
      reports: { retrySchedule: ['100ms', '200ms', '500ms'], maxAge: '2m' },
      mo: { retrySchedule: ['100ms', '200ms', '500ms'], maxAge: '2m' },
      timeout: '5s',
    },
    submit: { retrySchedule: ['100ms', '200ms', '500ms'], maxAge: '2m' },
    queue: { leaseTime: LEASE, pollInterval: '250ms', batchSize: 50 },
  };
}

/** Destination of message number i: one virtual handset per message, so deliveries can be counted per mtId. */
const handsetOf = (i: number) => String(14255500000 + i);

describe('several gateway nodes on one PostgreSQL database', () => {
  let dir: string;
  let storeUrl: string;
  let sink: Awaited<ReturnType<typeof startReportSink>>;
  let db: pg.Client;
  const nodes = new Map<string, ChildGateway>();
  let seq = 0;
  /** mtId -> handset number, for every send answered 200. */
  const accepted = new Map<number, string>();

  const start = async (id: string, dataCenter: string): Promise<ChildGateway> => {
    const file = path.join(dir, `${id}.yaml`);
    writeConfigFile(file, nodeConfig(storeUrl, id, dataCenter, sink.url, dir));
    const gw = await spawnGateway(file, await freePort(), 60_000);
    nodes.set(id, gw);
    return gw;
  };

  /** Sends not accepted, per node URL, with the reason. */
  const refused = new Map<string, string[]>();
  /** Send one message through `gw`; records it when accepted. Network failures (a killed node) count as not accepted. */
  const sendOne = async (gw: ChildGateway): Promise<number | undefined> => {
    const number = handsetOf(seq++);
    let reason: string;
    try {
      const r = await send(gw.url, simpleMt(number));
      if (r.status === 200) {
        const mtId = Number(r.json.mtId);
        accepted.set(mtId, number);
        return mtId;
      }
      reason = `HTTP ${r.status} ${r.body.toString('utf8').slice(0, 200)}`;
    } catch (err) {
      reason = (err as Error).message;
    }
    refused.set(gw.url, [...(refused.get(gw.url) ?? []), reason]);
    return undefined;
  };

  /** Final reports per mtId, as distinct deliveries and as raw requests. */
  const finalReports = () => {
    const byMt = new Map<number, { deliveries: Set<string>; requests: number }>();
    for (const r of sink.reports) {
      if (r.status !== 'Retrieved') continue;
      const e = byMt.get(r.mtId) ?? { deliveries: new Set<string>(), requests: 0 };
      e.deliveries.add(r.deliveryId);
      e.requests++;
      byMt.set(r.mtId, e);
    }
    return byMt;
  };

  const waitForReports = async (mtIds: number[], timeoutMs: number) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const byMt = finalReports();
      const missing = mtIds.filter((id) => !byMt.has(id));
      if (missing.length === 0) return byMt;
      if (Date.now() > end) {
        const logs = [...nodes.values()].map((n) => n.output().slice(-2000)).join('\n---\n');
        throw new Error(`${missing.length} accepted messages have no final report, e.g. ${missing.slice(0, 5).join(', ')}\n${logs}`);
      }
      await sleep(100);
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mmsgate-cluster-'));
    storeUrl = await freshPgDatabase();
    sink = await startReportSink();
    db = new pg.Client({ connectionString: storeUrl });
    await db.connect();
  });

  afterAll(async () => {
    await Promise.all([...nodes.values()].map((n) => n.kill9().catch(() => {})));
    await db?.end().catch(() => {});
    await sink?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('starts two nodes at the same instant on an empty database', async () => {
    const [a, b] = await Promise.all([start('mmsc-01', 'dc1'), start('mmsc-02', 'dc1')]);
    for (const gw of [a, b]) {
      const h = await http(`${gw.url}/healthz`);
      expect(h.status).toBe(200);
      expect(h.json).toMatchObject({ status: 'ok', store: 'postgres' });
    }
    const migrations = await db.query<{ n: string }>('SELECT count(*) AS n FROM schema_migrations');
    expect(Number(migrations.rows[0]!.n)).toBeGreaterThan(0);
  }, 70_000);

  it('survives SIGKILL of one of three nodes under load: no report lost, none doubled', async () => {
    const victim = await start('mmsc-03', 'dc2');
    const all = [nodes.get('mmsc-01')!, nodes.get('mmsc-02')!, victim];
    const survivors = all.slice(0, 2);
    const TOTAL = 150;
    const KILL_AT = 60;
    let issued = 0;
    let killed = false;
    let heldAtKill: { id: string; kind: string }[] = [];

    const killVictim = async () => {
      killed = true; // new sends go to the survivors; the victim dies with its requests and jobs in flight
      await victim.kill9();
      // The leases the dead node held at its death: the work the survivors must take over.
      const r = await db.query<{ id: string; kind: string }>(
        `SELECT id, kind FROM jobs WHERE state = 'ready' AND lease_owner LIKE 'mmsc-03/%' AND lease_expires_at > $1`,
        [Date.now()],
      );
      heldAtKill = r.rows;
    };

    // Eight concurrent senders, round-robin over the live nodes; the victim dies after KILL_AT sends.
    const sender = async (): Promise<void> => {
      while (issued < TOTAL) {
        const n = issued++;
        if (n === KILL_AT) await killVictim();
        const targets = killed ? survivors : all;
        await sendOne(targets[n % targets.length]!);
      }
    };
    await Promise.all(Array.from({ length: 8 }, sender));
    expect(killed).toBe(true);
    // Only requests in flight to the killed node may go unanswered; the survivors accept everything.
    for (const gw of survivors) expect(refused.get(gw.url) ?? []).toEqual([]);
    expect(accepted.size).toBeGreaterThanOrEqual(TOTAL - 8);

    const mtIds = [...accepted.keys()];
    const byMt = await waitForReports(mtIds, 40_000);
    let reportRepeats = 0;
    for (const id of mtIds) {
      const e = byMt.get(id)!;
      // Exactly one final report per message; a repeat may only be the same delivery sent again.
      expect(e.deliveries.size, `mtId ${id}`).toBe(1);
      reportRepeats += e.requests - 1;
    }

    // The dead node's leased jobs were taken over and finished.
    if (heldAtKill.length > 0) {
      const ids = heldAtKill.map((j) => j.id);
      await expect
        .poll(async () => (await db.query(`SELECT id FROM jobs WHERE id = ANY($1) AND state <> 'done'`, [ids])).rowCount, { timeout: 20_000 })
        .toBe(0);
    }

    // Handset deliveries per mtId, read through any surviving node.
    let handsetRepeats = 0;
    for (const [mtId, number] of accepted) {
      const r = await http(`${survivors[mtId % 2]!.url}/sandbox/handsets/${number}/messages`);
      expect(r.status).toBe(200);
      const copies = (r.json as { mtId: number }[]).filter((m) => m.mtId === mtId).length;
      expect(copies, `handset deliveries of ${mtId}`).toBeGreaterThanOrEqual(1);
      handsetRepeats += copies - 1;
    }
    console.log(
      `multi-node: ${accepted.size} accepted, victim held ${heldAtKill.length} leased jobs ` +
        `(${heldAtKill.map((j) => j.kind).join(',') || 'none'}); repeated reports ${reportRepeats}, repeated handset deliveries ${handsetRepeats}`,
    );
    expect(reportRepeats).toBeLessThanOrEqual(heldAtKill.length);
    expect(handsetRepeats).toBeLessThanOrEqual(heldAtKill.length);
  }, 80_000);

  it('drains a node on SIGTERM: it exits 0 and the others finish its work', async () => {
    const [a, b] = [nodes.get('mmsc-01')!, nodes.get('mmsc-02')!];
    const before = new Set(accepted.keys());
    const light = await Promise.all(Array.from({ length: 20 }, () => sendOne(b)));
    const mine = light.filter((id): id is number => id !== undefined);
    expect(mine).toHaveLength(20);
    expect(mine.every((id) => !before.has(id))).toBe(true);

    const t0 = Date.now();
    await Promise.race([
      b.stop(),
      sleep(15_000).then(() => {
        throw new Error(`node did not exit within 15 s after SIGTERM:\n${b.output().slice(-2000)}`);
      }),
    ]);
    expect(b.proc.exitCode).toBe(0);
    nodes.delete('mmsc-02');
    // It handed back what it had not finished: nothing waits for its leases to expire.
    const held = await db.query(`SELECT id FROM jobs WHERE state = 'ready' AND lease_owner LIKE 'mmsc-02/%'`);
    expect(held.rowCount).toBe(0);
    const byMt = await waitForReports(mine, 30_000);
    for (const id of mine) expect(byMt.get(id)!.deliveries.size).toBe(1);
    expect((await http(`${a.url}/healthz`)).status).toBe(200);
    console.log(`multi-node: SIGTERM drain took ${Date.now() - t0} ms`);
  }, 60_000);
});
