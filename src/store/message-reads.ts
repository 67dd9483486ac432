/**
 * Reads of one message's record: the MT row, its event log, its jobs; and the three together as one snapshot for the
 * status API (Store.getMtStatus).
 */
import type { Kysely } from 'kysely';
import type { MessageEvent, MtMessage } from '../core/message.ts';
import { inTransaction } from './migrations.ts';
import { eventFromRow, jobFromRow, mtFromRow } from './rows.ts';
import type { Database } from './schema.ts';
import { JOB_KINDS, JOB_REF, MT_STATUS_JOB_LIMIT, type Job, type JobFilter, type MtStatus } from './store.ts';

type Db = Kysely<Database>;

/** Jobs listed at most per call (a bug upstream must not turn into a giant query). */
const MAX_LIST_LIMIT = 1000;

const MT_JOB_KINDS = JOB_KINDS.filter((k) => JOB_REF[k] === 'mt');

function clampLimit(n: number | undefined, dflt: number, max: number): number {
  if (n === undefined || !Number.isFinite(n)) return dflt;
  return Math.min(max, Math.max(1, Math.floor(n)));
}

export async function mtById(db: Db, mtId: number): Promise<MtMessage | undefined> {
  const row = await db.selectFrom('mt_messages').selectAll().where('mt_id', '=', mtId).executeTakeFirst();
  return row ? mtFromRow(row) : undefined;
}

/** The event log of an MT or MO, oldest first. */
export async function eventsOf(db: Db, ref: { mtId: number } | { moId: number }): Promise<MessageEvent[]> {
  const [kind, id] = 'mtId' in ref ? ['mt', ref.mtId] : ['mo', ref.moId];
  const rows = await db
    .selectFrom('events')
    .select(['at', 'type', 'node', 'detail'])
    .where('ref_kind', '=', kind)
    .where('ref_id', '=', id)
    .orderBy('id')
    .execute();
  return rows.map(eventFromRow);
}

/** Jobs matching the filter (and of `kinds`, when given), newest first. */
export async function jobsWhere(db: Db, filter: JobFilter, kinds?: readonly string[]): Promise<Job[]> {
  let q = db.selectFrom('jobs').selectAll();
  if (filter.state !== undefined) q = q.where('state', '=', filter.state);
  if (filter.kind !== undefined) q = q.where('kind', '=', filter.kind);
  if (kinds !== undefined) q = q.where('kind', 'in', kinds);
  if (filter.refId !== undefined) q = q.where('ref_id', '=', filter.refId);
  const rows = await q.orderBy('id', 'desc').limit(clampLimit(filter.limit, 100, MAX_LIST_LIMIT)).execute();
  return rows.map(jobFromRow);
}

/**
 * The MT, its events and its jobs inside one read transaction (`beginRead`, StoreDialect.beginRead) on one
 * connection, so all three come from the same snapshot: a state change committed between two of the reads would
 * otherwise show, say, a message still `accepted` with a `submitted` event and its submit job done.
 */
export async function readMtStatus(db: Db, beginRead: string, mtId: number): Promise<MtStatus | undefined> {
  return db.connection().execute((conn) =>
    inTransaction(conn, beginRead, async () => {
      const mt = await mtById(conn, mtId);
      if (!mt) return undefined;
      const events = await eventsOf(conn, { mtId });
      const jobs = await jobsWhere(conn, { refId: mtId, limit: MT_STATUS_JOB_LIMIT }, MT_JOB_KINDS);
      return { mt, events, jobs };
    }),
  );
}
