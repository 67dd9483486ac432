/**
 * Group commit of the WAL flush, for the SQLite store's batch writes on the event loop (sqlite-dialect.ts).
 *
 * Those transactions commit with `synchronous = NORMAL`: in WAL mode a COMMIT then appends its frames to the -wal
 * file (write(2): in the OS page cache when COMMIT returns) without syncing it, and checkpoints still sync the WAL
 * before copying it into the database and the database after (https://www.sqlite.org/pragma.html#pragma_synchronous,
 * https://www.sqlite.org/wal.html). The store then syncs the -wal file itself, with fdatasync(2) on libuv's thread
 * pool, and resolves a write only once a sync that started after its COMMIT has completed. A resolved write is
 * therefore exactly as durable as under `synchronous = FULL`, which runs the same fdatasync inside COMMIT; but there
 * it blocks the event loop (and every request on it) for the length of the sync, while here the loop goes on parsing
 * requests and committing the next batch, and one sync covers every transaction committed before it started (the
 * WAL is appended in commit order).
 *
 * A process crash (kill -9) loses nothing either way: written frames are in the page cache. What the sync protects
 * against is power loss and kernel crashes.
 *
 * If a sync fails, nothing later can be trusted to be on disk (after a failed fsync, Linux may drop the dirty pages
 * and report success next time), so the failure is permanent: every waiting and later caller gets the error, the API
 * answers 503 STORE_UNAVAILABLE, and the node must be restarted (https://lwn.net/Articles/752063/).
 */
import { closeSync, fdatasync, openSync } from 'node:fs';

/**
 * Syncs in flight at once. A commit that lands while a sync runs would otherwise wait for that sync and then for its
 * own; with two, its own starts at once (the kernel orders them; the later one covers more).
 */
const MAX_CONCURRENT_SYNCS = 2;

/** How the -wal file is synced (fs.fdatasync); replaceable in tests. */
export type SyncFn = (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void;

interface Waiter {
  /** Commits that must be covered. */
  upTo: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Counts commits and runs coalesced fdatasyncs of one -wal file. */
export class WalSync {
  private fd: number | undefined;
  private committed = 0;
  private synced = 0;
  private syncs = 0;
  private running = 0;
  /** The most commits a sync in flight covers. */
  private covering = 0;
  private waiters: Waiter[] = [];
  private failure: Error | undefined;
  private idle: (() => void)[] = [];

  /**
   * @param walPath the database file's path + "-wal"
   * @param sync how to sync an open file descriptor (default fs.fdatasync)
   */
  constructor(
    private readonly walPath: string,
    private readonly sync: SyncFn = fdatasync,
  ) {}

  /** Record that a transaction has committed (call right after COMMIT returns, before awaiting anything). */
  noteCommit(): void {
    this.committed++;
  }

  /**
   * Resolves once everything committed so far is on stable storage (at once when it already is); rejects if a sync
   * failed, now or before.
   */
  durable(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.synced >= this.committed) return Promise.resolve();
    const upTo = this.committed;
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ upTo, resolve, reject });
      this.start();
    });
  }

  /** The failed sync's error, if one failed (permanent). */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** Commits counted, commits known durable, syncs run (diagnostics and tests). */
  stats(): { committed: number; synced: number; syncs: number } {
    return { committed: this.committed, synced: this.synced, syncs: this.syncs };
  }

  /** Close the file descriptor once no sync is running (after the last write). */
  async close(): Promise<void> {
    while (this.running > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private start(): void {
    if (this.running >= MAX_CONCURRENT_SYNCS || this.failure) return;
    const target = Math.max(this.covering, this.synced);
    if (!this.waiters.some((w) => w.upTo > target)) return;
    // Everything committed before this point is in the page cache; the sync below covers it.
    const upTo = this.committed;
    try {
      // Opened at the first sync: the -wal file exists once something has been committed in WAL mode, and SQLite
      // keeps it (and its inode) while a connection is open, restarting it in place after checkpoints.
      this.fd ??= openSync(this.walPath, 'r');
    } catch (err) {
      // No -wal file: nothing was ever written through the WAL, so there is nothing to sync.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.settle(upTo);
      else this.fail(err as Error);
      return;
    }
    this.running++;
    this.covering = Math.max(this.covering, upTo);
    this.sync(this.fd, (err) => {
      this.running--;
      this.syncs++;
      if (err) this.fail(err);
      else this.settle(upTo);
      if (this.running === 0) for (const w of this.idle.splice(0)) w();
    });
  }

  /** Everything up to `upTo` commits is durable: release those waiters, and sync again for the rest. */
  private settle(upTo: number): void {
    this.synced = Math.max(this.synced, upTo);
    const waiting: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.upTo <= this.synced) w.resolve();
      else waiting.push(w);
    }
    this.waiters = waiting;
    this.start();
  }

  private fail(err: Error): void {
    this.failure ??= new Error(`syncing the SQLite WAL failed: ${err.message}`);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(this.failure);
  }
}
