/**
 * Events written only while their message exists (write-plan.ts anchored(): units that neither create, resolve a job
 * of, nor patch-required their message). The retention may have deleted the message since the caller read it; a plain
 * INSERT would then leave an event that references nothing and that nothing would ever delete. Such units are rare
 * (an ignored report, a read reply, an MO resend), so these go row by row.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, EventsTable } from './schema.ts';

/**
 * INSERT ... SELECT from the message row: nothing when it is gone. With `lockReferencedRows` (StoreDialect) the row
 * is read FOR KEY SHARE: a retention transaction that has deleted it but not committed makes the insert wait and then
 * find nothing, and one that comes later waits for this commit, after which its delete of the events sees this one.
 */
export async function insertLooseEvents(conn: Kysely<Database>, rows: readonly Omit<EventsTable, 'id'>[], lockReferencedRows: boolean): Promise<void> {
  const lock = lockReferencedRows ? sql` FOR KEY SHARE` : sql``;
  // The rows locked in id order, as the retention's DELETE takes them through the primary key. In the order of the
  // batch's units, a lock held on one message while waiting for another that a retention page has deleted, with the
  // first next on its list, would close a cycle, and PostgreSQL would abort the whole batch (accepts included) as a
  // deadlock. The sort is stable, so one message's events keep their order.
  const ordered = lockReferencedRows && rows.length > 1 ? [...rows].sort(byMessage) : rows;
  for (const e of ordered) {
    const parent = e.ref_kind === 'mt' ? sql`mt_messages WHERE mt_id = ${e.ref_id}` : sql`mo_messages WHERE mo_id = ${e.ref_id}`;
    await sql`INSERT INTO events (ref_kind, ref_id, at, type, node, detail)
      SELECT ${e.ref_kind}, ${e.ref_id}, ${e.at}, ${e.type}, ${e.node}, ${e.detail} FROM ${parent}${lock}`.execute(conn);
  }
}

function byMessage(x: Omit<EventsTable, 'id'>, y: Omit<EventsTable, 'id'>): number {
  if (x.ref_kind !== y.ref_kind) return x.ref_kind < y.ref_kind ? -1 : 1;
  return Number(x.ref_id) - Number(y.ref_id);
}
