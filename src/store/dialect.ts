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
  /** A JSON object expression from (literal key, SQL expression) pairs; for data migrations. */
  jsonObject(pairs: readonly (readonly [key: string, expr: string])[]): string;
  /** Aggregate: the JSON array of `element` over the group, in `orderBy` order, as a value for a `json` column. */
  jsonArrayAgg(element: string, orderBy: string): string;
}

/** A callback for job-enqueued notifications; `kinds` are the job kinds that became ready. */
export type JobsEnqueuedListener = (kinds: string[]) => void;

/**
 * A backend's own writer (SQLite: prepared statements on one connection, sqlite-writer.ts, either on the event loop
 * or on a worker thread, sqlite-writer-thread.ts). `db` is the store's kysely instance: the in-process writer runs
 * while holding its connection, so it never interleaves with a kysely transaction.
 */
export interface SqlWriter {
  /** Apply a batch in one transaction (job lease checks, idempotency keys, rows, forward-only patches). */
  write(db: Kysely<Database>, units: readonly WriteUnit[], now: number): Promise<BatchOutcome>;
  /**
   * Run one compiled statement in its own transaction; rows if it returns any. `flush: false` for writes whose loss
   * in a crash is harmless (job leases), which then need not wait for the commit flush.
   */
  run(db: Kysely<Database>, sql: string, params: readonly unknown[], flush: boolean): Promise<unknown[]>;
  /** Settle the writes that have completed, now (a threaded writer's replies would otherwise wait for the event loop). */
  poll?(): void;
  /**
   * Several compiled statements in one flushed transaction; the rows of each. Its writes are serialised (one writer),
   * so later statements may qualify their rows by the same subquery as earlier ones and see the same rows
   * (retention.ts deletes a page of messages so, off the event loop when the writer is a thread).
   */
  runAll(db: Kysely<Database>, statements: readonly { sql: string; params: readonly unknown[] }[]): Promise<unknown[][]>;
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
  /**
   * The SQL function (haystack, needle) -> 1-based position of needle in haystack, 0 when absent; case-sensitive and
   * without wildcards, unlike LIKE (whose SQLite form ignores ASCII case). For the claim's test of a job's passed_by
   * (job-passing.ts).
   */
  readonly positionFunction: 'instr' | 'strpos';
  /**
   * A conditional insert locks the row it depends on (FOR KEY SHARE, the lock a foreign-key check takes), so a
   * transaction deleting that row meanwhile either commits first (the insert then finds nothing) or waits for the
   * insert's commit (and its later statements see the inserted row). Absent where writes are serialised anyway (SQLite).
   */
  readonly lockReferencedRows?: boolean;
  /** Multi-row UPDATE ... FROM (VALUES ...) AS v(cols) for job resolutions and MT patches (batch-updates.ts). */
  readonly batchUpdates?: boolean;
  /**
   * Write batches worth having in flight at once (the group committer's default): PostgreSQL overlaps the round
   * trips and WAL flushes of concurrent transactions; SQLite's writer thread merges the batches waiting in its queue;
   * SQLite on the event loop does best with one (requests arriving during its WAL sync make the next batch bigger).
   */
  readonly writesInFlight: number;
  /** A failure after which no write can be trusted any more (SQLite: a failed WAL sync), if one happened. */
  fatalError?(): Error | undefined;
  /** Statement that opens a write transaction (SQLite: IMMEDIATE takes the write lock up front, avoiding upgrades). */
  readonly beginWrite: string;
  /**
   * Statement that opens a read-only transaction whose statements all see one snapshot (Store.getMtStatus). SQLite: a
   * deferred BEGIN, whose WAL read snapshot is taken at its first read and kept to its end (the writer thread's
   * commits meanwhile stay invisible to it). PostgreSQL: REPEATABLE READ, as its default READ COMMITTED takes a new
   * snapshot per statement.
   */
  readonly beginRead: string;
  /**
   * Serialise `fn` against other processes migrating the same database (PostgreSQL: advisory lock). `db` is pinned
   * to one connection.
   */
  withMigrationLock<T>(db: Kysely<Database>, fn: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Encode a value for a JSON column. */
  encodeJson(value: unknown): unknown;
  /**
   * After a commit that made jobs of these kinds ready: tell the other nodes (a hint; they also poll). Returns at
   * once; notifications are sent in the background, coalesced, and flushed by close(). Absent when the backend has
   * no cross-process signal.
   */
  announceJobs?(kinds: readonly string[]): void;
  /**
   * A batch that only inserts rows (no job resolution, idempotency key or patch: every accepted MT, every MO) is
   * written as one statement, its INSERTs as data-modifying CTEs (PostgreSQL): one round trip in an implicit
   * transaction instead of BEGIN, an INSERT per table and COMMIT, each a round trip.
   */
  readonly singleStatementInserts?: boolean;
  /** Subscribe to other nodes' notifications; resolves to an unsubscribe function. */
  listenJobs?(listener: JobsEnqueuedListener): Promise<() => Promise<void>>;
  /**
   * The backend's own writer for write batches and hot single statements (claims, lease renewals, id blocks).
   * Absent (PostgreSQL): the store builds the statements with kysely, with batched UPDATEs (batch-updates.ts).
   */
  readonly writer?: SqlWriter;
  /** Release what the dialect holds beyond kysely's own pool (listener connections). */
  close?(): Promise<void>;
}
