/**
 * SQLite backend (better-sqlite3): the embedded default for one node.
 *
 * Durability: WAL with `synchronous = FULL` syncs the WAL on every commit, so a committed write survives power loss
 * (https://www.sqlite.org/pragma.html#pragma_synchronous); the API answers 200 only after such a commit.
 */
import { resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { SqliteDialect as KyselySqliteDialect, type Kysely, type SqliteDatabase, type SqliteStatement } from 'kysely';
import type { SqlWriter, StoreDialect } from './dialect.ts';
import type { Database } from './schema.ts';
import { openSqliteDatabase, type SqliteOptions } from './sqlite-open.ts';
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

/** Writes on the event loop, on the store's own connection (held while they run: no interleaving with kysely). */
function inlineWriter(w: SqliteBatchWriter): SqlWriter {
  return {
    threaded: false,
    write: (db, units, now) => db.connection().execute(async () => w.write(units, now)),
    run: (db, sql, params, flush) => db.connection().execute(async () => w.runStatement(sql, params, flush)),
  };
}

/** Writes on the writer thread's connection. */
function threadedWriter(t: SqliteWriterThread): SqlWriter {
  return {
    threaded: true,
    write: (_db, units, now) => t.write(units, now),
    run: (_db, sql, params, flush) => t.run(sql, params, flush),
    poll: () => t.poll(),
  };
}

/** Build the SQLite dialect over an opened database. */
export function sqliteDialect(opts: SqliteOptions): StoreDialect {
  const raw = openSqliteDatabase(opts);
  const busyTimeoutMs = Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000));
  const thread = opts.writerThread !== false && opts.path !== ':memory:' ? new SqliteWriterThread(resolve(opts.path), busyTimeoutMs) : undefined;
  const writer: SqlWriter = thread ? threadedWriter(thread) : inlineWriter(new SqliteBatchWriter(raw));
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
    },
    // SQLITE_MAX_VARIABLE_NUMBER defaults to 32766 since SQLite 3.32.
    maxParameters: 32766,
    supportsSkipLocked: false,
    beginWrite: 'BEGIN IMMEDIATE',
    // One connection per process and BEGIN IMMEDIATE per migration already serialise migrators.
    withMigrationLock: <T>(db: Kysely<Database>, fn: (db: Kysely<Database>) => Promise<T>) => fn(db),
    encodeJson: (value) => JSON.stringify(value),
    writer,
    writesInFlight: writer.threaded ? 4 : 1,
    ...(thread ? { close: () => thread.close() } : {}),
  };
}
