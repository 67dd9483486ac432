/**
 * Child processes of the benchmark: the server under test and the load generator, each forked with `--import tsx`
 * and an IPC channel. Every child is tracked and killed when the benchmark process exits, however it exits.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadResult, LoadSpec } from './load-main.ts';
import type { ServerSpec } from './server-main.ts';
import type { SqlTiming } from './sql-timing.ts';

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
const REPO_DIR = fileURLToPath(new URL('..', import.meta.url));
const live = new Set<ChildProcess>();

/** SIGKILL every child still running (used on exit and on interrupt). */
export function killAllChildren(): void {
  for (const c of live) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  live.clear();
}
process.on('exit', killAllChildren);

/** Keeps the last lines a child wrote, to explain a failure. */
class Tail {
  private lines: string[] = [];
  push(chunk: Buffer): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (this.lines.length > 40) this.lines.splice(0, this.lines.length - 40);
  }
  toString(): string {
    return this.lines.join('\n');
  }
}

function spawnChild(script: string, env: Record<string, string>, extraExecArgv: string[]): { child: ChildProcess; tail: Tail } {
  const child = fork(`${BENCH_DIR}${script}`, [], {
    cwd: REPO_DIR,
    execArgv: ['--import', 'tsx', ...extraExecArgv],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'advanced',
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const tail = new Tail();
  // Both pipes are always drained: a full pipe would block the child.
  child.stdout!.on('data', (c: Buffer) => tail.push(c));
  child.stderr!.on('data', (c: Buffer) => tail.push(c));
  return { child, tail };
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Ask a server child a question over IPC; undefined if it does not answer within 2 s. */
function ask<T>(child: ChildProcess, type: string): Promise<T | undefined> {
  return new Promise((resolve) => {
    if (!child.connected) return resolve(undefined);
    const onMsg = (m: { type: string }) => {
      if (m.type !== type) return;
      clearTimeout(timer);
      child.off('message', onMsg);
      resolve(m as T);
    };
    const timer = setTimeout(() => {
      child.off('message', onMsg);
      resolve(undefined);
    }, 2000);
    child.on('message', onMsg);
    child.send({ type });
  });
}

/** A running server under test. */
export interface ServerHandle {
  readonly url: string;
  readonly pid: number;
  /** CPU time (user + system, ms) the server has used so far. */
  cpuMs(): Promise<number>;
  /** SQL statement timings so far (null unless BENCH_SQL_TIMING=1). */
  sqlTiming(): Promise<SqlTiming | null>;
  /** Ask it to stop; SIGKILL after a grace period. */
  stop(): Promise<void>;
  /** Last lines of its output. */
  output(): string;
}

/** Options for a server child. */
export interface ServerOptions {
  /** Write a V8 CPU profile (--cpu-prof) into this folder when the server exits. */
  cpuProfileDir?: string;
  startTimeoutMs?: number;
}

/** Fork bench/server-main.ts and wait until it listens. */
export async function startServer(spec: ServerSpec, opts: ServerOptions = {}): Promise<ServerHandle> {
  const prof = opts.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfileDir] : [];
  prof.push(...(process.env.BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean)); // see bench/run.ts
  const { child, tail } = spawnChild('server-main.ts', { BENCH_SERVER_SPEC: JSON.stringify(spec) }, prof);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within ${opts.startTimeoutMs ?? 60_000} ms\n${tail}`));
    }, opts.startTimeoutMs ?? 60_000);
    child.on('message', (m: { type: string; url?: string }) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve(m.url!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (code ${code}) before it was ready\n${tail}`));
    });
  });
  return {
    url,
    pid: child.pid!,
    cpuMs: async () => {
      const m = await ask<{ usage: NodeJS.CpuUsage }>(child, 'cpu');
      return m ? (m.usage.user + m.usage.system) / 1000 : NaN;
    },
    sqlTiming: async () => (await ask<{ timing: SqlTiming | null }>(child, 'sql'))?.timing ?? null,
    async stop() {
      if (child.connected) child.send({ type: 'stop' });
      else child.kill('SIGTERM');
      if (!(await waitExit(child, 15_000))) {
        child.kill('SIGKILL');
        await waitExit(child, 5_000);
      }
    },
    output: () => tail.toString(),
  };
}

/** Fork bench/load-main.ts, run one load, return its result. */
export async function runLoadChild(spec: LoadSpec, onWindow?: (start: number, end: number) => void): Promise<LoadResult> {
  const { child, tail } = spawnChild('load-main.ts', {}, []);
  const limitMs = spec.warmupMs + spec.durationMs + 60_000;
  try {
    return await new Promise<LoadResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load generator did not finish within ${limitMs} ms\n${tail}`)), limitMs);
      child.on('message', (m: { type: string; result?: LoadResult; error?: string; start?: number; end?: number }) => {
        if (m.type === 'window') return onWindow?.(m.start!, m.end!);
        clearTimeout(timer);
        if (m.type === 'result') resolve(m.result!);
        else reject(new Error(`load generator failed: ${m.error}`));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`load generator exited (code ${code}) without a result\n${tail}`));
      });
      child.send({ type: 'start', spec });
    });
  } finally {
    if (!(await waitExit(child, 5_000))) child.kill('SIGKILL');
  }
}
