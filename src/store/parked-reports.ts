/**
 * Parked delivery reports (Store.parkReport / matchedParkedReports, WriteUnit.claimParked): reports whose operator
 * message ID matched no MT when they arrived, kept until an MT of that operator carries the ID (the report overtook
 * the commit of our SubmitRsp), or PARKED_REPORT_RETENTION_MS (purged with the other side tables, side-tables.ts).
 * Rare rows outside the group commit.
 */
import type { Kysely } from 'kysely';
import { decodeJson, type Database } from './schema.ts';
import { MAX_PARKED_REPORTS_PER_OPERATOR, type ParkedReport, type WriteUnit } from './store.ts';
import { claimsInIdOrder } from './write-plan.ts';

type Db = Kysely<Database>;

/** Longest operator message ID kept (MM7 MessageIDs are short; anything longer is not one of ours). */
const MAX_ID_LENGTH = 256;

export async function parkReport(db: Db, encodeJson: (v: unknown) => unknown, r: Omit<ParkedReport, 'id'>): Promise<boolean> {
  if (r.operatorMessageId.length > MAX_ID_LENGTH) return false; // never matches an MT of ours
  // Bounded per operator (an MMSC reporting IDs that are not ours, or a flood): the index's prefix counts them.
  const { n } = await db
    .selectFrom('parked_reports')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('operator_id', '=', r.operatorId)
    .executeTakeFirstOrThrow();
  if (Number(n) >= MAX_PARKED_REPORTS_PER_OPERATOR) return false;
  await db
    .insertInto('parked_reports')
    .values({ operator_id: r.operatorId, operator_message_id: r.operatorMessageId, report: encodeJson(r.report), received_at: r.receivedAt })
    .execute();
  return true;
}

/** Clock skew between nodes allowed for when a parked report must be younger than its message. */
const CLOCK_SKEW_MS = 60_000;

export async function matchedParkedReports(db: Db, limit: number): Promise<(ParkedReport & { mtId: number })[]> {
  // The join walks mt_messages_operator_msg (operator_id, operator_message_id): a few index probes per parked row.
  const rows = await db
    .selectFrom('parked_reports as p')
    .innerJoin('mt_messages as m', (j) => j.onRef('m.operator_id', '=', 'p.operator_id').onRef('m.operator_message_id', '=', 'p.operator_message_id'))
    .where((eb) => eb('p.received_at', '>=', eb(eb.ref('m.created_at'), '-', CLOCK_SKEW_MS)))
    .select(['p.id', 'p.operator_id', 'p.operator_message_id', 'p.report', 'p.received_at', 'm.mt_id'])
    .orderBy('p.id')
    .orderBy('m.mt_id', 'desc')
    .limit(Math.max(1, Math.min(1000, Math.floor(limit))))
    .execute();
  // One row per parked report: its newest matching MT (rows come newest first within a report).
  const out = new Map<number, ParkedReport & { mtId: number }>();
  for (const r of rows) {
    const id = Number(r.id);
    if (out.has(id)) continue;
    out.set(id, {
      id,
      operatorId: Number(r.operator_id),
      operatorMessageId: r.operator_message_id,
      report: decodeJson(r.report),
      receivedAt: Number(r.received_at),
      mtId: Number(r.mt_id),
    });
  }
  return [...out.values()];
}

/**
 * The units' claims on parked reports (WriteUnit.claimParked), inside the write transaction: each unit deletes its
 * rows and is skipped when any was already gone. Row locks make a concurrent claimer on another node wait and then
 * find nothing to delete, so one report is applied once.
 */
export async function claimParked(db: Db, units: readonly WriteUnit[], applied: boolean[]): Promise<number[]> {
  const lost: number[] = [];
  for (const { i, ids } of claimsInIdOrder(units, applied)) {
    const r = await db.deleteFrom('parked_reports').where('id', 'in', ids).executeTakeFirst();
    if (Number(r.numDeletedRows) < ids.length) {
      applied[i] = false;
      lost.push(i);
    }
  }
  return lost;
}
