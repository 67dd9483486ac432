/**
 * Jobs passed on to the other claimers. A node whose configuration lacks what a job names (an operator, an account:
 * pipeline/not-configured-here.ts) resolves the job as a retry due at once with `passOn`: the claim query then passes
 * over it for the claimers named in passed_by until passed_until, so a node that knows it takes it at its next claim
 * (the retry's commit wakes the other nodes). If none does by passed_until (a single node, or no node knows it yet),
 * the passing claimers may take it again then, which is the old behaviour: a retry after the schedule's first delay.
 *
 * Why this shape, and not a simpler one:
 * - A retry after the first delay (the old way) lets the node lacking the configuration win claims as often as any
 *   node (an idle one wakes first), and each such claim costs the message that whole delay.
 * - A retry due at once, or after a short delay, with no one held back: an idle node lacking the configuration
 *   claims the job again and again, an event each time, while the node that knows it is busy.
 * - The lease columns as the hold (lease_owner the passer, the lease's end the hold's end): no new column, but a
 *   lease that other claimers may take would mean something else to every reader of a lease (renewals, the owner
 *   check of a resolution, the `leased` gauge, a draining node's release).
 * - One passer per job: with two nodes lacking the configuration, each one's pass would free the job for the other,
 *   and the two would hand it back and forth at the speed of a claim while the node that knows it is busy. So
 *   passed_by lists every claimer that passed it on in the current round, and they share one end, the first
 *   passer's: each node lacking the configuration passes the job on once per round (a table of holds per claimer
 *   would need rows kept and cleaned up for the same result).
 *
 * The hold names the claimer (ClaimOptions.owner: node id and step), which is the node for the job: a job's kind is
 * claimed by one step per node. passed_by is a JSON array and the claim looks for the owner's JSON string in it,
 * quotes included, so one owner's text cannot match inside another's: node.id holds no quote or backslash (config
 * schema, queue-and-nodes.ts). Both columns are read on rows the claim reads anyway (jobs_claim leads it to them, state, lease and order key
 * are checked on the same rows): no index changes, and the test costs nothing while no job was passed on.
 */
import { sql, type RawBuilder } from 'kysely';
import type { StoreDialect } from './dialect.ts';
import type { JobResolution, PassedOn } from './store.ts';

/** The passed_by and passed_until a resolution writes: its passOn, or none (any other outcome ends the hold). */
export function passedColumns(job: JobResolution): { passed_by: string | null; passed_until: number | null } {
  const p = job.outcome === 'retry' ? job.passOn : undefined;
  return p ? { passed_by: JSON.stringify(p.owners), passed_until: p.until } : { passed_by: null, passed_until: null };
}

/**
 * 1 when the resolution passes the job on, else 0: what the write takes back off `attempts`, which the claim raised.
 * Passing a job on tries nothing, so it is no attempt: counted, it would show the node that does run the job as
 * attempt 3 in the message's events, push its retry schedule toward the long delays and toward maxAttempts. A job
 * passed on again and again is still bounded, by its schedule's maxAge (pipeline/not-configured-here.ts).
 */
export function notAnAttempt(job: JobResolution): 0 | 1 {
  return job.outcome === 'retry' && job.passOn ? 1 : 0;
}

/** A job row's hold, if it has one. */
export function passedOnFromRow(passedBy: string | null | undefined, passedUntil: number | null | undefined): PassedOn | undefined {
  if (passedBy === null || passedBy === undefined || passedUntil === null || passedUntil === undefined) return undefined;
  return { owners: JSON.parse(passedBy) as string[], until: Number(passedUntil) };
}

/** SQL: `owner` is among the claimers in j.passed_by. */
function passedBy(dialect: StoreDialect, owner: string): RawBuilder<boolean> {
  return sql<boolean>`${sql.raw(dialect.positionFunction)}(j.passed_by, ${JSON.stringify(owner)}) > 0`;
}

/** SQL for the claim: job j is not held back from `owner` at `now`. */
export function notHeldFrom(dialect: StoreDialect, owner: string, now: number): RawBuilder<boolean> {
  return sql<boolean>`(j.passed_until IS NULL OR j.passed_until <= ${now} OR NOT ${passedBy(dialect, owner)})`;
}

/** SQL for nextRunAt: `claimableAt` (when job j becomes claimable), for `owner` not before its hold ends. */
export function claimableFor(dialect: StoreDialect, owner: string, claimableAt: RawBuilder<number>): RawBuilder<number> {
  return sql<number>`CASE WHEN j.passed_until > ${claimableAt} AND ${passedBy(dialect, owner)} THEN j.passed_until ELSE ${claimableAt} END`;
}
