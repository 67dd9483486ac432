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
  for (const e of rows) {
    const parent = e.ref_kind === 'mt' ? sql`mt_messages WHERE mt_id = ${e.ref_id}` : sql`mo_messages WHERE mo_id = ${e.ref_id}`;
    await sql`INSERT INTO events (ref_kind, ref_id, at, type, node, detail)
      SELECT ${e.ref_kind}, ${e.ref_id}, ${e.at}, ${e.type}, ${e.node}, ${e.detail} FROM ${parent}${lock}`.execute(conn);
  }
}
