/**
 * Retention: messages older than the configured period are deleted with everything hanging off them (events, jobs,
 * MO parts), then the sandbox's rows of that age, stale URL-cache rows, and finally the blobs nothing references any
 * more. Without it the store grows with every message, forever.
 *
 * Which messages: created AND last changed more than `retentionMs` ago, with no job still to run (a message whose
 * report is still being retried stays until that job ends). Old messages are found through the index on their
 * creation time (migration 7), oldest first. Each page's DELETE repeats the conditions, so a message another node
 * changes meanwhile (a late report, a replayed job: both move updated_at) is kept; on PostgreSQL the DELETE
 * re-checks its own row after waiting for that node's lock. An event added to a message found by an earlier read (an
 * ignored report, a read reply, an MO resend) is written only if the message is still there (loose-events.ts), so a
 * page deleted meanwhile leaves no event behind; every other write about a message is tied to it (write-plan.ts anchored()).
 *
 * Blobs: MT parts are a JSON column (migration 4), so no index tells whether a blob is still referenced. Each blob
 * carries `last_ref_at`, and every message referencing it was written at most BLOB_SKIP_WINDOW_MS (2 h) after that
 * (blob-cache.ts, the writers' upsert). A blob whose `last_ref_at` is more than retention + BLOB_GRACE_MS old can
 * therefore only be referenced by a message created before the cutoff that is still here, and the message scan has
 * just listed all of those (the "kept" messages: a job still to run, or changed recently): their blobs are spared,
 * as are blobs a URL-cache row names. The sweep runs only when the scans went through every old message, so that
 * list is whole.
 *
 * Work per call is bounded by time (WORK_BUDGET_MS), not by a page count: deleting must keep up with accepting, so a
 * busy gateway deletes as many messages per run as it takes, and a backlog is worked off over several runs.
 */
import { sql, type Kysely } from 'kysely';
import { deleteCounting, deleteInRounds, type MaintenanceWriter } from './maintenance-writes.ts';
import { inTransaction } from './migrations.ts';
import { mtPartsFromColumn } from './rows.ts';
import type { Database } from './schema.ts';
import { JOB_KINDS, JOB_REF } from './store.ts';

/** Extra age, past the retention, before an unreferenced blob goes; many times BLOB_SKIP_WINDOW_MS (clock skew between nodes included). */
export const BLOB_GRACE_MS = 24 * 60 * 60 * 1000;

/** Rows per page: each page's DELETE is one short transaction. */
const PAGE = 1000;
/** Time one call may spend deleting (housekeeping calls every 10 minutes); past it the rest waits for the next call. */
const WORK_BUDGET_MS = 60_000;
/** Pages of the small tables (sandbox rows, URL cache) per call. */
const MAX_PAGES = 200;
/** Messages kept past the cutoff whose blobs are spared, at most; past it this call sweeps no blobs. */
const MAX_KEPT = 50_000;

const MT_JOB_KINDS = JOB_KINDS.filter((k) => JOB_REF[k] === 'mt');
const MO_JOB_KINDS = JOB_KINDS.filter((k) => JOB_REF[k] === 'mo');

type Db = Kysely<Database>;

/** What one retention pass deleted. */
export interface RetentionCounts {
  mtMessages: number;
  moMessages: number;
  /** Sandbox virtual-handset copies and inbox entries. */
  sandboxRows: number;
  cachedUrls: number;
  blobs: number;
}

/** Options for purgeRetired. */
export interface RetentionOptions {
  /** Opens a write transaction on `db` (StoreDialect.beginWrite), when there is no `writer`. */
  beginWrite: string;
  /**
   * The backend's serialised writer (SQLite). A page of messages is then a few statements on it that qualify their
   * rows by the same subquery, which nothing can change between them; without one (PostgreSQL) a page is a
   * transaction on `db` whose DELETE ... RETURNING names the rows the other deletes follow.
   */
  writer?: MaintenanceWriter;
  /** For the work budget; default Date.now. */
  clock?: () => number;
}

/** Delete what is past `retentionMs` at `now` (see the module comment). */
export async function purgeRetired(db: Db, now: number, retentionMs: number, opts: RetentionOptions): Promise<RetentionCounts> {
  const clock = opts.clock ?? Date.now;
  const cutoff = now - retentionMs;
  const deadline = clock() + WORK_BUDGET_MS;
  const outOfTime = () => clock() > deadline;
  const w = opts.writer;
  const mt = await purgeMessages(db, opts, cutoff, MT_SCAN, outOfTime);
  const mo = await purgeMessages(db, opts, cutoff, MO_SCAN, outOfTime);
  const sandboxRows = (await purgeByAge(db, w, 'handset_messages', cutoff)) + (await purgeByAge(db, w, 'inbox', cutoff));
  const cachedUrls = await purgeCachedUrls(db, w, now, cutoff);
  let blobs = 0;
  if (mt.complete && mo.complete) {
    const spared = new Set([...(await mtDigests(db, mt.kept)), ...(await moDigests(db, mo.kept))]);
    blobs = await sweepBlobs(db, w, cutoff - BLOB_GRACE_MS, spared, outOfTime);
  }
  return { mtMessages: mt.deleted, moMessages: mo.deleted, sandboxRows, cachedUrls, blobs };
}

/** One message table as the scan sees it. */
interface MessageScan {
  table: 'mt_messages' | 'mo_messages';
  id: 'mt_id' | 'mo_id';
  created: 'created_at' | 'received_at';
  refKind: 'mt' | 'mo';
  jobKinds: readonly string[];
}

const MT_SCAN: MessageScan = { table: 'mt_messages', id: 'mt_id', created: 'created_at', refKind: 'mt', jobKinds: MT_JOB_KINDS };
const MO_SCAN: MessageScan = { table: 'mo_messages', id: 'mo_id', created: 'received_at', refKind: 'mo', jobKinds: MO_JOB_KINDS };

interface ScanResult {
  deleted: number;
  /** Ids of messages created before the cutoff and kept. */
  kept: number[];
  /** False when the scan ran out of time (or kept too many to list) before it had seen every old message. */
  complete: boolean;
}

async function purgeMessages(db: Db, opts: RetentionOptions, cutoff: number, s: MessageScan, outOfTime: () => boolean): Promise<ScanResult> {
  const { table, id, created } = s;
  let after: { created: number; id: number } | undefined;
  let deleted = 0;
  const kept: number[] = [];
  for (;;) {
    if (outOfTime()) return { deleted, kept, complete: false };
    // Oldest first by (creation time, id) through the creation-time index; the kept ones are stepped over.
    const from = after
      ? sql`AND (${sql.ref(created)} > ${after.created} OR (${sql.ref(created)} = ${after.created} AND ${sql.ref(id)} > ${after.id}))`
      : sql``;
    const { rows } = await sql<{ id: number; created: number; updated: number }>`
      SELECT ${sql.ref(id)} AS id, ${sql.ref(created)} AS created, updated_at AS updated FROM ${sql.table(table)}
      WHERE ${sql.ref(created)} < ${cutoff} ${from} ORDER BY ${sql.ref(created)}, ${sql.ref(id)} LIMIT ${PAGE}`.execute(db);
    if (rows.length === 0) return { deleted, kept, complete: true };
    const last = rows[rows.length - 1]!;
    after = { created: Number(last.created), id: Number(last.id) };
    const candidates = rows.filter((r) => Number(r.updated) < cutoff).map((r) => Number(r.id));
    const gone = candidates.length === 0 ? new Set<number>() : await deleteMessages(db, opts, cutoff, s, candidates);
    deleted += gone.size;
    for (const r of rows) if (!gone.has(Number(r.id))) kept.push(Number(r.id));
    if (kept.length > MAX_KEPT) return { deleted, kept, complete: false };
    if (rows.length < PAGE) return { deleted, kept, complete: true };
  }
}

/** Delete the candidates that still qualify, with their events, jobs and (MO) parts, in one transaction; their ids. */
async function deleteMessages(db: Db, opts: RetentionOptions, cutoff: number, s: MessageScan, ids: number[]): Promise<Set<number>> {
  const { table, id, refKind, jobKinds } = s;
  // Still old, unchanged since the scan read it, and no job left to run.
  const qualifies = (alias: string) => sql`${sql.ref(`${alias}.${id}`)} IN (${sql.join(ids)}) AND ${sql.ref(`${alias}.updated_at`)} < ${cutoff}
    AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.ref_id = ${sql.ref(`${alias}.${id}`)} AND j.state = 'ready'
      AND j.kind IN (${sql.join(jobKinds)}))`;
  const deleteMessagesSql = sql<{ id: number }>`DELETE FROM ${sql.table(table)} WHERE ${qualifies(table)} RETURNING ${sql.ref(id)} AS id`;
  if (opts.writer) {
    // One writer: the children first, by the same qualification, then the messages.
    const qualified = sql`SELECT ${sql.ref(`m.${id}`)} FROM ${sql.table(table)} m WHERE ${qualifies('m')}`;
    const statements = [
      sql`DELETE FROM events WHERE ref_kind = ${refKind} AND ref_id IN (${qualified})`.compile(db),
      sql`DELETE FROM jobs WHERE kind IN (${sql.join(jobKinds)}) AND ref_id IN (${qualified})`.compile(db),
      ...(refKind === 'mo' ? [sql`DELETE FROM mo_parts WHERE msg_id IN (${qualified})`.compile(db)] : []),
      deleteMessagesSql.compile(db),
    ];
    const results = await opts.writer.runAll(statements);
    return new Set((results[results.length - 1] as { id: number }[]).map((r) => Number(r.id)));
  }
  return db.connection().execute((conn) =>
    inTransaction(conn, opts.beginWrite, async () => {
      const gone = (await deleteMessagesSql.execute(conn)).rows.map((r) => Number(r.id));
      if (gone.length > 0) {
        await conn.deleteFrom('events').where('ref_kind', '=', refKind).where('ref_id', 'in', gone).execute();
        await conn.deleteFrom('jobs').where('ref_id', 'in', gone).where('kind', 'in', jobKinds).execute();
        if (refKind === 'mo') await conn.deleteFrom('mo_parts').where('msg_id', 'in', gone).execute();
      }
      return new Set(gone);
    }),
  );
}

/**
 * Sandbox tables whose autoincrement ids follow their arrival: delete from the oldest until a page has none old.
 * Their parts name blobs too; a handset copy is made within simulator.deliveryDelay (at most 1 h, config/operators.ts)
 * of the submission that wrote or refreshed those blobs, well inside the blob windows.
 */
async function purgeByAge(db: Db, w: MaintenanceWriter | undefined, table: 'handset_messages' | 'inbox', cutoff: number): Promise<number> {
  let deleted = 0;
  for (let page = 0; page < MAX_PAGES; page++) {
    const rows = await db.selectFrom(table).select(['id', 'received_at']).orderBy('id').limit(PAGE).execute();
    const old = rows.filter((r) => Number(r.received_at) < cutoff).map((r) => Number(r.id));
    if (old.length === 0) break;
    deleted += await deleteCounting(db, w, db.deleteFrom(table).where('id', 'in', old).returning('id').compile());
    // Rows newer than the cutoff in front of older ones (clock skew between nodes): leave the rest for next time.
    if (old.length < rows.length) break;
  }
  return deleted;
}

/** URL-cache rows fetched before the cutoff and stale now (a fresh one is still in use, whatever its age). */
async function purgeCachedUrls(db: Db, w: MaintenanceWriter | undefined, now: number, cutoff: number): Promise<number> {
  const q = db
    .deleteFrom('url_cache')
    .where('url', 'in', (eb) =>
      eb.selectFrom('url_cache').select('url').where('fetched_at', '<', cutoff).where('fresh_until', '<', now).limit(PAGE),
    )
    .where('fetched_at', '<', cutoff)
    .where('fresh_until', '<', now)
    .returning('url');
  return deleteInRounds(db, w, PAGE, MAX_PAGES, q.compile());
}

async function mtDigests(db: Db, ids: number[]): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < ids.length; i += PAGE) {
    const rows = await db.selectFrom('mt_messages').select('parts').where('mt_id', 'in', ids.slice(i, i + PAGE)).execute();
    for (const r of rows) for (const p of mtPartsFromColumn(r.parts)) if (p.sha256) out.push(p.sha256);
  }
  return out;
}

async function moDigests(db: Db, ids: number[]): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < ids.length; i += PAGE) {
    const rows = await db.selectFrom('mo_parts').select('sha256').where('msg_id', 'in', ids.slice(i, i + PAGE)).execute();
    for (const r of rows) if (r.sha256) out.push(r.sha256);
  }
  return out;
}

/** Delete blobs last brought before `blobCutoff`, except `spared` ones and those a URL-cache row names. */
async function sweepBlobs(db: Db, w: MaintenanceWriter | undefined, blobCutoff: number, spared: ReadonlySet<string>, outOfTime: () => boolean): Promise<number> {
  let deleted = 0;
  let after: { at: number; sha256: string } | undefined;
  while (!outOfTime()) {
    let q = db.selectFrom('blobs').select(['sha256', 'last_ref_at']).where('last_ref_at', '<', blobCutoff);
    if (after) {
      const { at, sha256 } = after;
      q = q.where((eb) => eb.or([eb('last_ref_at', '>', at), eb.and([eb('last_ref_at', '=', at), eb('sha256', '>', sha256)])]));
    }
    const rows = await q.orderBy('last_ref_at').orderBy('sha256').limit(PAGE).execute();
    if (rows.length === 0) break;
    const last = rows[rows.length - 1]!;
    after = { at: Number(last.last_ref_at), sha256: last.sha256 };
    const victims = rows.map((r) => r.sha256).filter((d) => !spared.has(d));
    if (victims.length > 0) {
      // The age is checked again in the DELETE: a message written meanwhile brought the blob back (its upsert moved
      // last_ref_at; on PostgreSQL the DELETE re-checks the row after waiting for that writer's lock).
      const del = db
        .deleteFrom('blobs')
        .where('sha256', 'in', victims)
        .where('last_ref_at', '<', blobCutoff)
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom('url_cache').select(sql`1`.as('one')).whereRef('url_cache.sha256', '=', 'blobs.sha256'))),
        )
        .returning('sha256');
      deleted += await deleteCounting(db, w, del.compile());
    }
    if (rows.length < PAGE) break;
  }
  return deleted;
}
