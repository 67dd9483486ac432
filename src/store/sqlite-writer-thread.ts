/**
 * Main-thread side of the SQLite writer thread (sqlite-writer-worker.ts): sends write batches and lease writes to
 * the thread and resolves each with the thread's answer.
 *
 * Why a thread: on the event loop, the SQLite INSERTs and the COMMIT (with its fsync, synchronous=FULL) were a third
 * of the time per accepted MT and a third of the time per message end to end (docs/benchmarks.md); on their own
 * thread they overlap with HTTP parsing and the pipeline steps, and the process uses a second core. A 200 still
 * waits for the thread's COMMIT.
 *
 * If the thread dies, every pending and later call fails (the API answers 503 STORE_UNAVAILABLE and nothing is
 * acknowledged that was not committed).
 */
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { buildSync } from 'esbuild';
import type { BatchOutcome } from './sqlite-writer.ts';
import { encodeUnits, type EncodedUnit } from './sqlite-writer-codec.ts';
import type { WriteUnit } from './store.ts';

/** workerData of the thread. */
export interface WriterData {
  path: string;
  /** Where the thread posts its replies. */
  replies: MessagePort;
  busyTimeoutMs: number;
}

/** Main -> thread. `id` matches the reply. */
export type WriterRequest =
  /** Units as sqlite-writer-codec.ts encodes them (flat rows: much cheaper to clone than the objects). */
  | { id: number; op: 'write'; units: EncodedUnit[]; now: number }
  /** One statement; `flush: false` runs it with synchronous=NORMAL (lease writes). Returns rows of a reader. */
  | { id: number; op: 'run'; sql: string; params: unknown[]; flush: boolean }
  /** Several statements in one flushed transaction (maintenance deletes); the rows of each. */
  | { id: number; op: 'runAll'; statements: { sql: string; params: unknown[] }[] }
  | { id: number; op: 'close' };

/** Thread -> main. id 0 is the ready signal. */
export type WriterReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { message: string; name: string; code?: string } };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/** The writer thread of one SQLite database file. */
export class SqliteWriterThread {
  private readonly worker: Worker;
  private readonly replies: MessagePort;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;
  private readonly ready: Promise<void>;

  constructor(path: string, busyTimeoutMs: number) {
    const channel = new MessageChannel();
    this.replies = channel.port1;
    const data: WriterData = { path, busyTimeoutMs, replies: channel.port2 };
    this.worker = new Worker(workerSource(), { eval: true, workerData: data, transferList: [channel.port2] });
    this.ready = new Promise<void>((resolve, reject) => {
      this.pending.set(0, { resolve: () => resolve(), reject });
    });
    // Unhandled here means "not awaited yet": the first call awaits it and sees the failure.
    this.ready.catch(() => {});
    this.replies.on('message', (reply: WriterReply) => this.settle(reply));
    this.worker.on('error', (err) => this.fail(new Error(`SQLite writer thread failed: ${err.message}`)));
    this.worker.on('exit', (code) => this.fail(new Error(`SQLite writer thread exited (code ${code})`)));
  }

  /** Run one write batch in one transaction on the thread. */
  async write(units: readonly WriteUnit[], now: number): Promise<BatchOutcome> {
    return (await this.call({ op: 'write', units: encodeUnits(units), now })) as BatchOutcome;
  }

  /** Run one statement on the thread's connection; rows for a statement that returns rows. */
  async run(sql: string, params: readonly unknown[], flush: boolean): Promise<unknown[]> {
    return (await this.call({ op: 'run', sql, params: params as unknown[], flush })) as unknown[];
  }

  /**
   * Settle the calls whose replies have arrived, now. A reply otherwise waits for the event loop's next turn to reach
   * its 'message' event, which under load is up to a couple of milliseconds of HTTP work later (measured: ~1.7 ms
   * of a ~4.4 ms commit round trip); the group committer calls this for every unit it takes.
   */
  poll(): void {
    for (let m = receiveMessageOnPort(this.replies); m; m = receiveMessageOnPort(this.replies)) this.settle(m.message as WriterReply);
  }

  /** Run several statements in one transaction on the thread's connection; the rows of each. */
  async runAll(statements: readonly { sql: string; params: readonly unknown[] }[]): Promise<unknown[][]> {
    return (await this.call({ op: 'runAll', statements: statements.map((st) => ({ sql: st.sql, params: [...st.params] })) })) as unknown[][];
  }

  /** Close the thread's connection and let the thread end. */
  async close(): Promise<void> {
    if (this.failure) return;
    try {
      await this.call({ op: 'close' });
    } catch {
      // Already gone: nothing left to close.
    }
    await this.worker.terminate();
    this.replies.close();
  }

  private async call(req: DistributiveOmit<WriterRequest, 'id'>): Promise<unknown> {
    await this.ready;
    if (this.failure) throw this.failure;
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id });
    });
  }

  private settle(reply: WriterReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.value);
    else p.reject(rebuildError(reply.error));
  }

  private fail(err: Error): void {
    this.poll(); // replies the thread sent before it went away still count
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }
}

const WORKER_ENTRY = fileURLToPath(new URL('./sqlite-writer-worker.ts', import.meta.url));
let bundled: string | undefined;

/**
 * The thread's code: sqlite-writer-worker.ts and the store modules it imports, bundled into one CommonJS script
 * (tens of milliseconds, once per process). The project runs TypeScript without a build step, and a worker thread
 * does not inherit the main thread's TypeScript loader; registering one in every thread took 0.6-1.2 s per start.
 * better-sqlite3 stays external and is loaded from this package's own node_modules.
 */
function workerSource(): string {
  bundled ??= buildSync({
    entryPoints: [WORKER_ENTRY],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['better-sqlite3'],
    write: false,
    logLevel: 'silent',
  }).outputFiles[0]!.text;
  return `require = require('node:module').createRequire(${JSON.stringify(WORKER_ENTRY)});\n${bundled}`;
}

/** The thread's error as the same kind of error (TypeError for a bad unit, SQLite codes kept). */
function rebuildError(e: { message: string; name: string; code?: string }): Error {
  const err = e.name === 'TypeError' ? new TypeError(e.message) : e.name === 'RangeError' ? new RangeError(e.message) : new Error(e.message);
  if (e.code !== undefined) (err as Error & { code?: string }).code = e.code;
  return err;
}
