/**
 * Opening a SQLite database file with the pragmas the store relies on; shared by the store's own connection
 * (sqlite-dialect.ts) and the writer thread's (sqlite-writer-worker.ts).
 *
 * Durability: WAL with `synchronous = FULL` syncs the WAL on every commit, so a committed write survives power loss
 * (https://www.sqlite.org/pragma.html#pragma_synchronous); the API answers 200 only after such a commit, or after a
 * commit without the sync followed by a WAL sync of its own (sqlite-wal-sync.ts, sqlite-dialect.ts).
 */
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
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
 *
 * The mode is set with chmod after SQLite created the file, never by opening and closing the file here: closing any
 * descriptor of a file drops every POSIX lock the process holds on it, the locks of this process's other connections
 * included (the writer thread opens the file while the store's connection has it open). Without them another
 * process (sqlite3 taking a backup, `mmsgate jobs`) takes itself for the last connection when it closes and deletes
 * the WAL under the gateway, whose later commits then live only in a deleted file.
 */
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

/** Open the file (creating parent directories) with the pragmas the store relies on. */
export function openSqliteDatabase(opts: SqliteOptions): BetterSqlite3.Database {
  const memory = opts.path === ':memory:';
  const file = memory ? ':memory:' : resolve(opts.path);
  const created = !memory && !existsSync(file);
  if (!memory) mkdirSync(dirname(file), { recursive: true, mode: DIR_MODE });
  const db = withFileNamed(file, () => new BetterSqlite3(file));
  // Still empty: the WAL and its pages come with the pragmas below. A failure (a file system without POSIX modes that
  // refuses chmod) closes the connection: a failed start leaves nothing open.
  if (created) withFileNamed(file, () => chmodSync(file, FILE_MODE), () => db.close());
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
  // The first write (SQLite opens a file it cannot write read-only, and fails only here).
  if (!memory) withFileNamed(file, () => db.pragma('journal_mode = WAL'), () => db.close());
  db.pragma('synchronous = FULL');
  // 64 MiB page cache: index pages of the hot tables (jobs, events) stay in memory under a steady accept load.
  db.pragma('cache_size = -65536');
  // No foreign keys: rows are written by the store alone, in one transaction per unit, in dependency order.
  db.pragma('foreign_keys = OFF');
  return db;
}

/** Runs `fn`; a failure names the file: SQLite's own message ("unable to open database file") names neither it nor the cause. */
function withFileNamed<T>(file: string, fn: () => T, cleanup?: () => void): T {
  try {
    return fn();
  } catch (err) {
    cleanup?.();
    throw new Error(`cannot open the SQLite store ${file}: ${(err as Error).message} (are the file and its folder writable by this user?)`, { cause: err });
  }
}
