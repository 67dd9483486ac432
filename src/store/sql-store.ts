/**
 * The Store port over kysely: one implementation for every SQL backend; what differs lives in a StoreDialect
 * (sqlite-dialect.ts, postgres-dialect.ts).
 */
import { Kysely, sql, type CompiledQuery, type OnConflictBuilder, type OnConflictUpdateBuilder, type QueryCreator, type Selectable } from 'kysely';
import { MT_STATE_RANK, type MessageEvent, type MoMessage, type MtMessage, type Part } from '../core/message.ts';
import type {
  CachedUrlRow,
  ClaimOptions,
  HandsetMessage,
  IdempotencyHit,
  InboxEntry,
  Job,
  JobFilter,
  JobKind,
  JobStats,
  MtPatch,
  MtStatus,
  ParkedReport,
  NodeInfo,
  NodeRow,
  PurgeCounts,
  Store,
  WriteResult,
  WriteUnit,
} from './store.ts';
import { JOB_REF } from './store.ts';
import type { JobsEnqueuedListener, StoreDialect } from './dialect.ts';
import type { BatchOutcome } from './sqlite-writer.ts';
import { BLOB_TOUCH_INTERVAL_MS, BlobCache, StoredDigests } from './blob-cache.ts';
import * as parked from './parked-reports.ts';
import { hasDuplicates, inRounds, patchMtsBatch, resolveJobsBatch } from './batch-updates.ts';
import { claimIdempotencyKeys } from './idempotency.ts';
import { claimableFor, notAnAttempt, notHeldFrom, passedColumns } from './job-passing.ts';
import { jobStats } from './job-stats.ts';
import { insertLooseEvents } from './loose-events.ts';
import { eventsOf, jobsWhere, mtById, readMtStatus } from './message-reads.ts';
import { inTransaction, runMigrations } from './migrations.ts';
import { purgeRetired } from './retention.ts';
import type { MaintenanceWriter } from './maintenance-writes.ts';
import * as side from './side-tables.ts';
import {
  handsetFromRow,
  inboxFromRow,
  jobFromRow,
  moFromRow,
  mtFromRow,
  partFromRow,
} from './rows.ts';
import type { Database, JobsTable } from './schema.ts';
import { chunkRows, lostFlags, planWrite, requiredPatchesInIdOrder, resolutionsInIdOrder, type WritePlan } from './write-plan.ts';

/** Bounds on caller-supplied counts (a bug upstream must not turn into a giant query). */
const MAX_LIST_LIMIT = 1000;
const MAX_RESERVE = 1_000_000;
const MAX_CLAIM = 1000;
/** Ids in one IN (...) list. */
const MAX_IN_LIST = 1000;

/** Called after jobs become ready; `kinds` may be empty, meaning "anything may have changed". Only a hint. */
export type JobsEnqueuedCallback = (kinds: JobKind[]) => void;

/** Options for SqlStore. */
export interface SqlStoreOptions {
  log?: (msg: string, extra?: object) => void;
  /** The clock of write() (ms since the epoch); tests move it. Default Date.now. */
  clock?: () => number;
}

type Conn = Kysely<Database>;

/** replayJob: nothing to replay (the message was deleted by the retention, or the job is no longer dead); rolls back. */
class ReplayNotDone extends Error {}

/**
 * A blob already stored is the same bytes (content addressing, so nothing to write), but bringing it again keeps it
 * from the retention sweep: its last_ref_at moves forward, at most once per BLOB_TOUCH_INTERVAL_MS (as
 * sqlite-writer.ts INSERT.blob does). PostgreSQL locks the conflicting row either way until the commit; the store's
 * known-digest cache (blob-cache.ts StoredDigests) leaves a blob out of most writes, so that is about once an hour.
 */
function touchStoredBlob(oc: OnConflictBuilder<Database, 'blobs'>): OnConflictUpdateBuilder<Database, 'blobs'> {
  return oc
    .column('sha256')
    .doUpdateSet({ last_ref_at: (eb) => eb.ref('excluded.last_ref_at') })
    .where('blobs.last_ref_at', '<', (eb) => eb(eb.ref('excluded.last_ref_at'), '-', BLOB_TOUCH_INTERVAL_MS));
}

function clampLimit(n: number | undefined, dflt: number, max: number): number {
  if (n === undefined || !Number.isFinite(n)) return dflt;
  return Math.min(max, Math.max(1, Math.floor(n)));
}

function chunks<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/** What `openStore()` returns: the Store port with job notifications (in-thread or on the SQLite store thread). */
export type SqlStore = Store & Required<Pick<Store, 'onJobsEnqueued'>>;

/** A Store over one SQL database through kysely. Create with `openStore()` (open-store.ts). */
export class KyselyStore implements SqlStore {
  readonly backend: string;
  private readonly db: Kysely<Database>;
  private readonly localListeners = new Set<JobsEnqueuedCallback>();
  private readonly blobCache = new BlobCache();
  private readonly storedBlobs = new StoredDigests();
  private readonly log: (msg: string, extra?: object) => void;
  private readonly clock: () => number;

  /** See StoreDialect.writesInFlight. */
  get writesInFlight(): number {
    return this.dialect.writesInFlight;
  }

  fatalError(): Error | undefined {
    return this.dialect.fatalError?.();
  }

  /** See Store.pollWrites: the writer thread's replies settle now instead of at the event loop's next turn. */
  pollWrites(): void {
    this.dialect.writer?.poll?.();
  }

  /** Wrap a dialect; call migrate() before use. */
  constructor(private readonly dialect: StoreDialect, opts: SqlStoreOptions = {}) {
    this.backend = dialect.name;
    this.db = new Kysely<Database>({ dialect: dialect.kysely });
    this.log = opts.log ?? (() => {});
    this.clock = opts.clock ?? Date.now;
  }

  async migrate(): Promise<void> {
    const applied = await runMigrations(this.db, this.dialect);
    if (applied.length > 0) this.log('store schema migrated', { backend: this.backend, versions: applied });
  }

  async write(given: readonly WriteUnit[]): Promise<WriteResult[]> {
    if (given.length === 0) return [];
    const now = this.clock();
    const units = this.withoutStoredBlobs(given, now);
    const writer = this.dialect.writer;
    const { applied, hits, kinds, claimLost } = writer
      ? await writer.write(this.db, units, now)
      : ((await this.writeInOneStatement(units, now)) ?? (await this.db.connection().execute((conn) =>
      inTransaction(conn, this.dialect.beginWrite, async () => {
        const { applied, retriedKinds } = await this.resolveJobs(conn, units, now);
        const lost = await parked.claimParked(conn, units, applied);
        await this.applyRequiredPatches(conn, requiredPatchesInIdOrder(units, applied), applied, now);
        // After the job and patch checks: a unit skipped claims no key.
        const hits = await claimIdempotencyKeys(conn, units, applied, now);
        const plan = planWrite(units, applied, this.dialect.encodeJson, now);
        await this.insertRows(conn, plan);
        await this.applyPatches(conn, plan, now);
        const kinds = [...new Set([...plan.jobKinds, ...retriedKinds])].sort();
        return { applied, hits, kinds, ...lostFlags(units.length, lost) };
      }),
    )));
    if (kinds.length > 0) this.announce(kinds as JobKind[]);
    for (let i = 0; i < units.length; i++) {
      // Written now: the row's last_ref_at is at least now minus the touch interval (sqlite-writer.ts INSERT.blob).
      if (applied[i]) for (const b of units[i]!.blobs ?? []) this.storedBlobs.add(b.sha256, now - BLOB_TOUCH_INTERVAL_MS);
    }
    return applied.map((a, i) => {
      const existing = hits[i];
      return existing ? { applied: false, existing } : claimLost?.[i] ? { applied: false, claimLost: true } : { applied: a };
    });
  }

  /**
   * Resolve the jobs that produced the units, each with a conditional UPDATE on (id, lease owner): a unit whose
   * job was taken over after its lease expired is skipped whole. Returns per-unit applied flags.
   */
  private async resolveJobs(
    conn: Conn,
    units: readonly WriteUnit[],
    now: number,
  ): Promise<{ applied: boolean[]; retriedKinds: string[] }> {
    const applied = units.map(() => true);
    const retriedKinds: string[] = [];
    const order = resolutionsInIdOrder(units);
    if (this.dialect.batchUpdates && order.length > 1 && !hasDuplicates(order.map((x) => x.job.jobId))) {
      const changed = new Map((await resolveJobsBatch(conn, order.map((x) => x.job), now)).map((r) => [r.id, r.kind]));
      for (const { i, job } of order) {
        const kind = changed.get(job.jobId);
        applied[i] = kind !== undefined;
        if (kind !== undefined && job.outcome === 'retry') retriedKinds.push(kind);
      }
      return { applied, retriedKinds };
    }
    for (const { i, job } of order) {
      const base = { lease_owner: null, lease_expires_at: null, updated_at: now, ...passedColumns(job) };
      const set =
        job.outcome === 'done'
          ? { ...base, state: 'done' }
          : job.outcome === 'retry'
            ? { ...base, run_at: job.runAt, last_error: job.error, attempts: sql<number>`attempts - ${notAnAttempt(job)}` }
            : { ...base, state: 'dead', last_error: job.error };
      const row = await conn
        .updateTable('jobs')
        .set(set)
        .where('id', '=', job.jobId)
        .where('lease_owner', '=', job.owner)
        .where('state', '=', 'ready')
        .returning(['id', 'kind'])
        .executeTakeFirst();
      applied[i] = row !== undefined;
      if (row && job.outcome === 'retry') retriedKinds.push(row.kind);
    }
    return { applied, retriedKinds };
  }

  /**
   * A batch of units that only insert rows, as one statement (StoreDialect.singleStatementInserts): each table's
   * multi-row INSERT a data-modifying CTE, all in the statement's own transaction
   * (PostgreSQL runs every data-modifying CTE to completion whether or not the query reads it). Undefined, with
   * nothing written, when the dialect cannot, a unit does more than insert, or the rows exceed one statement's
   * parameters: the caller then takes the general path.
   */
  private async writeInOneStatement(units: readonly WriteUnit[], now: number): Promise<BatchOutcome | undefined> {
    if (!this.dialect.singleStatementInserts || !units.every(insertsOnly)) return undefined;
    const applied = units.map(() => true);
    const plan = planWrite(units, applied, this.dialect.encodeJson, now);
    if (plan.looseEvents.length > 0) return undefined; // conditional inserts (loose-events.ts): rare, the general path
    const tables = [
      ['blobs', plan.blobs],
      ['mt_messages', plan.mts],
      ['mo_messages', plan.mos],
      ['mo_parts', plan.moParts],
      ['events', plan.events],
      ['jobs', plan.jobs],
      ['handset_messages', plan.handset],
      ['inbox', plan.inbox],
    ] as const;
    let parameters = 2;
    for (const [, rows] of tables) if (rows.length > 0) parameters += rows.length * Object.keys(rows[0]!).length;
    if (parameters > this.dialect.maxParameters) return undefined;
    let query: QueryCreator<Database> = this.db;
    for (const [table, rows] of tables) {
      if (rows.length === 0) continue;
      query = query.with(`w_${table}`, (db) =>
        // A blob another transaction stored meanwhile is the same bytes (touchStoredBlob).
        table === 'blobs' ? db.insertInto('blobs').values(rows as never).onConflict(touchStoredBlob) : db.insertInto(table).values(rows as never),
      ) as unknown as QueryCreator<Database>;
    }
    await query.selectNoFrom(sql`1`.as('done')).execute();
    return { applied, hits: units.map(() => undefined), kinds: plan.jobKinds };
  }

  /** One multi-row INSERT per table (chunked under the parameter limit), in dependency order. */
  private async insertRows(conn: Conn, plan: WritePlan): Promise<void> {
    const max = this.dialect.maxParameters;
    for (const rows of chunkRows(plan.blobs, max)) {
      await conn
        .insertInto('blobs')
        .values(rows)
        .onConflict(touchStoredBlob)
        .execute();
    }
    for (const rows of chunkRows(plan.mts, max)) await conn.insertInto('mt_messages').values(rows).execute();
    for (const rows of chunkRows(plan.mos, max)) await conn.insertInto('mo_messages').values(rows).execute();
    for (const rows of chunkRows(plan.moParts, max)) await conn.insertInto('mo_parts').values(rows).execute();
    for (const rows of chunkRows(plan.events, max)) await conn.insertInto('events').values(rows).execute();
    await insertLooseEvents(conn, plan.looseEvents, this.dialect.lockReferencedRows === true);
    for (const rows of chunkRows(plan.jobs, max)) await conn.insertInto('jobs').values(rows).execute();
    for (const rows of chunkRows(plan.handset, max)) await conn.insertInto('handset_messages').values(rows).execute();
    for (const rows of chunkRows(plan.inbox, max)) await conn.insertInto('inbox').values(rows).execute();
  }

  /** MT patches, forward-only with the guard in SQL (core/message.ts canTransition); then MO state changes. */
  private async applyPatches(conn: Conn, plan: WritePlan, now: number): Promise<void> {
    if (this.dialect.batchUpdates) {
      for (const round of inRounds(plan.mtPatches, (p) => p.mtId)) {
        if (round.length > 1) await patchMtsBatch(conn, round, now);
        else await this.patchMt(conn, round[0]!, now);
      }
    } else {
      for (const p of plan.mtPatches) await this.patchMt(conn, p, now);
    }
    for (const m of plan.moStates) {
      await conn.updateTable('mo_messages').set({ state: m.state, updated_at: now }).where('mo_id', '=', m.moId).execute();
    }
  }

  /**
   * The units' required patches (a unit applies only if its patch moves its message forward): one UPDATE for the
   * batch where the dialect batches updates, else row by row. Every operator answer and delivery report carries one,
   * so row by row they were two round trips per message end to end, two thirds of all PostgreSQL statements.
   */
  private async applyRequiredPatches(
    conn: Conn,
    required: readonly { i: number; patch: MtPatch }[],
    applied: boolean[],
    now: number,
  ): Promise<void> {
    if (!this.dialect.batchUpdates) {
      for (const { i, patch } of required) if (!(await this.patchMt(conn, patch, now))) applied[i] = false;
      return;
    }
    for (const round of inRounds(required, (r) => r.patch.mtId)) {
      if (round.length === 1) {
        const { i, patch } = round[0]!;
        if (!(await this.patchMt(conn, patch, now))) applied[i] = false;
        continue;
      }
      const changed = await patchMtsBatch(conn, round.map((r) => r.patch), now);
      for (const { i, patch } of round) if (!changed.has(patch.mtId)) applied[i] = false;
    }
  }

  /** One forward-only MT patch; true when it changed the message. */
  private async patchMt(conn: Conn, p: MtPatch, now: number): Promise<boolean> {
    const rank = MT_STATE_RANK[p.state];
    if (rank === undefined) throw new TypeError(`unknown MT state ${String(p.state)}`);
    const r = await conn
      .updateTable('mt_messages')
      .set(patchColumns(p, rank, now))
      .where('mt_id', '=', p.mtId)
      .where((eb) =>
        p.state !== 'reported'
          ? eb('state_rank', '<', rank)
          : eb.or([
              eb('state_rank', '<', rank),
              p.outcomeId === undefined
                ? eb('state', '=', 'reported')
                : eb.and([eb('state', '=', 'reported'), eb('outcome_id', 'is distinct from', p.outcomeId)]),
            ]),
      )
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async reserveIds(sequence: 'mt' | 'mo', count: number): Promise<number> {
    if (sequence !== 'mt' && sequence !== 'mo') throw new TypeError(`unknown sequence ${String(sequence)}`);
    if (!Number.isSafeInteger(count) || count < 1 || count > MAX_RESERVE) {
      throw new RangeError(`reserveIds count must be 1..${MAX_RESERVE}, got ${count}`);
    }
    // One atomic UPDATE ... RETURNING: two nodes can never get overlapping blocks. The guard keeps every id < 2^53.
    const query = this.db
      .updateTable('sequences')
      .set((eb) => ({ next: eb('next', '+', count) }))
      .where('name', '=', sequence)
      .where((eb) => eb(eb('next', '+', count), '<=', Number.MAX_SAFE_INTEGER))
      .returning('next');
    // Flushed: a block handed out twice would repeat ids.
    const [row] = await this.onWriter(query.compile(), true, () => query.execute().then((rows) => ({ rows })));
    if (!row) throw new RangeError(`id sequence ${sequence} is exhausted (or missing)`);
    return Number(row.next) - count;
  }

  async claimJobs(opts: ClaimOptions): Promise<Job[]> {
    if (opts.kinds.length === 0) return [];
    const limit = clampLimit(opts.limit, 1, MAX_CLAIM);
    const now = opts.now;
    const lock = this.dialect.supportsSkipLocked ? sql`FOR UPDATE OF j SKIP LOCKED` : sql``;
    // One conditional UPDATE over a subquery: atomic on SQLite (single writer) and, on PostgreSQL, SKIP LOCKED
    // makes concurrent claimers pass over rows another claimer is taking; FOR UPDATE re-checks the conditions on
    // the latest row version, so a job claimed and committed meanwhile is not claimed again.
    // A claimed job is due again when its lease expires (run_at moves with the lease): the claim scan over
    // jobs_claim (kind, run_at, id) then stops at the first job that is not due, instead of walking past every job
    // already leased to a runner (with 128 submissions in flight, most of each scan), and nextRunAt stays right.
    const claim = sql<Selectable<JobsTable>>`
      UPDATE jobs SET
        lease_owner = ${opts.owner},
        lease_expires_at = ${now + opts.leaseMs},
        run_at = ${now + opts.leaseMs},
        attempts = attempts + 1,
        first_attempt_at = COALESCE(first_attempt_at, ${now}),
        updated_at = ${now}
      WHERE id IN (
        SELECT j.id FROM jobs j
        WHERE j.state = 'ready'
          AND j.kind IN (${sql.join(opts.kinds)})
          AND j.run_at <= ${now}
          AND (j.lease_expires_at IS NULL OR j.lease_expires_at < ${now})
          AND ${notHeldFrom(this.dialect, opts.owner, now)}
          AND (j.order_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM jobs o WHERE o.order_key = j.order_key AND o.state = 'ready' AND o.id < j.id))
        ORDER BY j.run_at, j.id
        LIMIT ${limit}
        ${lock}
      )
      RETURNING *`;
    // A lease lost in a crash only makes its jobs claimable again, so the claim's own write needs no flush (the
    // event-loop SQLite writer still answers only once the rows that made the jobs are synced: sqlite-dialect.ts).
    const rows = await this.onWriter(claim.compile(this.db), false, () => claim.execute(this.db));
    return rows.map(jobFromRow).sort((a, b) => a.runAt - b.runAt || a.id - b.id);
  }

  async extendLeases(jobIds: readonly number[], owner: string, leaseExpiresAt: number): Promise<number[]> {
    const held: number[] = [];
    // As for claims: a renewal lost in a crash costs nothing (the lease was the dead node's anyway).
    const renew = (db: Conn, ids: number[]) =>
      db
        .updateTable('jobs')
        .set({ lease_expires_at: leaseExpiresAt, run_at: leaseExpiresAt }) // due again when the lease ends (claimJobs)
        .where('id', 'in', ids)
        .where('lease_owner', '=', owner)
        .where('state', '=', 'ready')
        .returning('id');
    for (const ids of chunks(jobIds, MAX_IN_LIST)) {
      const query = renew(this.db, ids);
      const rows = await this.onWriter(query.compile(), false, async () => ({ rows: await query.execute() }));
      held.push(...rows.map((r) => r.id));
    }
    return held.sort((a, b) => a - b);
  }

  /**
   * A hot write outside the group commit (claims, lease renewals, id blocks): on the backend's own writer when it
   * has one (SQLite: with a writer thread, on the store's own connection it would wait for the thread's lock and
   * stall the event loop meanwhile), else `inline` through kysely. `flush: false` for lease writes: a lease lost in a
   * crash only makes its job claimable again.
   */
  private async onWriter<R>(compiled: CompiledQuery<R>, flush: boolean, inline: () => Promise<{ rows: R[] }>): Promise<R[]> {
    const writer = this.dialect.writer;
    if (writer) return (await writer.run(this.db, compiled.sql, compiled.parameters, flush)) as R[];
    return (await inline()).rows;
  }

  async releaseLeases(owner: string): Promise<number> {
    const now = Date.now();
    const rows = await this.db
      .updateTable('jobs')
      .set({ lease_owner: null, lease_expires_at: null, run_at: now, updated_at: now }) // due at once, for any node
      .where('lease_owner', '=', owner)
      .where('state', '=', 'ready')
      .returning('kind')
      .execute();
    if (rows.length === 0) return 0;
    // A draining node hands its jobs over: wake the other nodes now rather than at their next poll.
    this.announce([...new Set(rows.map((r) => r.kind))].sort() as JobKind[]);
    return rows.length;
  }

  async nextRunAt(kinds: readonly JobKind[], owner?: string): Promise<number | null> {
    if (kinds.length === 0) return null;
    // When a job becomes claimable: its runAt, or just after its lease expires. Jobs waiting behind an older job
    // with the same order key are left out: they become claimable only when that one finishes (a write wakes us).
    // For the owner, a job it passed on only when its hold ends: due at once for the others, it would otherwise keep
    // the owner's runner claiming in a loop until one of them takes it.
    const at = sql<number>`CASE WHEN j.lease_expires_at IS NULL OR j.lease_expires_at < j.run_at
                      THEN j.run_at ELSE j.lease_expires_at + 1 END`;
    const r = await sql<{ t: number | null }>`
      SELECT MIN(${owner === undefined ? at : claimableFor(this.dialect, owner, at)}) AS t
      FROM jobs j
      WHERE j.state = 'ready'
        AND j.kind IN (${sql.join(kinds)})
        AND (j.order_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM jobs o WHERE o.order_key = j.order_key AND o.state = 'ready' AND o.id < j.id))`.execute(this.db);
    const t = r.rows[0]?.t;
    return t === null || t === undefined ? null : Number(t);
  }

  async jobStats(now: number): Promise<JobStats> {
    return jobStats(this.db, now);
  }

  async listJobs(filter: JobFilter): Promise<Job[]> {
    return jobsWhere(this.db, filter);
  }

  async replayJob(jobId: number, now: number): Promise<boolean> {
    const kind = await this.db.connection().execute((conn) =>
      inTransaction(conn, this.dialect.beginWrite, async () => {
        const job = await conn.selectFrom('jobs').select(['kind', 'ref_id']).where('id', '=', jobId).where('state', '=', 'dead').executeTakeFirst();
        if (!job) return undefined;
        // A replay changes its message: moving updated_at keeps the retention (retention.ts) from deleting the message
        // and this job under it (its DELETE re-checks updated_at). The message row is locked before the job's, the
        // order the retention locks them in (on PostgreSQL the other order could deadlock with it). A message already
        // deleted has nothing to replay for.
        const ref = Number(job.ref_id);
        const touched =
          JOB_REF[job.kind as JobKind] === 'mo'
            ? await conn.updateTable('mo_messages').set({ updated_at: now }).where('mo_id', '=', ref).executeTakeFirst()
            : await conn.updateTable('mt_messages').set({ updated_at: now }).where('mt_id', '=', ref).executeTakeFirst();
        if (Number(touched.numUpdatedRows) === 0 && ref !== 0) throw new ReplayNotDone();
        const row = await conn
          .updateTable('jobs')
          .set({
            state: 'ready',
            attempts: 0,
            first_attempt_at: null,
            run_at: now,
            lease_owner: null,
            lease_expires_at: null,
            updated_at: now,
          })
          .where('id', '=', jobId)
          .where('state', '=', 'dead') // replayed by someone else meanwhile: roll the message's update back too
          .returning('kind')
          .executeTakeFirst();
        if (!row) throw new ReplayNotDone();
        return row.kind as JobKind;
      }),
    ).catch((err: unknown) => {
      if (err instanceof ReplayNotDone) return undefined;
      throw err;
    });
    if (kind === undefined) return false;
    this.announce([kind]);
    return true;
  }

  async discardJob(jobId: number, now: number): Promise<boolean> {
    const row = await this.db
      .updateTable('jobs')
      .set((eb) => ({
        state: 'done',
        updated_at: now,
        last_error: sql<string>`${'discarded by an operator; last error: '} || ${eb.fn.coalesce('last_error', sql<string>`''`)}`,
      }))
      .where('id', '=', jobId)
      .where('state', '=', 'dead')
      .returning('id')
      .executeTakeFirst();
    return row !== undefined;
  }

  async getMt(mtId: number): Promise<MtMessage | undefined> {
    return mtById(this.db, mtId);
  }

  async getMtStatus(mtId: number): Promise<MtStatus | undefined> {
    return readMtStatus(this.db, this.dialect.beginRead, mtId);
  }

  async getMts(mtIds: readonly number[]): Promise<Map<number, MtMessage>> {
    const out = new Map<number, MtMessage>();
    const ids = [...new Set(mtIds)];
    for (const batch of chunks(ids, MAX_IN_LIST)) {
      const rows = await this.db.selectFrom('mt_messages').selectAll().where('mt_id', 'in', batch).execute();
      for (const r of rows) out.set(Number(r.mt_id), mtFromRow(r));
    }
    return out;
  }

  async findMtByOperatorMessageId(operatorId: number, operatorMessageId: string): Promise<MtMessage | undefined> {
    const row = await this.db
      .selectFrom('mt_messages')
      .selectAll()
      .where('operator_id', '=', operatorId)
      .where('operator_message_id', '=', operatorMessageId)
      .orderBy('mt_id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? mtFromRow(row) : undefined;
  }

  async findMoIdByOperatorMessageId(operatorId: number, operatorMessageId: string, since: number): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('mo_messages')
      .select('mo_id')
      .where('operator_id', '=', operatorId)
      .where('operator_message_id', '=', operatorMessageId)
      .where('received_at', '>=', since)
      .orderBy('mo_id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? Number(row.mo_id) : undefined;
  }

  async getMo(moId: number): Promise<MoMessage | undefined> {
    const row = await this.db.selectFrom('mo_messages').selectAll().where('mo_id', '=', moId).executeTakeFirst();
    return row ? moFromRow(row, await this.parts('mo_parts', row.mo_id)) : undefined;
  }

  private async parts(table: 'mo_parts', msgId: number): Promise<Part[]> {
    const rows = await this.db.selectFrom(table).selectAll().where('msg_id', '=', msgId).orderBy('seq').execute();
    return rows.map(partFromRow);
  }

  async getEvents(ref: { mtId: number } | { moId: number }): Promise<MessageEvent[]> {
    return eventsOf(this.db, ref);
  }

  async getBlob(sha256: string): Promise<Buffer | undefined> {
    const cached = this.blobCache.get(sha256);
    if (cached) return cached;
    const row = await this.db.selectFrom('blobs').select(['bytes', 'last_ref_at']).where('sha256', '=', sha256).executeTakeFirst();
    if (!row) return undefined;
    const bytes = Buffer.from(row.bytes);
    this.blobCache.set(sha256, bytes);
    // Known stored as of its own last_ref_at, not of this read: a read does not keep a blob (retention.ts).
    this.storedBlobs.add(sha256, Number(row.last_ref_at));
    return bytes;
  }

  /** The units without the blobs known to be stored already (copies only of the units that change). */
  private withoutStoredBlobs(units: readonly WriteUnit[], now: number): readonly WriteUnit[] {
    let out: WriteUnit[] | undefined;
    for (let i = 0; i < units.length; i++) {
      const blobs = units[i]!.blobs;
      if (!blobs || !blobs.some((b) => this.storedBlobs.has(b.sha256, now))) continue;
      out ??= units.slice();
      out[i] = { ...units[i]!, blobs: blobs.filter((b) => !this.storedBlobs.has(b.sha256, now)) };
    }
    return out ?? units;
  }

  async listHandsetMessages(number: string, limit: number, mtId?: number): Promise<HandsetMessage[]> {
    let q = this.db.selectFrom('handset_messages').selectAll().where('number', '=', number);
    if (mtId !== undefined) q = q.where('mt_id', '=', mtId);
    const rows = await q
      .orderBy('id', 'desc')
      .limit(clampLimit(limit, 50, MAX_LIST_LIMIT))
      .execute();
    return rows.map(handsetFromRow);
  }

  async listInbox(box: string | undefined, limit: number): Promise<InboxEntry[]> {
    let q = this.db.selectFrom('inbox').selectAll();
    if (box !== undefined) q = q.where('box', '=', box);
    const rows = await q.orderBy('id', 'desc').limit(clampLimit(limit, 50, MAX_LIST_LIMIT)).execute();
    return rows.map(inboxFromRow);
  }

  async getIdempotencyKey(accountId: string, key: string, now: number): Promise<IdempotencyHit | undefined> {
    return side.getIdempotencyKey(this.db, accountId, key, now);
  }

  async purgeExpired(now: number, retentionMs?: number): Promise<PurgeCounts> {
    const dw = this.dialect.writer;
    // Housekeeping deletes go to the backend's writer when it has one (maintenance-writes.ts).
    const writer: MaintenanceWriter | undefined = dw
      ? { runAll: (qs) => dw.runAll(this.db, qs.map((q) => ({ sql: q.sql, params: q.parameters }))) }
      : undefined;
    const counts = await side.purgeExpired(this.db, now, writer);
    if (retentionMs === undefined || retentionMs <= 0) return counts;
    return { ...counts, retired: await purgeRetired(this.db, now, retentionMs, { beginWrite: this.dialect.beginWrite, writer }) };
  }

  async parkReport(report: Omit<ParkedReport, 'id'>): Promise<boolean> {
    return parked.parkReport(this.db, this.dialect.encodeJson, report);
  }

  async matchedParkedReports(limit: number): Promise<(ParkedReport & { mtId: number })[]> {
    return parked.matchedParkedReports(this.db, limit);
  }

  async getCachedUrl(url: string): Promise<CachedUrlRow | undefined> {
    return side.getCachedUrl(this.db, url);
  }

  async putCachedUrl(row: CachedUrlRow): Promise<void> {
    return side.putCachedUrl(this.db, row);
  }

  async heartbeat(node: NodeInfo, now: number): Promise<void> {
    return side.heartbeat(this.db, node, now);
  }

  async listNodes(aliveSince: number): Promise<NodeRow[]> {
    return side.listNodes(this.db, aliveSince);
  }

  /**
   * Be told when jobs become ready: after this store's own writes (in-process) and, on PostgreSQL, after other
   * nodes' writes (LISTEN/NOTIFY). Calls are hints and may repeat; `kinds` empty means "check everything".
   * Returns an unsubscribe function.
   */
  onJobsEnqueued(callback: JobsEnqueuedCallback): () => void {
    this.localListeners.add(callback);
    const remote: JobsEnqueuedListener = (kinds) => callback(kinds as JobKind[]);
    const unlisten = this.dialect.listenJobs
      ? this.dialect.listenJobs(remote).catch((err: Error) => {
          this.log('job notifications unavailable', { error: err.message });
          return undefined;
        })
      : Promise.resolve(undefined);
    return () => {
      this.localListeners.delete(callback);
      void unlisten.then((u) => u?.());
    };
  }

  private emitLocal(kinds: JobKind[]): void {
    for (const l of this.localListeners) {
      try {
        l(kinds);
      } catch (err) {
        this.log('job listener threw', { error: (err as Error).message });
      }
    }
  }

  /** Jobs of these kinds became ready (committed): wake this node's runners now and tell the other nodes. */
  private announce(kinds: JobKind[]): void {
    this.emitLocal(kinds);
    this.dialect.announceJobs?.(kinds);
  }

  async close(): Promise<void> {
    this.localListeners.clear();
    await this.dialect.close?.();
    await this.db.destroy();
  }
}

/** SET clause of an MT patch: absent fields stay as they are, null clears. */
function patchColumns(p: MtPatch, rank: number, now: number): Record<string, string | number | null> {
  const set: Record<string, string | number | null> = { state: p.state, state_rank: rank, updated_at: now };
  if (p.status !== undefined) set.status = p.status;
  if (p.outcomeId !== undefined) set.outcome_id = p.outcomeId;
  if (p.outcomeDescription !== undefined) set.outcome_description = p.outcomeDescription;
  if (p.userAgent !== undefined) set.user_agent = p.userAgent;
  if (p.operatorMessageId !== undefined) set.operator_message_id = p.operatorMessageId;
  return set;
}

/** A unit that only adds rows: no job to resolve, no idempotency key or parked report to claim, nothing to patch. */
function insertsOnly(u: WriteUnit): boolean {
  return u.job === undefined && u.idempotency === undefined && !u.claimParked?.length && !u.mtPatches?.length && !u.moStates?.length;
}
