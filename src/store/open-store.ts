/**
 * Open a Store from a URL and bring its schema up to date.
 *
 *   sqlite:./data/mmsgate.db     (relative to the working directory; parent directories are created)
 *   sqlite:/var/lib/mmsgate.db
 *   sqlite:./data/mmsgate.db?writerThread=false   (SQLite writes on the event loop; default: a writer thread)
 *   sqlite::memory:              (tests only: nothing survives close)
 *   postgres://user:pass@host:5432/db   or postgresql://...
 */
import type { StoreDialect } from './dialect.ts';
import { postgresDialect } from './postgres-dialect.ts';
import { KyselyStore, type SqlStore } from './sql-store.ts';
import { sqliteDialect } from './sqlite-dialect.ts';
import type { SqliteOptions } from './sqlite-open.ts';
import type { SyncFn } from './sqlite-wal-sync.ts';

/** Options for openStore. */
export interface OpenStoreOptions {
  /** PostgreSQL pool size (default 10). */
  poolSize?: number;
  log?: (msg: string, extra?: object) => void;
  /** Tests only: how a SQLite store syncs its WAL (see sqlite-wal-sync.ts). */
  sqliteWalSync?: SyncFn;
  /** Tests only: the clock of write() (SqlStoreOptions.clock). */
  clock?: () => number;
}

/** Pick the dialect for a store URL. Throws on an unknown scheme (without echoing credentials). */
export function dialectForUrl(url: string, opts: OpenStoreOptions = {}): StoreDialect {
  if (url.startsWith('sqlite:')) {
    return sqliteDialect({ ...sqliteOptions(url.slice('sqlite:'.length)), walSyncFn: opts.sqliteWalSync });
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    return postgresDialect({ connectionString: url, poolSize: opts.poolSize, log: opts.log });
  }
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? '(none)';
  throw new TypeError(`unsupported store URL scheme ${scheme}: use sqlite:<path> or postgres://...`);
}

/**
 * `PATH` or `PATH?writerThread=true|false`: the one option a SQLite URL takes (writes on a worker thread instead of
 * the event loop; see sqlite-writer-thread.ts). Anything else after `?` is refused rather than taken as part of the path.
 */
function sqliteOptions(rest: string): SqliteOptions {
  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  if (path === '') throw new TypeError('store URL sqlite: needs a path, e.g. sqlite:./data/mmsgate.db');
  if (q < 0) return { path };
  const params = new URLSearchParams(rest.slice(q + 1));
  const opts: SqliteOptions = { path };
  for (const [k, v] of params) {
    if (k !== 'writerThread' || (v !== 'true' && v !== 'false')) {
      throw new TypeError(`unsupported SQLite store option ${k}=${v}: the only option is writerThread=true|false`);
    }
    opts.writerThread = v === 'true';
  }
  return opts;
}

/** Open the store at `url` and run its migrations. Returns a SqlStore (the Store port plus onJobsEnqueued). */
export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<SqlStore> {
  const store: SqlStore = new KyselyStore(dialectForUrl(url, opts), { log: opts.log, clock: opts.clock });
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  return store;
}
