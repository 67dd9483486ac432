/**
 * The SQLite writer thread: its own better-sqlite3 connection to the database file, running the group-committed
 * write batches (sqlite-writer.ts) and the lease writes (claims, renewals) that the main thread sends it. better-sqlite3
 * is synchronous, so on the main thread every INSERT and every COMMIT fsync stalls HTTP parsing; here they run beside
 * it. Reads stay on the main thread's connection (WAL: readers never wait for this writer).
 *
 * Protocol: see sqlite-writer-thread.ts (WriterRequest / WriterReply).
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { openSqliteDatabase } from './sqlite-open.ts';
import { SqliteBatchWriter, type BatchOutcome } from './sqlite-writer.ts';
import { decodeUnits } from './sqlite-writer-codec.ts';
import type { WriterData, WriterReply, WriterRequest } from './sqlite-writer-thread.ts';

if (!parentPort) throw new Error('sqlite-writer-worker.ts must run in a worker thread');
const port: MessagePort = parentPort;
const data = workerData as WriterData;
/** Replies go to their own channel, which the main thread can also drain synchronously (SqliteWriterThread.poll). */
const replies: MessagePort = data.replies;

const db = openSqliteDatabase({ path: data.path, busyTimeoutMs: data.busyTimeoutMs });
const writer = new SqliteBatchWriter(db);
function serve(req: WriterRequest): unknown {
  switch (req.op) {
    case 'write':
      return writer.write(decodeUnits(req.units), req.now);
    case 'run':
      return writer.runStatement(req.sql, req.params, req.flush);
    case 'runAll':
      return writer.runAll(req.statements);
    case 'close':
      db.close();
      return null;
  }
}

function failure(id: number, err: unknown): WriterReply {
  const e = err as Error & { code?: string };
  return { id, ok: false, error: { message: e.message, name: e.name, code: e.code } };
}

function replyOne(req: WriterRequest): void {
  let reply: WriterReply;
  try {
    reply = { id: req.id, ok: true, value: serve(req) };
  } catch (err) {
    reply = failure(req.id, err);
  }
  replies.postMessage(reply);
  if (req.op === 'close') {
    replies.close();
    port.close();
  }
}

/**
 * Consecutive write requests share one transaction (group commit across the main thread's batches: those that
 * arrived while the previous COMMIT ran go out in the next one). Each request gets its own slice of the outcome;
 * if the transaction fails, each gets the error and the main thread retries its units one by one.
 */
function writeGroup(reqs: Extract<WriterRequest, { op: 'write' }>[]): void {
  if (reqs.length === 1) return replyOne(reqs[0]!);
  const units = reqs.flatMap((r) => decodeUnits(r.units));
  let outcome: BatchOutcome;
  try {
    outcome = writer.write(units, Math.max(...reqs.map((r) => r.now)));
  } catch (err) {
    for (const r of reqs) replies.postMessage(failure(r.id, err));
    return;
  }
  let at = 0;
  for (const r of reqs) {
    const n = r.units.length;
    const value: BatchOutcome = {
      applied: outcome.applied.slice(at, at + n),
      hits: outcome.hits.slice(at, at + n),
      kinds: outcome.kinds,
      ...(outcome.claimLost ? { claimLost: outcome.claimLost.slice(at, at + n) } : {}),
    };
    at += n;
    replies.postMessage({ id: r.id, ok: true, value } satisfies WriterReply);
  }
}

port.on('message', (first: WriterRequest) => {
  // Take everything already queued behind this message now, so that writes waiting together commit together.
  const reqs: WriterRequest[] = [first];
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) reqs.push(m.message as WriterRequest);
  for (let i = 0; i < reqs.length; ) {
    const req = reqs[i]!;
    if (req.op !== 'write') {
      replyOne(req);
      i++;
      continue;
    }
    let j = i + 1;
    while (j < reqs.length && reqs[j]!.op === 'write') j++;
    writeGroup(reqs.slice(i, j) as Extract<WriterRequest, { op: 'write' }>[]);
    i = j;
  }
});
replies.postMessage({ id: 0, ok: true, value: 'ready' } satisfies WriterReply);
