/**
 * Housekeeping deletes (side-tables.ts purgeExpired, retention.ts) through the backend's serialised writer when it
 * has one (SQLite: SqlWriter.runAll, on the writer thread by default), else on the store's kysely instance.
 *
 * Why: on SQLite a write on the main connection waits for the write lock inside SQLite's busy handler, which sleeps
 * on the event loop; while the writer thread (or another process, a backup) holds the lock, every request of the
 * node would wait with it, up to the busy timeout. The writer thread waits instead. (With `writerThread=false` the
 * writer is the event loop itself, as for every other write in that mode.)
 */
import type { CompiledQuery, Kysely } from 'kysely';
import type { Database } from './schema.ts';

/** The backend's one writer, for statements that must run in one transaction on it. */
export interface MaintenanceWriter {
  /** Statements in one flushed transaction; the rows of each. */
  runAll(statements: readonly CompiledQuery[]): Promise<unknown[][]>;
}

/** Run one DELETE ... RETURNING on the writer if there is one, else on `db`; the number of rows it deleted. */
export async function deleteCounting(db: Kysely<Database>, w: MaintenanceWriter | undefined, q: CompiledQuery): Promise<number> {
  if (w) return (await w.runAll([q]))[0]!.length;
  return (await db.executeQuery(q)).rows.length;
}

/**
 * Repeat a DELETE ... RETURNING that takes at most `batch` rows (its own LIMIT), each run its own short statement,
 * until one deletes fewer than `batch` or `maxRounds` ran (a backlog is worked off over several calls); the rows
 * deleted in all.
 */
export async function deleteInRounds(
  db: Kysely<Database>,
  w: MaintenanceWriter | undefined,
  batch: number,
  maxRounds: number,
  q: CompiledQuery,
): Promise<number> {
  let total = 0;
  for (let round = 0; round < maxRounds; round++) {
    const n = await deleteCounting(db, w, q);
    total += n;
    if (n < batch) break;
  }
  return total;
}
