/**
 * The benchmark scenarios, as a list: each starts its own server process(es), drives load from a separate process,
 * and returns one row of the results table. Adding a variant (another store, more nodes) means adding an entry.
 */
import { join } from 'node:path';
import type { ConfigInput } from '../src/config/schema.ts';
import { runLoadChild, startServer, type ServerHandle } from './children.ts';
import type { LoadResult, LoadSpec } from './load-main.ts';
import { freshDatabase, type BenchPostgres } from './postgres.ts';
import type { ReportSink } from './report-sink.ts';
import type { SqlTiming } from './sql-timing.ts';
import { BENCH_ACCOUNT, BENCH_SOURCE, basicAuth } from './request-body.ts';
import { epochMs, summarize, type LatencySummary } from './stats.ts';

/** Knobs, from the environment (see bench/run.ts). */
export interface BenchSettings {
  seconds: number;
  warmupSeconds: number;
  connections: number;
  /** Sends per second in the end-to-end scenario. */
  e2eRate: number;
  /** Longest wait for reports after the last send. */
  drainSeconds: number;
  /** Rounds of baseline + accept, alternating (bench/run.ts). */
  rounds: number;
  /** Scratch folder for SQLite files (removed at the end). */
  tmpDir: string;
  /** When set, servers write V8 CPU profiles under this folder (one sub-folder per scenario). */
  cpuProfileDir?: string;
}

/** Shared things a scenario may use. */
export interface BenchEnv {
  settings: BenchSettings;
  sink: ReportSink;
  /** The PostgreSQL server (started on first use, shared by the postgres scenarios). */
  postgres(): Promise<BenchPostgres>;
  /** Rows measured so far, by scenario id (the accept rows compare with `baseline`). */
  results: Map<string, ScenarioResult>;
}

/** One row of the results. Latencies in ms. */
export interface ScenarioResult {
  id: string;
  title: string;
  unit: string;
  throughput: number;
  latency: LatencySummary;
  errors: number;
  ratioToBaseline?: number;
  target?: { description: string; met: boolean };
  /** Server CPU over the measured window, 100 = one core busy (sum over nodes). */
  serverCpuPercent?: number;
  /** Why it did not run (not a failure of the benchmark). */
  skipped?: string;
  details: Record<string, unknown>;
}

/** A scenario. */
export interface Scenario {
  id: string;
  title: string;
  run(env: BenchEnv): Promise<ScenarioResult>;
}

const SEND_PATH = '/mms/v2/send';

/** A SQLite store URL, with BENCH_SQLITE_OPTIONS (e.g. "writerThread=true") appended when set. */
export function sqliteUrl(path: string): string {
  const options = process.env.BENCH_SQLITE_OPTIONS;
  return options ? `sqlite:${path}?${options}` : `sqlite:${path}`;
}

/** The sandbox-like gateway config every scenario uses; `store` and `workers` vary. */
export function gatewayConfig(opts: { store: string; reportUrl: string; nodeId: string }): ConfigInput {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    store: opts.store,
    node: { id: opts.nodeId },
    log: { level: 'warn' },
    accounts: [
      {
        id: BENCH_ACCOUNT.id,
        password: BENCH_ACCOUNT.password,
        mtConfigs: { default: { reportUrl: opts.reportUrl } },
        numbers: [{ number: BENCH_SOURCE }],
      },
    ],
    operators: [{ id: 77, type: 'simulator', prefixes: ['1'], simulator: { deliveryDelay: 0 } }],
  };
}

function loadSpec(env: BenchEnv, origins: string[], extra: Partial<LoadSpec> = {}): LoadSpec {
  const s = env.settings;
  return {
    origins,
    path: SEND_PATH,
    authorization: basicAuth(),
    connections: s.connections,
    warmupMs: s.warmupSeconds * 1000,
    durationMs: s.seconds * 1000,
    rate: 0,
    recordSends: false,
    bodies: 512,
    ...extra,
  };
}

/** Server-side samples taken at the edges of the measured window. */
interface Sample {
  cpuMs: number[];
  sql: (SqlTiming | null)[];
}

/** What the servers did over the measured window. */
interface Measured {
  load: LoadResult;
  cpuPercent: number;
  /** Group commits over the window (BENCH_SQL_TIMING=1 only). */
  sql?: Record<string, unknown>;
}

function sqlDelta(a: (SqlTiming | null)[], b: (SqlTiming | null)[], windowMs: number): Record<string, unknown> | undefined {
  if (!a.every(Boolean) || !b.every(Boolean)) return undefined;
  const statements: Record<string, { count: number; ms: number }> = {};
  let mtRows = 0;
  b.forEach((end, i) => {
    const start = a[i]!;
    mtRows += end!.mtRows - start.mtRows;
    for (const [k, v] of Object.entries(end!.statements)) {
      const s0 = start.statements[k] ?? { count: 0, ms: 0 };
      const e = (statements[k] ??= { count: 0, ms: 0 });
      e.count += v.count - s0.count;
      e.ms += v.ms - s0.ms;
    }
  });
  for (const [k, v] of Object.entries(statements)) if (v.count === 0) delete statements[k];
  const commits = statements.commit?.count ?? 0;
  const sqlMs = Object.values(statements).reduce((n, v) => n + v.ms, 0);
  return {
    commits,
    mtPerCommit: commits ? mtRows / commits : NaN,
    msPerCommitStatement: commits ? statements.commit!.ms / commits : NaN,
    /** Share of the window the event loop spent inside SQLite calls. */
    sqlBusyPercent: (sqlMs / windowMs) * 100,
    statements,
  };
}

/** Run a load against servers, sampling their CPU time (and SQL timings) exactly over the measured window. */
async function measure(servers: ServerHandle[], spec: LoadSpec): Promise<Measured> {
  let atStart: Promise<Sample> | undefined;
  let atEnd: Promise<Sample> | undefined;
  const timers: NodeJS.Timeout[] = [];
  const sample = async (): Promise<Sample> => {
    const [cpuMs, sql] = await Promise.all([Promise.all(servers.map((s) => s.cpuMs())), Promise.all(servers.map((s) => s.sqlTiming()))]);
    return { cpuMs, sql };
  };
  const load = await runLoadChild(spec, (start, end) => {
    timers.push(setTimeout(() => (atStart = sample()), Math.max(0, start - epochMs())));
    timers.push(setTimeout(() => (atEnd = sample()), Math.max(0, end - epochMs())));
  });
  timers.forEach(clearTimeout);
  if (!atStart || !atEnd) return { load, cpuPercent: NaN };
  const [a, b] = await Promise.all([atStart, atEnd]);
  const windowMs = load.windowEnd - load.windowStart;
  const used = b.cpuMs.reduce((n, v, i) => n + v - a.cpuMs[i]!, 0);
  return { load, cpuPercent: (used / windowMs) * 100, sql: sqlDelta(a.sql, b.sql, windowMs) };
}

/**
 * The closed-loop load's HTTP clients (BENCH_LOAD_CLIENT): by default both, undici then the raw client
 * (bench/raw-http-client.ts), each with its own warm-up on the same server processes; `raw` or `undici` runs one.
 *
 * Why both: on a 2-core machine the load generator shares the cores with the server, and which client gets the
 * most out of a server depends on the server. The bare node:http server reads ~15% more requests a second under
 * undici (the client then busy on its core sends requests in bursts); the gateway, whose writer thread needs the
 * second core, accepts ~5-10% more under the raw client, which takes less CPU per request (docs/benchmarks.md).
 * Each scenario's row is its better run (its capacity as far as this machine can measure it), so the ratio compares
 * best with best; the JSON keeps both figures and the row's errors count both runs.
 */
function closedLoopClients(): ('undici' | 'raw')[] {
  const v = process.env.BENCH_LOAD_CLIENT;
  return v === 'raw' ? ['raw'] : v === 'undici' ? ['undici'] : ['undici', 'raw'];
}

/** measure() once per closed-loop client; the better run, with both figures for the row's details. */
async function measureClosedLoop(servers: ServerHandle[], env: BenchEnv): Promise<{ m: Measured; details: Record<string, unknown> }> {
  let best: { m: Measured; client: string } | undefined;
  const byClient: Record<string, number> = {};
  let errors = 0;
  for (const client of closedLoopClients()) {
    const m = await measure(servers, loadSpec(env, servers.map((s) => s.url), { client }));
    byClient[client] = m.load.completed / ((m.load.windowEnd - m.load.windowStart) / 1000);
    errors += m.load.errors;
    if (!best || m.load.completed > best.m.load.completed) best = { m, client };
  }
  const m = { ...best!.m, load: { ...best!.m.load, errors } };
  return { m, details: { loadClient: best!.client, throughputByLoadClient: byClient } };
}

function throughputRow(
  base: Pick<ScenarioResult, 'id' | 'title' | 'unit'>,
  env: BenchEnv,
  m: Measured,
  details: Record<string, unknown> = {},
): ScenarioResult {
  const { load } = m;
  const seconds = (load.windowEnd - load.windowStart) / 1000;
  const throughput = load.completed / seconds;
  const baseline = env.results.get('baseline');
  return {
    ...base,
    throughput,
    latency: summarize(load.latencies),
    errors: load.errors,
    serverCpuPercent: m.cpuPercent,
    ...(baseline && base.id !== 'baseline' && baseline.throughput > 0 ? { ratioToBaseline: throughput / baseline.throughput } : {}),
    details: { statusCounts: load.statusCounts, firstError: load.firstError, windowSeconds: seconds, loadGeneratorCpuPercent: load.cpuPercent, ...(m.sql ? { sql: m.sql } : {}), ...details },
  };
}

/** Accept-only target from the issue: >= 10,000 MT/s and >= 0.4 of the bare node:http baseline. */
export function acceptTarget(row: ScenarioResult): ScenarioResult {
  const fast = row.throughput >= 10_000;
  // Without a baseline in the run (BENCH_ONLY=accept) only half the target can be judged: say so, not "met".
  if (row.ratioToBaseline === undefined) return { ...row, target: { description: '>= 10,000 MT/s; the 0.4 x baseline half not judged: no baseline in this run', met: fast } };
  return { ...row, target: { description: '>= 10,000 MT/s and >= 0.4 x baseline', met: fast && row.ratioToBaseline >= 0.4 } };
}

async function withServers<T>(starts: (() => Promise<ServerHandle>)[], body: (servers: ServerHandle[]) => Promise<T>): Promise<T> {
  const servers: ServerHandle[] = [];
  try {
    // One after the other: the second node must find the schema already migrated.
    for (const start of starts) servers.push(await start());
    return await body(servers);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

function profileDir(env: BenchEnv, id: string): string | undefined {
  return env.settings.cpuProfileDir ? join(env.settings.cpuProfileDir, id) : undefined;
}

const baseline: Scenario = {
  id: 'baseline',
  title: 'baseline (bare node:http)',
  run: (env) =>
    withServers([() => startServer({ kind: 'baseline' }, { cpuProfileDir: profileDir(env, 'baseline') })], async (servers) => {
      const { m, details } = await measureClosedLoop(servers, env);
      return throughputRow({ id: 'baseline', title: 'baseline (bare node:http)', unit: 'req/s' }, env, m, details);
    }),
};

function acceptSqlite(nodes: number): Scenario {
  const id = nodes === 1 ? 'accept' : `accept-${nodes}`;
  const title = nodes === 1 ? 'accept (SQLite, WAL synced per 200)' : `accept (SQLite, ${nodes} processes)`;
  return {
    id,
    title,
    run: (env) => {
      const store = sqliteUrl(join(env.settings.tmpDir, `${id}.db`));
      const starts = Array.from({ length: nodes }, (_, i) => () => {
        const raw = gatewayConfig({ store, reportUrl: env.sink.reportUrl, nodeId: `bench-${i + 1}` });
        return startServer({ kind: 'gateway', raw, workers: false }, { cpuProfileDir: profileDir(env, id) });
      });
      return withServers(starts, async (servers) => {
        const { m, details } = await measureClosedLoop(servers, env);
        return acceptTarget(throughputRow({ id, title, unit: 'MT/s' }, env, m, { store: 'sqlite', nodes, ...details }));
      });
    },
  };
}

/** Accept-only on PostgreSQL with `nodes` gateway processes sharing one database; the load is split across them. */
function acceptPostgres(nodes: number): Scenario {
  const id = `accept-pg-${nodes}`;
  const title = `accept (PostgreSQL, ${nodes} node${nodes > 1 ? 's' : ''})`;
  return {
    id,
    title,
    async run(env) {
      let pg: BenchPostgres;
      try {
        pg = await env.postgres();
      } catch (err) {
        const reason = (err as Error).message.split('\n')[0]!;
        return { id, title, unit: 'MT/s', throughput: NaN, latency: summarize(new Float64Array()), errors: 0, skipped: reason, details: {} };
      }
      const store = await freshDatabase(pg.adminUrl, 'bench');
      const starts = Array.from({ length: nodes }, (_, i) => () => {
        const raw = gatewayConfig({ store, reportUrl: env.sink.reportUrl, nodeId: `bench-${i + 1}` });
        return startServer({ kind: 'gateway', raw, workers: false }, { cpuProfileDir: profileDir(env, id) });
      });
      return withServers(starts, async (servers) => {
        const { m, details } = await measureClosedLoop(servers, env);
        return acceptTarget(throughputRow({ id, title, unit: 'MT/s' }, env, m, { store: 'postgres', postgres: pg.source, nodes, ...details }));
      });
    },
  };
}

/** Wait until every sent mtId has a report, progress stalls for 10 s, or the drain limit passes. */
async function drain(sink: ReportSink, mtIds: number[], limitMs: number): Promise<number> {
  const deadline = Date.now() + limitMs;
  let lastCount = -1;
  let lastProgress = Date.now();
  for (;;) {
    const got = mtIds.reduce((n, id) => n + (sink.firstArrival.has(id) ? 1 : 0), 0);
    if (got === mtIds.length || Date.now() >= deadline) return got;
    if (got !== lastCount) {
      lastCount = got;
      lastProgress = Date.now();
    } else if (Date.now() - lastProgress > 10_000) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * End to end (MT -> simulator -> REPORT at the sink) with `nodes` gateway processes, workers on, sharing one store:
 * SQLite (one node) or PostgreSQL. Sustained rate and send-to-report latency.
 */
function endToEnd(opts: { id: string; title: string; nodes: number; backend: 'sqlite' | 'postgres' }): Scenario {
  const { id, title, nodes } = opts;
  return {
    id,
    title,
    async run(env) {
      const s = env.settings;
      let store: string;
      if (opts.backend === 'sqlite') store = sqliteUrl(join(s.tmpDir, `${id}.db`));
      else {
        let pg: BenchPostgres;
        try {
          pg = await env.postgres();
        } catch (err) {
          const reason = (err as Error).message.split('\n')[0]!;
          return { id, title, unit: 'msg/s', throughput: NaN, latency: summarize(new Float64Array()), errors: 0, skipped: reason, details: {} };
        }
        store = await freshDatabase(pg.adminUrl, 'bench');
      }
      env.sink.reset();
      const starts = Array.from({ length: nodes }, (_, i) => () => {
        const raw = gatewayConfig({ store, reportUrl: env.sink.reportUrl, nodeId: `bench-${i + 1}` });
        return startServer({ kind: 'gateway', raw, workers: true }, { cpuProfileDir: profileDir(env, id) });
      });
      return withServers(starts, async (servers) => {
        const spec = loadSpec(env, servers.map((sv) => sv.url), { rate: s.e2eRate, recordSends: true, maxInFlight: s.connections * 4 });
        const m = await measure(servers, spec);
        const sends = m.load.sends ?? new Float64Array();
        const mtIds: number[] = [];
        const sentAt = new Map<number, number>();
        for (let i = 0; i + 1 < sends.length; i += 2) {
          mtIds.push(sends[i]!);
          sentAt.set(sends[i]!, sends[i + 1]!);
        }
        const drainStart = Date.now();
        const reported = await drain(env.sink, mtIds, s.drainSeconds * 1000);
        const drainMs = Date.now() - drainStart;
        const latencies = new Float64Array(reported);
        let k = 0;
        let firstSend = Infinity;
        let lastReport = 0;
        for (const mtId of mtIds) {
          const sent = sentAt.get(mtId)!;
          firstSend = Math.min(firstSend, sent);
          const at = env.sink.firstArrival.get(mtId);
          if (at === undefined) continue;
          latencies[k++] = at - sent;
          lastReport = Math.max(lastReport, at);
        }
        const span = (lastReport - firstSend) / 1000;
        const throughput = reported > 0 && span > 0 ? reported / span : 0;
        const accept = summarize(m.load.latencies);
        return {
          id,
          title,
          unit: 'msg/s',
          throughput,
          latency: summarize(latencies.subarray(0, k)),
          errors: m.load.errors + (mtIds.length - reported),
          serverCpuPercent: m.cpuPercent,
          target: { description: '>= 3,000 msg/s sustained', met: throughput >= 3000 && reported === mtIds.length },
          details: {
            store: opts.backend,
            nodes,
            offeredRate: s.e2eRate,
            sent: mtIds.length,
            acceptedPerSecond: m.load.completed / ((m.load.windowEnd - m.load.windowStart) / 1000),
            reported,
            missingReports: mtIds.length - reported,
            duplicateReports: env.sink.counts.duplicates,
            reportStatuses: env.sink.counts.byStatus,
            drainMs,
            acceptLatency: accept,
            statusCounts: m.load.statusCounts,
            firstError: m.load.firstError,
            loadGeneratorCpuPercent: m.load.cpuPercent,
            ...(m.sql ? { sql: m.sql } : {}),
          },
        };
      });
    },
  };
}

/** Every scenario, in run order (baseline first: the others compare with it). */
export const SCENARIOS: readonly Scenario[] = [
  baseline,
  acceptSqlite(1),
  endToEnd({ id: 'e2e', title: 'end-to-end (SQLite, workers on)', nodes: 1, backend: 'sqlite' }),
  acceptPostgres(1),
  acceptPostgres(2),
  endToEnd({ id: 'e2e-pg-1', title: 'end-to-end (PostgreSQL, 1 node)', nodes: 1, backend: 'postgres' }),
  endToEnd({ id: 'e2e-pg-2', title: 'end-to-end (PostgreSQL, 2 nodes)', nodes: 2, backend: 'postgres' }),
];
