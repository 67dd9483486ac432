/**
 * CPU per accepted MT, per server thread: where the time of the accept path goes (event loop, SQLite writer thread,
 * V8's GC helpers, libuv's pool). Reads each thread's user + system time from /proc (Linux only) before and after a
 * load at a fixed offered rate (open loop), or closed loop with rate 0 (as `npm run bench`'s accept scenario).
 * Per-MT CPU falls as load rises (bigger group commits), so compare runs at the same rate.
 *
 *   npx tsx bench/cpu-per-request.ts [rate=0] [seconds=8]
 *   BENCH_SERVER_ARGS="--max-semi-space-size=32" npx tsx bench/cpu-per-request.ts 0 8
 *   BENCH_SQLITE_OPTIONS=writerThread=false npx tsx bench/cpu-per-request.ts 0 8
 *   BENCH_CPU_SERVER=baseline npx tsx bench/cpu-per-request.ts 0 8    # the bare node:http server, for scale
 *   BENCH_LOAD_CLIENT=undici npx tsx bench/cpu-per-request.ts 0 8     # closed loop over undici (default: the raw client)
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoadChild, startServer } from './children.ts';
import { basicAuth } from './request-body.ts';
import { gatewayConfig, sqliteUrl } from './scenarios.ts';

const rate = Number(process.argv[2] ?? 0);
const seconds = Number(process.argv[3] ?? 8);
const TICK_MS = 10; // USER_HZ = 100 on Linux

/** Per thread name: CPU ms so far (threads of the same name summed). */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // Fields after the parenthesised name: state is field 3; utime, stime are fields 14 and 15.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(rest[11]) + Number(rest[12])) * TICK_MS;
      // Node names none of its threads: they are told apart by id (the writer thread is the busiest after main).
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const name = tid === String(pid) ? 'main (event loop)' : `thread ${tid} ${comm}`;
      out.set(name, (out.get(name) ?? 0) + ms);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'mmsgate-cpu-'));
// BENCH_CPU_SERVER=baseline measures the bare node:http server of `npm run bench` the same way, for scale.
const server = await startServer(
  process.env.BENCH_CPU_SERVER === 'baseline'
    ? { kind: 'baseline' }
    : {
        kind: 'gateway',
        raw: gatewayConfig({ store: sqliteUrl(join(dir, 'bench.db')), reportUrl: 'http://127.0.0.1:9/reports', nodeId: 'cpu-1' }),
        workers: false,
      },
);
try {
  const warmupMs = 2000;
  const before = threadCpu(server.pid);
  const load = await runLoadChild({
    origins: [server.url],
    path: '/mms/v2/send',
    authorization: basicAuth(),
    connections: 64,
    warmupMs,
    durationMs: seconds * 1000,
    rate,
    maxInFlight: 256,
    recordSends: false,
    bodies: 512,
    // The closed loop's client (load-main.ts): the raw one unless BENCH_LOAD_CLIENT=undici.
    client: process.env.BENCH_LOAD_CLIENT === 'undici' ? 'undici' : 'raw',
  });
  const after = threadCpu(server.pid);
  // Requests over warm-up and window together (the CPU samples span both): the offered rate, if it kept up.
  const windowRate = load.completed / ((load.windowEnd - load.windowStart) / 1000);
  const requests = (windowRate * (warmupMs + seconds * 1000)) / 1000;
  console.log(`offered ${rate}/s, completed ${Math.round(windowRate)}/s in the window, errors ${load.errors}, load generator CPU ${load.cpuPercent.toFixed(0)}%`);
  let total = 0;
  for (const [name, ms] of [...after].sort((a, b) => b[1] - a[1])) {
    const used = ms - (before.get(name) ?? 0);
    if (used <= 0) continue;
    total += used;
    console.log(`  ${name.padEnd(20)} ${((used * 1000) / requests).toFixed(1).padStart(6)} us/MT`);
  }
  console.log(`  ${'all threads'.padEnd(20)} ${((total * 1000) / requests).toFixed(1).padStart(6)} us/MT`);
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
