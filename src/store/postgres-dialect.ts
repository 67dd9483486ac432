/**
 * PostgreSQL backend (pg Pool): several nodes share one database.
 *
 * int8 (BIGINT) values arrive from pg as strings by default; the store's ids and times are below 2^53, so they are
 * parsed into numbers here, at the edge, once.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresDialect as KyselyPostgresDialect, sql, type Kysely } from 'kysely';
import type { JobsEnqueuedListener, StoreDialect } from './dialect.ts';
import type { Database } from './schema.ts';

/** Arbitrary constant key for pg_advisory_lock around migrations ("mmsgate" in ASCII, as a number). */
const MIGRATION_LOCK_KEY = 0x6d6d7367617465;
/** NOTIFY channel for newly ready jobs. */
const JOBS_CHANNEL = 'mmsgate_jobs';
const INT8_OID = 20;
const MAX_POOL_SIZE = 200;

/** Options for connecting to PostgreSQL. */
export interface PostgresOptions {
  connectionString: string;
  /** Pool size; default 10. */
  poolSize?: number;
  log?: (msg: string, extra?: object) => void;
}

function parseInt8(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${v} is beyond 2^53`);
  return n;
}

/** pg type parsers: int8 as a JS number, everything else as pg does by default. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (v: string) => unknown {
    if (oid === INT8_OID && format !== 'binary') return parseInt8;
    return pg.types.getTypeParser(oid, format ?? 'text') as (v: string) => unknown;
  },
};

/** Build the PostgreSQL dialect: a pool for queries, plus (on demand) one client for LISTEN. */
export function postgresDialect(opts: PostgresOptions): StoreDialect {
  const log = opts.log ?? (() => {});
  const max = Math.min(MAX_POOL_SIZE, Math.max(1, Math.floor(opts.poolSize ?? 10)));
  const pool = new pg.Pool({ connectionString: opts.connectionString, max, types });
  // An idle client's error (server restart) must not crash the process; the pool drops that client.
  pool.on('error', (err) => log('postgres pool client error', { error: err.message }));

  const listeners = new Set<JobsEnqueuedListener>();
  /** Tags this store's notifications (payload "origin:kind,kind") so its own listener can skip them. */
  const origin = randomBytes(6).toString('hex');
  let listenClient: pg.Client | undefined;
  let connecting: Promise<void> | undefined;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;

  async function connectListener(): Promise<void> {
    const client = new pg.Client({ connectionString: opts.connectionString, types });
    client.on('notification', (msg) => {
      if (msg.channel !== JOBS_CHANNEL) return;
      const payload = msg.payload ?? '';
      const sep = payload.indexOf(':');
      // This store's own writes already woke its listeners in-process (sql-store.ts emitLocal); its echo would
      // only send every runner of this node to claim again for nothing.
      if (sep >= 0 && payload.slice(0, sep) === origin) return;
      const kinds = payload.slice(sep + 1).split(',').filter(Boolean);
      for (const l of listeners) l(kinds);
    });
    client.on('error', (err) => {
      log('postgres listen connection lost', { error: err.message });
      if (listenClient === client) listenClient = undefined;
      client.end().catch(() => {});
      scheduleReconnect();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${JOBS_CHANNEL}`);
    } catch (err) {
      client.end().catch(() => {});
      throw err;
    }
    listenClient = client;
    // Jobs may have been enqueued while the listener was down: wake everyone once.
    for (const l of listeners) l([]);
  }

  function ensureListener(): Promise<void> {
    if (listenClient || closed) return Promise.resolve();
    connecting ??= connectListener().finally(() => {
      connecting = undefined;
    });
    return connecting;
  }

  function scheduleReconnect(): void {
    if (closed || listeners.size === 0 || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      ensureListener().catch((err: Error) => {
        log('postgres listen reconnect failed', { error: err.message });
        scheduleReconnect();
      });
    }, 1000);
    retryTimer.unref();
  }

  /**
   * The job-kinds notification (`origin` lets this node skip its own: it has already woken its runners), sent after
   * the data's commit in a statement of its own, never inside a write: a transaction that NOTIFYs takes a
   * database-wide lock from its pre-commit until its commit is flushed (PostgreSQL's async.c, "serialize writers by
   * acquiring a special lock that we hold till after commit"), so a NOTIFY in every write transaction made all
   * commits of all nodes wait for each other's WAL flush. Its own transaction writes nothing else, so it has no flush
   * to wait for (`synchronous_commit` off for it alone makes sure of that: a notification is a hint, lost harmlessly
   * in a crash), and the lock is held only for the instant of queuing it. At most one is in flight per node; kinds
   * announced meanwhile go out together in the next.
   */
  const announcer = new JobAnnouncer(async (kinds) => {
    await pool.query(`SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)`, [JOBS_CHANNEL, `${origin}:${kinds.join(',')}`]);
  }, log);

  return {
    name: 'postgres',
    kysely: new KyselyPostgresDialect({ pool }),
    ddl: {
      bigint: 'BIGINT',
      int: 'INTEGER',
      text: 'TEXT',
      blob: 'BYTEA',
      json: 'JSONB',
      autoId: 'BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY',
      jsonObject: (pairs) => `json_build_object(${pairs.map(([k, e]) => `'${k}', ${e}`).join(', ')})`,
      jsonArrayAgg: (element, orderBy) => `json_agg(${element} ORDER BY ${orderBy})::jsonb`,
    },
    maxParameters: 65535,
    supportsSkipLocked: true,
    positionFunction: 'strpos',
    lockReferencedRows: true,
    writesInFlight: 4,
    batchUpdates: true,
    beginWrite: 'BEGIN',
    // A read-only REPEATABLE READ transaction never fails with a serialisation error: only writes can conflict.
    beginRead: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
    async withMigrationLock<T>(db: Kysely<Database>, fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
      // Session-level lock on one pinned connection: nodes starting at the same instant on an empty database
      // queue here, and each finds the schema already at its version once it gets the lock.
      // `db` is pinned to one connection by the caller, so lock and unlock happen in the same session.
      await sql`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`.execute(db);
      try {
        return await fn(db);
      } finally {
        await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(db);
      }
    },
    encodeJson: (value) => JSON.stringify(value),
    announceJobs: (kinds) => announcer.announce(kinds),
    singleStatementInserts: true,
    async listenJobs(listener: JobsEnqueuedListener): Promise<() => Promise<void>> {
      listeners.add(listener);
      try {
        await ensureListener();
      } catch (err) {
        // A first connection that fails is retried like a lost one (every second), so other nodes' wake-ups resume
        // once the database is back instead of waiting for each runner's poll interval for good; meanwhile the
        // runners poll. The listener stays registered, and the caller gets its unsubscribe function either way.
        log('postgres listen failed; retrying', { error: (err as Error).message });
        scheduleReconnect();
      }
      return async () => {
        listeners.delete(listener);
        if (listeners.size === 0 && listenClient) {
          const c = listenClient;
          listenClient = undefined;
          await c.end().catch(() => {});
        }
      };
    },
    async close(): Promise<void> {
      await announcer.flush(); // before the pool goes: a replay from the CLI must reach the running nodes
      closed = true;
      listeners.clear();
      if (retryTimer) clearTimeout(retryTimer);
      await connecting?.catch(() => {});
      const c = listenClient;
      listenClient = undefined;
      await c?.end().catch(() => {});
    },
  };
}

/**
 * Post-commit job notifications of one node, coalesced: one in flight at a time; kinds announced while it runs go out
 * together in the next. A failed one is logged and dropped (the other nodes' polls cover it).
 */
export class JobAnnouncer {
  private pending = new Set<string>();
  private running: Promise<void> | undefined;

  constructor(
    private readonly send: (kinds: string[]) => Promise<void>,
    private readonly log: (msg: string, extra?: object) => void,
  ) {}

  /** Queue a notification of these kinds; returns at once. */
  announce(kinds: readonly string[]): void {
    if (kinds.length === 0) return; // nothing to send (and drain() must not finish before `running` is set)
    for (const k of kinds) this.pending.add(k);
    this.running ??= this.drain();
  }

  /** Resolves once everything announced so far has been sent (or has failed). */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    while (this.pending.size > 0) {
      const kinds = [...this.pending].sort();
      this.pending.clear();
      try {
        await this.send(kinds);
      } catch (err) {
        this.log('job notification failed', { error: (err as Error).message });
      }
    }
    this.running = undefined;
  }
}
