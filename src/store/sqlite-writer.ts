/**
 * `write()` for SQLite without the query builder: one BEGIN IMMEDIATE transaction over prepared statements, run
 * synchronously on the raw better-sqlite3 connection.
 *
 * Same semantics as the generic path in sql-store.ts (job lease check first, then idempotency keys, then rows in
 * dependency order, then forward-only MT patches), but each statement is prepared once per connection and run per
 * row: SQLite executes a prepared single-row INSERT in about a microsecond, while building and compiling a
 * multi-row INSERT per batch (and looking it up by its multi-kilobyte SQL text) cost more than running it.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { MT_STATE_RANK } from '../core/message.ts';
import { planClaims, settleClaim } from './idempotency.ts';
import type { IdempotencyClaim, IdempotencyHit, MtPatch, WriteUnit } from './store.ts';
import { planWrite, resolutionsInIdOrder, type WritePlan } from './write-plan.ts';

/** What one batch did: per-unit applied flags, idempotency holders, and job kinds that became ready. */
export interface BatchOutcome {
  applied: boolean[];
  hits: (IdempotencyHit | undefined)[];
  kinds: string[];
}

type Statement = BetterSqlite3.Statement;

const JOB_UPDATE = {
  done: `UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, updated_at = @now, state = 'done'
         WHERE id = @id AND lease_owner = @owner AND state = 'ready' RETURNING id, kind`,
  retry: `UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, updated_at = @now, run_at = @runAt,
          last_error = @error WHERE id = @id AND lease_owner = @owner AND state = 'ready' RETURNING id, kind`,
  dead: `UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, updated_at = @now, state = 'dead',
         last_error = @error WHERE id = @id AND lease_owner = @owner AND state = 'ready' RETURNING id, kind`,
} as const;

const CLAIM_KEY = `INSERT INTO idempotency_keys (account_id, idem_key, request_hash, mt_id, expires_at, created_at)
  VALUES (@accountId, @key, @requestHash, @mtId, @expiresAt, @now)
  ON CONFLICT (account_id, idem_key) DO UPDATE SET request_hash = excluded.request_hash, mt_id = excluded.mt_id,
    expires_at = excluded.expires_at, created_at = excluded.created_at
  WHERE idempotency_keys.expires_at <= @now
  RETURNING mt_id`;
const KEY_HOLDER = `SELECT mt_id, request_hash FROM idempotency_keys WHERE account_id = ? AND idem_key = ?`;

/** Tables of the write plan, in the order rows go in (parents before children). */
const INSERT_ORDER: readonly (readonly [keyof WritePlan, string, string])[] = [
  ['blobs', 'blobs', ' ON CONFLICT (sha256) DO NOTHING'],
  ['mts', 'mt_messages', ''],
  ['mtParts', 'mt_parts', ''],
  ['mos', 'mo_messages', ''],
  ['moParts', 'mo_parts', ''],
  ['events', 'events', ''],
  ['jobs', 'jobs', ''],
  ['handset', 'handset_messages', ''],
  ['inbox', 'inbox', ''],
];

/** Optional MT patch fields and their columns. */
const PATCH_FIELDS: readonly (readonly [keyof MtPatch, string])[] = [
  ['status', 'status'],
  ['outcomeId', 'outcome_id'],
  ['outcomeDescription', 'outcome_description'],
  ['userAgent', 'user_agent'],
  ['operatorMessageId', 'operator_message_id'],
];

/** Applies write batches on one SQLite connection; statements are prepared on first use and kept. */
export class SqliteBatchWriter {
  private readonly stmts = new Map<string, Statement>();
  private readonly encodeJson = (v: unknown): unknown => JSON.stringify(v);

  constructor(private readonly db: BetterSqlite3.Database) {}

  /** Apply `units` in one transaction (all or nothing). Throws on any SQL error, after rolling back. */
  write(units: readonly WriteUnit[], now: number): BatchOutcome {
    const run = this.db.transaction(() => this.apply(units, now));
    // BEGIN IMMEDIATE takes the write lock up front (no lock upgrade, so no SQLITE_BUSY mid-transaction).
    return run.immediate();
  }

  private stmt(sqlText: string): Statement {
    let s = this.stmts.get(sqlText);
    if (!s) {
      s = this.db.prepare(sqlText);
      this.stmts.set(sqlText, s);
    }
    return s;
  }

  private apply(units: readonly WriteUnit[], now: number): BatchOutcome {
    const { applied, retriedKinds } = this.resolveJobs(units, now);
    // After the job check: a unit skipped for its lease claims no key.
    const hits = this.claimKeys(units, applied, now);
    const plan = planWrite(units, applied, this.encodeJson, now);
    for (const [field, table, suffix] of INSERT_ORDER) {
      const rows = plan[field] as Record<string, unknown>[];
      if (rows.length === 0) continue;
      const cols = Object.keys(rows[0]!);
      const insert = this.stmt(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((c) => '@' + c).join(', ')})${suffix}`);
      for (const row of rows) {
        // kysely leaves an undefined value's column out (NULL by default); a bound parameter must be null instead.
        for (const c of cols) if (row[c] === undefined) row[c] = null;
        insert.run(row);
      }
    }
    this.applyPatches(plan, now);
    const kinds = [...new Set([...plan.jobKinds, ...retriedKinds])].sort();
    return { applied, hits, kinds };
  }

  /** Conditional UPDATE per resolved job on (id, lease owner), in job id order; a lost lease skips the unit. */
  private resolveJobs(units: readonly WriteUnit[], now: number): { applied: boolean[]; retriedKinds: string[] } {
    const applied = units.map(() => true);
    const retriedKinds: string[] = [];
    const order = resolutionsInIdOrder(units);
    for (const { i, job } of order) {
      const params: Record<string, unknown> = { id: job.jobId, owner: job.owner, now };
      if (job.outcome === 'retry') {
        params.runAt = job.runAt;
        params.error = job.error;
      } else if (job.outcome === 'dead') {
        params.error = job.error;
      }
      const row = this.stmt(JOB_UPDATE[job.outcome]).get(params) as { id: number; kind: string } | undefined;
      applied[i] = row !== undefined;
      if (row && job.outcome === 'retry') retriedKinds.push(row.kind);
    }
    return { applied, retriedKinds };
  }

  /** As idempotency.ts claimIdempotencyKeys, on prepared statements (the write lock serialises claims). */
  private claimKeys(units: readonly WriteUnit[], applied: boolean[], now: number): (IdempotencyHit | undefined)[] {
    const hits: (IdempotencyHit | undefined)[] = units.map(() => undefined);
    for (const k of planClaims(units, applied)) settleClaim(k, this.claimOne(k.claim, now), applied, hits);
    return hits;
  }

  private claimOne(c: IdempotencyClaim, now: number): IdempotencyHit | undefined {
    const won = this.stmt(CLAIM_KEY).get({
      accountId: c.accountId,
      key: c.key,
      requestHash: c.requestHash,
      mtId: c.mtId,
      expiresAt: c.expiresAt,
      now,
    });
    if (won) return undefined;
    const holder = this.stmt(KEY_HOLDER).get(c.accountId, c.key) as { mt_id: number; request_hash: string } | undefined;
    // Under the write lock nothing can delete the holder between the two statements.
    if (!holder) throw new Error('idempotency key claim did not settle');
    return { mtId: Number(holder.mt_id), requestHash: holder.request_hash };
  }

  /** Forward-only MT patches (core/message.ts canTransition), then MO state changes. */
  private applyPatches(plan: WritePlan, now: number): void {
    for (const p of plan.mtPatches) {
      const rank = MT_STATE_RANK[p.state];
      if (rank === undefined) throw new TypeError(`unknown MT state ${String(p.state)}`);
      const params: Record<string, unknown> = { mtId: p.mtId, state: p.state, rank, now };
      let set = 'state = @state, state_rank = @rank, updated_at = @now';
      for (const [field, col] of PATCH_FIELDS) {
        const v = p[field];
        if (v === undefined) continue;
        set += `, ${col} = @${field}`;
        params[field] = v;
      }
      const guard = p.state === 'reported' ? `(state_rank < @rank OR state = 'reported')` : 'state_rank < @rank';
      this.stmt(`UPDATE mt_messages SET ${set} WHERE mt_id = @mtId AND ${guard}`).run(params);
    }
    if (plan.moStates.length > 0) {
      const upd = this.stmt('UPDATE mo_messages SET state = ?, updated_at = ? WHERE mo_id = ?');
      for (const m of plan.moStates) upd.run(m.state, now, m.moId);
    }
  }
}
