/**
 * SQLite backend (better-sqlite3): the embedded default for one node.
 *
 * Durability: nothing is acknowledged before the WAL holding it is synced to disk. Writes through kysely commit with
 * `synchronous = FULL` (the COMMIT syncs the WAL, https://www.sqlite.org/pragma.html#pragma_synchronous). Write batches
 * and the hot single statements (SqlWriter) run on a worker thread whose commits sync themselves (the default,
 * sqlite-writer-thread.ts), or, with `writerThread=false`, on the event loop with the sync taken out of the COMMIT and
 * done by a WalSync on libuv's thread pool before their promise resolves (sqlite-wal-sync.ts). Measured trade-off
 * (docs/benchmarks.md): the thread carries ~25% more messages end to end (SQLite work leaves the event loop, which
 * the pipeline needs); both accept about as many MTs per second.
 */
import { resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { SqliteDialect as KyselySqliteDialect, type Kysely, type SqliteDatabase, type SqliteStatement } from 'kysely';
import type { SqlWriter, StoreDialect } from './dialect.ts';
import type { Database } from './schema.ts';
import { openSqliteDatabase, type SqliteOptions } from './sqlite-open.ts';
import { SqliteCheckpointer } from './sqlite-checkpointer.ts';
import { WalSync } from './sqlite-wal-sync.ts';
import { SqliteBatchWriter } from './sqlite-writer.ts';
import { SqliteWriterThread } from './sqlite-writer-thread.ts';

/** Prepared statements kept per connection; multi-row inserts repeat the same few shapes. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * Wrap a better-sqlite3 connection so kysely reuses prepared statements: kysely prepares on every query, and
 * compiling a 500-row INSERT costs more than running it.
 */
function cachingDatabase(db: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    prepare(sqlText: string): SqliteStatement {
      let stmt = cache.get(sqlText);
      if (stmt) {
        // Refresh recency: Map keeps insertion order, so the first key is the least recently used.
        cache.delete(sqlText);
      } else {
        stmt = db.prepare(sqlText) as unknown as SqliteStatement;
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      }
      cache.set(sqlText, stmt);
      return stmt;
    },
    close(): void {
      cache.clear();
      db.close();
    },
  };
}

/**
 * Writes on the event loop, on the store's own connection (held while they run: no interleaving with kysely). With a
 * WalSync the statements commit without syncing and each call resolves only once a WAL sync covers its commit: for a
 * write that is what a 200 relies on, and a claim must not hand a job to a runner before the rows that made the job
 * are durable (so no handset gets a message whose acceptance a power cut could still undo).
 */
function inlineWriter(w: SqliteBatchWriter, wal?: WalSync): SqlWriter {
  const durable = async <T>(result: T): Promise<T> => {
    if (!wal) return result;
    wal.noteCommit();
    await wal.durable();
    return result;
  };
  return {
    write: async (db, units, now) => durable(await db.connection().execute(async () => w.write(units, now))),
    run: async (db, sql, params, flush) => {
      let changed = false;
      const rows = await db.connection().execute(async () => {
        const r = w.runStatement(sql, params, flush);
        changed = w.lastChanged;
        return r;
      });
      return changed ? durable(rows) : rows;
    },
    runAll: async (db, statements) => durable(await db.connection().execute(async () => w.runAll(statements))),
  };
}

/** Writes on the writer thread's connection. */
function threadedWriter(t: SqliteWriterThread): SqlWriter {
  return {
    write: (_db, units, now) => t.write(units, now),
    run: (_db, sql, params, flush) => t.run(sql, params, flush),
    runAll: (_db, statements) => t.runAll(statements),
    poll: () => t.poll(),
  };
}

/** Build the SQLite dialect over an opened database. */
export function sqliteDialect(opts: SqliteOptions): StoreDialect {
  const raw = openSqliteDatabase(opts);
  const busyTimeoutMs = Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000));
  const file = opts.path !== ':memory:';
  const thread = file && opts.writerThread !== false ? new SqliteWriterThread(resolve(opts.path), busyTimeoutMs) : undefined;
  // ":memory:" has no WAL and nothing to make durable.
  const wal = file && !thread ? new WalSync(`${resolve(opts.path)}-wal`, opts.walSyncFn) : undefined;
  // With writes on the event loop, checkpoints run on their own thread instead of inside a COMMIT (sqlite-checkpointer.ts).
  if (wal) raw.pragma('wal_autocheckpoint = 0');
  const checkpointer = wal ? new SqliteCheckpointer(resolve(opts.path), () => raw.open && raw.pragma('wal_autocheckpoint = 1000')) : undefined;
  const close = thread
    ? () => thread.close()
    : wal
      ? async () => {
          await checkpointer?.close();
          await wal.close();
        }
      : undefined;
  const writer: SqlWriter = thread ? threadedWriter(thread) : inlineWriter(new SqliteBatchWriter(raw, wal ? 'caller' : 'commit'), wal);
  return {
    name: 'sqlite',
    kysely: new KyselySqliteDialect({ database: cachingDatabase(raw) }),
    ddl: {
      bigint: 'INTEGER',
      int: 'INTEGER',
      text: 'TEXT',
      blob: 'BLOB',
      json: 'TEXT',
      autoId: 'INTEGER PRIMARY KEY AUTOINCREMENT',
      jsonObject: (pairs) => `json_object(${pairs.map(([k, e]) => `'${k}', ${e}`).join(', ')})`,
      // Aggregate ORDER BY: SQLite 3.44 and later.
      jsonArrayAgg: (element, orderBy) => `json_group_array(${element} ORDER BY ${orderBy})`,
    },
    // SQLITE_MAX_VARIABLE_NUMBER defaults to 32766 since SQLite 3.32.
    maxParameters: 32766,
    supportsSkipLocked: false,
    positionFunction: 'instr',
    beginWrite: 'BEGIN IMMEDIATE',
    beginRead: 'BEGIN DEFERRED',
    // One connection per process and BEGIN IMMEDIATE per migration already serialise migrators.
    withMigrationLock: <T>(db: Kysely<Database>, fn: (db: Kysely<Database>) => Promise<T>) => fn(db),
    encodeJson: (value) => JSON.stringify(value),
    writer,
    // The writer thread merges the batches queued behind its transaction, so several may be in flight; the group
    // committer drains its replies on every unit it takes (Store.pollWrites), so an answer does not wait for the
    // event loop's next turn. Measured (docs/benchmarks.md, alternating runs): accept with 4 in flight level with or
    // ahead of 1 (median ratios 0.36 / 0.36 / 0.37 against 0.31 / 0.31 / 0.37), end to end 4 ahead (3,756 / 3,661
    // against 3,529 / 3,191 msg/s). Without the replies drained, 1 had been 15-40% ahead: a batch's answer then
    // waited for the event loop, and fewer, bigger batches paid that wait less often. On the event loop one batch at
    // a time is best: while it waits for its WAL sync the loop goes on parsing requests, which then commit together
    // in the next batch (about 6% ahead of 2, 2 ahead of 4, 4 ahead of 8).
    writesInFlight: thread ? 4 : 1,
    fatalError: () => wal?.failed,
    ...(close ? { close } : {}),
  };
}
