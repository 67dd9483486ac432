/**
 * Parked delivery reports (Store.parkReport / matchedParkedReports / deleteParkedReports): reports whose operator
 * message ID matched no MT when they arrived, kept until an MT of that operator carries the ID (the report overtook
 * the commit of our SubmitRsp), or PARKED_REPORT_RETENTION_MS. Rare rows outside the group commit, like the other
 * side tables.
 */
import type { Kysely } from 'kysely';
import { decodeJson, type Database } from './schema.ts';
import { PARKED_REPORT_RETENTION_MS, type ParkedReport } from './store.ts';

type Db = Kysely<Database>;

/** Longest operator message ID kept (MM7 MessageIDs are short; anything longer is not one of ours). */
const MAX_ID_LENGTH = 256;
/** Deleted per purge statement, and statements per call (a backlog is worked off over several calls). */
const PURGE_BATCH = 5000;
const MAX_PURGE_ROUNDS = 100;

export async function parkReport(db: Db, encodeJson: (v: unknown) => unknown, r: Omit<ParkedReport, 'id'>): Promise<void> {
  if (r.operatorMessageId.length > MAX_ID_LENGTH) return; // never matches an MT of ours
  await db
    .insertInto('parked_reports')
    .values({ operator_id: r.operatorId, operator_message_id: r.operatorMessageId, report: encodeJson(r.report), received_at: r.receivedAt })
    .execute();
}

export async function matchedParkedReports(db: Db, limit: number): Promise<ParkedReport[]> {
  // The join walks mt_messages_operator_msg (operator_id, operator_message_id): a few index probes per parked row.
  const rows = await db
    .selectFrom('parked_reports as p')
    .innerJoin('mt_messages as m', (j) => j.onRef('m.operator_id', '=', 'p.operator_id').onRef('m.operator_message_id', '=', 'p.operator_message_id'))
    .select(['p.id', 'p.operator_id', 'p.operator_message_id', 'p.report', 'p.received_at'])
    .orderBy('p.id')
    .limit(Math.max(1, Math.min(1000, Math.floor(limit))))
    .execute();
  return rows.map((r) => ({
    id: Number(r.id),
    operatorId: Number(r.operator_id),
    operatorMessageId: r.operator_message_id,
    report: decodeJson(r.report),
    receivedAt: Number(r.received_at),
  }));
}

export async function deleteParkedReports(db: Db, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await db.deleteFrom('parked_reports').where('id', 'in', [...ids]).execute();
}

/** Delete reports parked before `now - PARKED_REPORT_RETENTION_MS`, in bounded statements; returns how many. */
export async function purgeParkedReports(db: Db, now: number): Promise<number> {
  const cutoff = now - PARKED_REPORT_RETENTION_MS;
  let total = 0;
  for (let round = 0; round < MAX_PURGE_ROUNDS; round++) {
    const r = await db
      .deleteFrom('parked_reports')
      .where('id', 'in', (eb) => eb.selectFrom('parked_reports as o').select('o.id').where('o.received_at', '<', cutoff).limit(PURGE_BATCH))
      .executeTakeFirst();
    const n = Number(r.numDeletedRows);
    total += n;
    if (n < PURGE_BATCH) break;
  }
  return total;
}
