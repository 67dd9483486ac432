/**
 * Store.jobStats: how the job queue stands, per kind, for monitoring (observability/metrics.ts). Two grouped reads,
 * one per state that is counted: the ready jobs (the partial index jobs_claim holds exactly them) and the dead ones
 * (jobs_dead). Done jobs, most of the table, are never read.
 */
import { sql, type Kysely } from 'kysely';
import { JOB_KINDS, type JobKind, type JobKindStats, type JobStats } from './store.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

type ReadyClass = 'due' | 'leased' | 'blocked' | 'scheduled';

/** See Store.jobStats and JobKindStats. */
export async function jobStats(db: Db, now: number): Promise<JobStats> {
  if (!Number.isSafeInteger(now)) throw new TypeError(`jobStats: now must be an integer time in ms, got ${now}`);
  const stats = Object.fromEntries(
    JOB_KINDS.map((k) => [k, { due: 0, leased: 0, blocked: 0, scheduled: 0, oldestDueAgeMs: 0, dead: 0 } satisfies JobKindStats]),
  ) as JobStats;
  const known = (kind: string): kind is JobKind => Object.hasOwn(stats, kind);

  // Each ready job in one class, in the order JobKindStats gives: a running lease first (its runAt is the lease's end,
  // so it would otherwise look scheduled), then the order key (the claim's own NOT EXISTS, one probe of jobs_order per
  // job that has a key), then runAt. The lease test is the claim's: claimable once lease_expires_at < now.
  const ready = await sql<{ kind: string; cls: ReadyClass; n: number | string; oldest: number | string | null }>`
    SELECT c.kind, c.cls, COUNT(*) AS n, MIN(c.run_at) AS oldest
    FROM (
      SELECT j.kind, j.run_at,
        CASE
          WHEN j.lease_expires_at IS NOT NULL AND j.lease_expires_at >= ${now} THEN 'leased'
          WHEN j.order_key IS NOT NULL AND EXISTS (
            SELECT 1 FROM jobs o WHERE o.order_key = j.order_key AND o.state = 'ready' AND o.id < j.id) THEN 'blocked'
          WHEN j.run_at <= ${now} THEN 'due'
          ELSE 'scheduled'
        END AS cls
      FROM jobs j
      WHERE j.state = 'ready'
    ) c
    GROUP BY c.kind, c.cls`.execute(db);
  for (const r of ready.rows) {
    if (!known(r.kind)) continue;
    const s = stats[r.kind];
    s[r.cls] = Number(r.n);
    if (r.cls === 'due' && r.oldest !== null) s.oldestDueAgeMs = Math.max(0, now - Number(r.oldest));
  }

  const dead = await sql<{ kind: string; n: number | string }>`
    SELECT j.kind, COUNT(*) AS n FROM jobs j WHERE j.state = 'dead' GROUP BY j.kind`.execute(db);
  for (const r of dead.rows) if (known(r.kind)) stats[r.kind].dead = Number(r.n);
  return stats;
}
