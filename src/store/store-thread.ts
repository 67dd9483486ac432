/**
 * The SQLite store thread: owns the one better-sqlite3 connection and serves the Store port to the main thread
 * (thread-store.ts) over messages. better-sqlite3 is synchronous, so on the main thread every insert and every
 * COMMIT fsync stalled HTTP parsing; here they run beside it.
 *
 * Protocol (main -> thread): `{ id, method, args }`; (thread -> main): `{ id, ok, value | error }`, plus
 * `{ type: 'jobs', kinds }` (job notifications, posted before the reply of the write that caused them) and
 * `{ type: 'log', msg, extra }`. Blob and inbox bytes of a write arrive packed in one transferred ArrayBuffer.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { KyselyStore } from './sql-store.ts';
import { sqliteDialect } from './sqlite-dialect.ts';
import type { Store, WriteUnit } from './store.ts';
import { unpackUnits, type PackedUnits, type ThreadReply, type ThreadRequest, serializeError } from './thread-protocol.ts';

/** What the main thread passes when it starts the thread. */
export interface StoreThreadData {
  entry: string;
  path: string;
}

if (!parentPort) throw new Error('store-thread.ts must run in a worker thread');
const port: MessagePort = parentPort;
const data = workerData as StoreThreadData;

const store = new KyselyStore(sqliteDialect({ path: data.path }), {
  log: (msg, extra) => port.postMessage({ type: 'log', msg, extra }),
});
store.onJobsEnqueued((kinds) => port.postMessage({ type: 'jobs', kinds }));

/** Methods the main thread may call (the Store port, minus notifications, which travel as their own messages). */
const METHODS = new Set<string>([
  'migrate',
  'write',
  'reserveIds',
  'claimJobs',
  'extendLeases',
  'releaseLeases',
  'nextRunAt',
  'listJobs',
  'replayJob',
  'getMt',
  'getMts',
  'findMtByOperatorMessageId',
  'getMo',
  'getEvents',
  'getBlob',
  'listHandsetMessages',
  'listInbox',
  'getIdempotencyKey',
  'purgeExpired',
  'getCachedUrl',
  'putCachedUrl',
  'heartbeat',
  'listNodes',
  'close',
]);

async function serve(req: ThreadRequest): Promise<unknown> {
  if (!METHODS.has(req.method)) throw new TypeError(`unknown store method ${req.method}`);
  if (req.method === 'write') {
    const units: WriteUnit[] = unpackUnits(req.args[0] as PackedUnits);
    return store.write(units);
  }
  const fn = (store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[req.method]! as (
    this: Store,
    ...a: unknown[]
  ) => Promise<unknown>;
  return fn.apply(store, req.args);
}

/**
 * Group commit on this side: write requests that arrived while the previous transaction committed are merged into
 * one transaction (one fsync), however many the main thread sent. If the merged transaction fails, each request is
 * retried alone, so one bad request fails only itself (GroupCommitter then isolates the bad unit inside it).
 */
let writeQueue: ThreadRequest[] = [];
let writeScheduled = false;

function queueWrite(req: ThreadRequest): void {
  writeQueue.push(req);
  if (writeScheduled) return;
  writeScheduled = true;
  // After the messages already waiting on the port have been taken in.
  setImmediate(() => {
    writeScheduled = false;
    const reqs = writeQueue;
    writeQueue = [];
    void writeMerged(reqs);
  });
}

async function writeMerged(reqs: ThreadRequest[]): Promise<void> {
  if (reqs.length === 1) return answer(reqs[0]!);
  const perReq = reqs.map((r) => unpackUnits(r.args[0] as PackedUnits));
  let results: unknown[];
  try {
    results = await store.write(perReq.flat());
  } catch {
    for (const r of reqs) await answer(r);
    return;
  }
  let at = 0;
  for (let i = 0; i < reqs.length; i++) {
    const n = perReq[i]!.length;
    port.postMessage({ id: reqs[i]!.id, ok: true, value: results.slice(at, at + n) } satisfies ThreadReply);
    at += n;
  }
}

function answer(req: ThreadRequest): Promise<void> {
  return serve(req).then(
    (value) => {
      const reply: ThreadReply = { id: req.id, ok: true, value };
      port.postMessage(reply);
      if (req.method === 'close') port.close();
    },
    (err: unknown) => {
      const reply: ThreadReply = { id: req.id, ok: false, error: serializeError(err) };
      port.postMessage(reply);
    },
  );
}

port.on('message', (req: ThreadRequest) => {
  if (req.method === 'write') queueWrite(req);
  else void answer(req);
});
