/**
 * One statement per batch for the per-row UPDATEs of a write (PostgreSQL: UPDATE ... FROM (VALUES ...)).
 *
 * A group-committed batch resolves dozens of jobs and patches dozens of messages; issued row by row, each is a
 * round trip made while the transaction (and its connection) is held, and the group committer runs one
 * transaction at a time, so those round trips cap the whole pipeline. Here every row of a batch goes in one
 * statement with the same per-row conditions as the row-by-row form (sql-store.ts).
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { MT_STATE_RANK } from '../core/message.ts';
import type { JobResolution, MtPatch } from './store.ts';
import type { Database } from './schema.ts';
import { notAnAttempt, passedColumns } from './job-passing.ts';

type Conn = Kysely<Database>;

/** Rows per statement: 7 parameters per job row, 13 per patch row, well under PostgreSQL's 65535. */
const MAX_ROWS = 1000;

/** True when some key occurs twice: such batches keep the row-by-row form, whose order decides the outcome. */
export function hasDuplicates(keys: readonly number[]): boolean {
  return new Set(keys).size !== keys.length;
}

/**
 * Items split into rounds of distinct keys, round k holding each key's k-th item: applying the rounds in order applies
 * every key's items in their order, and each round can be one statement. A batch of pipeline results often patches one
 * message twice (the operator's acceptance and, right after, its delivery report); row by row that was a round trip
 * per patch.
 */
export function inRounds<T>(items: readonly T[], key: (item: T) => number): T[][] {
  const seen = new Map<number, number>();
  const rounds: T[][] = [];
  for (const it of items) {
    const k = key(it);
    const n = seen.get(k) ?? 0;
    seen.set(k, n + 1);
    (rounds[n] ??= []).push(it);
  }
  return rounds;
}

/**
 * Resolve jobs in one UPDATE per chunk: each row changes only while still leased to the resolution's owner and
 * ready (a job taken over after its lease expired is left alone). Returns the id and kind of each row changed.
 * Job ids must be distinct (see hasDuplicates).
 */
export async function resolveJobsBatch(
  conn: Conn,
  jobs: readonly JobResolution[],
  now: number,
): Promise<{ id: number; kind: string }[]> {
  const out: { id: number; kind: string }[] = [];
  for (let i = 0; i < jobs.length; i += MAX_ROWS) {
    const chunk = jobs.slice(i, i + MAX_ROWS);
    const values = sql.join(
      chunk.map((j) => {
        const runAt = j.outcome === 'retry' ? j.runAt : null;
        const error = j.outcome === 'done' ? null : j.error;
        const p = passedColumns(j);
        return sql`(${j.jobId}::bigint, ${j.owner}::text, ${j.outcome}::text, ${runAt}::bigint, ${error}::text,
          ${p.passed_by}::text, ${p.passed_until}::bigint, ${notAnAttempt(j)}::int)`;
      }),
    );
    const r = await sql<{ id: number; kind: string }>`
      UPDATE jobs AS j SET
        state = CASE v.outcome WHEN 'done' THEN 'done' WHEN 'dead' THEN 'dead' ELSE j.state END,
        run_at = CASE WHEN v.outcome = 'retry' THEN v.run_at ELSE j.run_at END,
        last_error = CASE WHEN v.outcome = 'done' THEN j.last_error ELSE v.error END,
        lease_owner = NULL,
        lease_expires_at = NULL,
        passed_by = v.passed_by,
        passed_until = v.passed_until,
        attempts = j.attempts - v.not_an_attempt,
        updated_at = ${now}
      FROM (VALUES ${values}) AS v(id, owner, outcome, run_at, error, passed_by, passed_until, not_an_attempt)
      WHERE j.id = v.id AND j.lease_owner = v.owner AND j.state = 'ready'
      RETURNING j.id, j.kind`.execute(conn);
    out.push(...r.rows.map((row) => ({ id: Number(row.id), kind: row.kind })));
  }
  return out;
}

/** `column = v.column` when the patch carries the field (has_column), else unchanged; null clears. */
function optional(column: string): RawBuilder<unknown> {
  const c = sql.ref(column);
  const v = sql.ref(`v.${column}`);
  const has = sql.ref(`v.has_${column}`);
  return sql`${c} = CASE WHEN ${has} THEN ${v} ELSE m.${c} END`;
}

/**
 * Apply MT patches in one UPDATE per chunk, forward-only with the same guard as the row-by-row form: the state
 * rank must rise, except that 'reported' may be patched again with another outcome (later delivery reports refine it;
 * an operator's resend of the same interim report changes nothing and is not forwarded twice).
 * Message ids must be distinct (see hasDuplicates). Returns the ids of the messages changed (a required patch whose
 * message is not among them leaves its unit unapplied, as in the row-by-row form).
 */
export async function patchMtsBatch(conn: Conn, patches: readonly MtPatch[], now: number): Promise<Set<number>> {
  const changed = new Set<number>();
  for (let i = 0; i < patches.length; i += MAX_ROWS) {
    const chunk = patches.slice(i, i + MAX_ROWS);
    const values = sql.join(
      chunk.map((p) => {
        const rank = MT_STATE_RANK[p.state];
        if (rank === undefined) throw new TypeError(`unknown MT state ${String(p.state)}`);
        return sql`(${p.mtId}::bigint, ${p.state}::text, ${rank}::integer,
          ${p.status !== undefined}::boolean, ${p.status ?? null}::text,
          ${p.outcomeId !== undefined}::boolean, ${p.outcomeId ?? null}::integer,
          ${p.outcomeDescription !== undefined}::boolean, ${p.outcomeDescription ?? null}::text,
          ${p.userAgent !== undefined}::boolean, ${p.userAgent ?? null}::text,
          ${p.operatorMessageId !== undefined}::boolean, ${p.operatorMessageId ?? null}::text)`;
      }),
    );
    const r = await sql<{ mt_id: number | string }>`
      UPDATE mt_messages AS m SET
        state = v.state,
        state_rank = v.state_rank,
        updated_at = ${now},
        ${optional('status')},
        ${optional('outcome_id')},
        ${optional('outcome_description')},
        ${optional('user_agent')},
        ${optional('operator_message_id')}
      FROM (VALUES ${values}) AS v(mt_id, state, state_rank, has_status, status, has_outcome_id, outcome_id,
        has_outcome_description, outcome_description, has_user_agent, user_agent,
        has_operator_message_id, operator_message_id)
      WHERE m.mt_id = v.mt_id
        AND (m.state_rank < v.state_rank
          OR (v.state = 'reported' AND m.state = 'reported' AND (NOT v.has_outcome_id OR m.outcome_id IS DISTINCT FROM v.outcome_id)))
      RETURNING m.mt_id`.execute(conn);
    for (const row of r.rows) changed.add(Number(row.mt_id));
  }
  return changed;
}
