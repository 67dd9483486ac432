/**
 * Opening a SQLite database file with the pragmas the store relies on; shared by the store's own connection
 * (sqlite-dialect.ts) and the writer thread's (sqlite-writer-worker.ts).
 *
 * Durability: WAL with `synchronous = FULL` syncs the WAL on every commit, so a committed write survives power loss
 * (https://www.sqlite.org/pragma.html#pragma_synchronous); the API answers 200 only after such a commit, or after a
 * commit without the sync followed by a WAL sync of its own (sqlite-wal-sync.ts, sqlite-dialect.ts).
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { SyncFn } from './sqlite-wal-sync.ts';

/** Options for opening a SQLite database. */
export interface SqliteOptions {
  /** File path, or ":memory:" (tests only: nothing survives close). */
  path: string;
  /** How long a writer waits for another process's lock before failing (ms). */
  busyTimeoutMs?: number;
  /**
   * Run write batches and lease writes on a worker thread with its own connection (default true; false: on the event
   * loop, with the WAL synced off it; always false for ":memory:", which a second connection cannot share). See
   * sqlite-dialect.ts and docs/benchmarks.md for the measurements behind the default.
   */
  writerThread?: boolean;
  /** Tests only: how the WAL is synced (default fs.fdatasync; see sqlite-wal-sync.ts). */
  walSyncFn?: SyncFn;
}

/**
 * Owner-only modes for what the store creates: the database holds customers' numbers and message content, and the
 * usual umask (022) would leave it world-readable. SQLite gives the -wal and -shm files the database file's mode.
 * An existing file or folder keeps the mode it has (an operator may have chosen a group for backups).
 */
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

/** Open the file (creating parent directories) with the pragmas the store relies on. */
export function openSqliteDatabase(opts: SqliteOptions): BetterSqlite3.Database {
  const memory = opts.path === ':memory:';
  const file = memory ? ':memory:' : resolve(opts.path);
  if (!memory) {
    mkdirSync(dirname(file), { recursive: true, mode: DIR_MODE });
    closeSync(openSync(file, 'a', FILE_MODE)); // creates it with that mode if missing; never truncates
  }
  const db = new BetterSqlite3(file);
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
  if (!memory) db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  // 64 MiB page cache: index pages of the hot tables (jobs, events) stay in memory under a steady accept load.
  db.pragma('cache_size = -65536');
  // No foreign keys: rows are written by the store alone, in one transaction per unit, in dependency order.
  db.pragma('foreign_keys = OFF');
  return db;
}

