/**
 * The Store port for SQLite, served by a worker thread (store-thread.ts) that owns the connection. Every call,
 * reads included, goes to that one connection: SQLite allows one writer, so a second connection on the main thread
 * would wait for the thread's write lock inside better-sqlite3's busy handler, blocking the event loop; and one
 * connection keeps read-your-writes trivially true. A call costs a message round trip (tens of microseconds),
 * far less than the SQLite work and fsync it moves off the event loop.
 */
import { Worker } from 'node:worker_threads';
import type { MessageEvent, MoMessage, MtMessage } from '../core/message.ts';
import type { SqlStore } from './sql-store.ts';
import type {
  CachedUrlRow,
  ClaimOptions,
  HandsetMessage,
  IdempotencyHit,
  InboxEntry,
  Job,
  JobFilter,
  JobKind,
  NodeInfo,
  NodeRow,
  PurgeCounts,
  WriteResult,
  WriteUnit,
} from './store.ts';
import type { StoreThreadData } from './store-thread.ts';
import { asBuffer, deserializeError, packUnits, type ThreadReply, type ThreadRequest } from './thread-protocol.ts';

/** Options for ThreadStore. */
export interface ThreadStoreOptions {
  /** SQLite file path or ":memory:". */
  path: string;
  log?: (msg: string, extra?: object) => void;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

type ThreadMessage = ThreadReply | { type: 'jobs'; kinds: JobKind[] } | { type: 'log'; msg: string; extra?: object };

/** SQLite behind a worker thread. Create with `openStore('sqlite:...')` (open-store.ts). */
export class ThreadStore implements SqlStore {
  readonly backend = 'sqlite';
  /**
   * The thread merges the write requests waiting for it into one transaction and applies them in arrival order, so
   * the group committer here can pass batches on as they form: they wait there, not here.
   */
  readonly writeConcurrency = 8;
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(kinds: JobKind[]) => void>();
  private readonly log: (msg: string, extra?: object) => void;
  private nextId = 1;
  /** Set once the thread is gone (closed or crashed): later calls fail at once. */
  private gone: Error | null = null;

  constructor(opts: ThreadStoreOptions) {
    this.log = opts.log ?? (() => {});
    const data: StoreThreadData = { entry: new URL('./store-thread.ts', import.meta.url).href, path: opts.path };
    this.worker = new Worker(new URL('./store-thread-boot.mjs', import.meta.url), { workerData: data });
    // Referenced only while a call is pending: an idle store does not keep the process alive.
    this.worker.unref();
    this.worker.on('message', (m: ThreadMessage) => this.onMessage(m));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`store thread exited (code ${code})`)));
  }

  private onMessage(m: ThreadMessage): void {
    if ('type' in m) {
      if (m.type === 'jobs') {
        for (const l of this.listeners) {
          try {
            l(m.kinds);
          } catch (err) {
            this.log('job listener threw', { error: (err as Error).message });
          }
        }
      } else {
        this.log(m.msg, m.extra);
      }
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.worker.unref();
    if (m.ok) p.resolve(m.value);
    else p.reject(deserializeError(m.error));
  }

  private fail(err: Error): void {
    if (!this.gone) this.gone = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private call<T>(method: string, args: unknown[], transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.gone) return Promise.reject(this.gone);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const req: ThreadRequest = { id, method, args };
      this.worker.postMessage(req, transfer);
    });
  }

  migrate(): Promise<void> {
    return this.call('migrate', []);
  }

  write(units: readonly WriteUnit[]): Promise<WriteResult[]> {
    if (units.length === 0) return Promise.resolve([]);
    const { packed, transfer } = packUnits(units);
    return this.call('write', [packed], transfer);
  }

  reserveIds(sequence: 'mt' | 'mo', count: number): Promise<number> {
    return this.call('reserveIds', [sequence, count]);
  }

  claimJobs(opts: ClaimOptions): Promise<Job[]> {
    return this.call('claimJobs', [opts]);
  }

  extendLeases(jobIds: readonly number[], owner: string, leaseExpiresAt: number): Promise<number[]> {
    return this.call('extendLeases', [jobIds, owner, leaseExpiresAt]);
  }

  releaseLeases(owner: string): Promise<number> {
    return this.call('releaseLeases', [owner]);
  }

  nextRunAt(kinds: readonly JobKind[]): Promise<number | null> {
    return this.call('nextRunAt', [kinds]);
  }

  listJobs(filter: JobFilter): Promise<Job[]> {
    return this.call('listJobs', [filter]);
  }

  replayJob(jobId: number, now: number): Promise<boolean> {
    return this.call('replayJob', [jobId, now]);
  }

  getMt(mtId: number): Promise<MtMessage | undefined> {
    return this.call('getMt', [mtId]);
  }

  getMts(mtIds: readonly number[]): Promise<Map<number, MtMessage>> {
    return this.call('getMts', [mtIds]);
  }

  findMtByOperatorMessageId(operatorId: number, operatorMessageId: string): Promise<MtMessage | undefined> {
    return this.call('findMtByOperatorMessageId', [operatorId, operatorMessageId]);
  }

  getMo(moId: number): Promise<MoMessage | undefined> {
    return this.call('getMo', [moId]);
  }

  getEvents(ref: { mtId: number } | { moId: number }): Promise<MessageEvent[]> {
    return this.call('getEvents', [ref]);
  }

  async getBlob(sha256: string): Promise<Buffer | undefined> {
    const bytes = await this.call<Uint8Array | undefined>('getBlob', [sha256]);
    return bytes === undefined ? undefined : asBuffer(bytes);
  }

  listHandsetMessages(number: string, limit: number): Promise<HandsetMessage[]> {
    return this.call('listHandsetMessages', [number, limit]);
  }

  async listInbox(box: string | undefined, limit: number): Promise<InboxEntry[]> {
    const rows = await this.call<InboxEntry[]>('listInbox', [box, limit]);
    for (const r of rows) r.body = asBuffer(r.body);
    return rows;
  }

  getIdempotencyKey(accountId: string, key: string, now: number): Promise<IdempotencyHit | undefined> {
    return this.call('getIdempotencyKey', [accountId, key, now]);
  }

  purgeExpired(now: number): Promise<PurgeCounts> {
    return this.call('purgeExpired', [now]);
  }

  getCachedUrl(url: string): Promise<CachedUrlRow | undefined> {
    return this.call('getCachedUrl', [url]);
  }

  putCachedUrl(row: CachedUrlRow): Promise<void> {
    return this.call('putCachedUrl', [row]);
  }

  heartbeat(node: NodeInfo, now: number): Promise<void> {
    return this.call('heartbeat', [node, now]);
  }

  listNodes(aliveSince: number): Promise<NodeRow[]> {
    return this.call('listNodes', [aliveSince]);
  }

  /** Job notifications come from the thread after each write that made jobs ready (SQLite: this process only). */
  onJobsEnqueued(callback: (kinds: JobKind[]) => void): () => void {
    this.listeners.add(callback);
    return () => {
      this.listeners.delete(callback);
    };
  }

  /** Close the connection on the thread, then end the thread. Idempotent. */
  async close(): Promise<void> {
    this.listeners.clear();
    if (this.gone) return;
    try {
      await this.call('close', []);
    } finally {
      this.gone ??= new Error('store is closed');
      await this.worker.terminate();
    }
  }
}
