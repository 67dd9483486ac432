/**
 * What differs between the SQL backends, as capabilities rather than `if (backend === ...)` branches in the store
 * (the same split kysely uses for its own dialects). The store is written once against this interface.
 */
import type { Dialect, Kysely } from 'kysely';
import type { Database } from './schema.ts';
import type { BatchOutcome } from './sqlite-writer.ts';
import type { WriteUnit } from './store.ts';

/** Column types and clauses the DDL needs, per backend. */
export interface DdlTypes {
  /** 64-bit integer (ids, ms timestamps). */
  readonly bigint: string;
  /** Small integer. */
  readonly int: string;
  readonly text: string;
  /** Raw bytes. */
  readonly blob: string;
  /** JSON document. */
  readonly json: string;
  /** An auto-assigned 64-bit primary key that is never reused. */
  readonly autoId: string;
}

/** A callback for job-enqueued notifications; `kinds` are the job kinds that became ready. */
export type JobsEnqueuedListener = (kinds: string[]) => void;

/** See StoreDialect.offThreadWriter. */
export interface OffThreadWriter {
  /** Apply a batch in one transaction (the same contract as writeBatch). */
  write(units: readonly WriteUnit[], now: number): Promise<BatchOutcome>;
  /** Run one compiled statement; rows if it returns any. `flush: false`: a lease write (see withoutFlush). */
  run(sql: string, params: readonly unknown[], flush: boolean): Promise<unknown[]>;
}

/** One SQL backend. */
export interface StoreDialect {
  /** "sqlite" or "postgres". */
  readonly name: string;
  /** The kysely dialect that opens connections. */
  readonly kysely: Dialect;
  readonly ddl: DdlTypes;
  /** Most bind parameters one statement may carry (SQLite 32766, PostgreSQL 65535). */
  readonly maxParameters: number;
  /** The claim subquery may add `FOR UPDATE SKIP LOCKED` so concurrent claimers pass over each other's rows. */
  readonly supportsSkipLocked: boolean;
  /** Multi-row UPDATE ... FROM (VALUES ...) AS v(cols) for job resolutions and MT patches (batch-updates.ts). */
  readonly batchUpdates?: boolean;
  /** Statement that opens a write transaction (SQLite: IMMEDIATE takes the write lock up front, avoiding upgrades). */
  readonly beginWrite: string;
  /**
   * Serialise `fn` against other processes migrating the same database (PostgreSQL: advisory lock). `db` is pinned
   * to one connection.
   */
  withMigrationLock<T>(db: Kysely<Database>, fn: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Encode a value for a JSON column. */
  encodeJson(value: unknown): unknown;
  /**
   * Inside a write transaction: tell other nodes that jobs of these kinds became ready (delivered on commit).
   * Absent when the backend has no cross-process signal.
   */
  notifyJobs?(db: Kysely<Database>, kinds: readonly string[]): Promise<void>;
  /** Subscribe to other nodes' notifications; resolves to an unsubscribe function. */
  listenJobs?(listener: JobsEnqueuedListener): Promise<() => Promise<void>>;
  /**
   * A synchronous fast path for `write()` on the dialect's single connection (SQLite: prepared statements, see
   * sqlite-writer.ts). The store runs it while holding kysely's connection, so it never interleaves with a kysely
   * transaction. Absent: the store builds the statements with kysely.
   */
  writeBatch?(units: readonly WriteUnit[], now: number): BatchOutcome;
  /**
   * A writer off the event loop (SQLite: a worker thread with its own connection, sqlite-writer-thread.ts). When
   * present the store sends write batches and lease writes here instead of running them on its own connection;
   * reads stay on the store's connection.
   */
  readonly offThreadWriter?: OffThreadWriter;
  /**
   * Run `fn` on one connection with the commit-time flush off, for writes whose loss in a crash is harmless: a job
   * lease (claim, renewal) that is lost only makes the job claimable again at once. SQLite: `synchronous = NORMAL`
   * for those statements; in WAL mode the database stays consistent and the next FULL commit syncs their frames
   * too (https://www.sqlite.org/pragma.html#pragma_synchronous). Absent: writes are flushed as usual.
   */
  withoutFlush?<T>(db: Kysely<Database>, fn: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Release what the dialect holds beyond kysely's own pool (listener connections). */
  close?(): Promise<void>;
}
