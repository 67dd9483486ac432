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
import { notAnAttempt, passedColumns } from './job-passing.ts';
import type { Part } from '../core/message.ts';
import type { IdempotencyClaim, IdempotencyHit, MtPatch, WriteUnit } from './store.ts';
import { anchored, claimsInIdOrder, lostFlags, requiredPatchesInIdOrder, resolutionsInIdOrder } from './write-plan.ts';
import { mtPartsJson } from './rows.ts';
import { BLOB_TOUCH_INTERVAL_MS } from './blob-cache.ts';

/** What one batch did: per-unit applied flags, idempotency holders, and job kinds that became ready. */
export interface BatchOutcome {
  applied: boolean[];
  hits: (IdempotencyHit | undefined)[];
  kinds: string[];
  /** Per unit: skipped because a parked report it claimed was already taken (WriteUnit.claimParked). */
  claimLost?: boolean[];
}

type Statement = BetterSqlite3.Statement;

const JOB_UPDATE = {
  done: `UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, updated_at = @now, state = 'done',
         passed_by = NULL, passed_until = NULL WHERE id = @id AND lease_owner = @owner AND state = 'ready' RETURNING id, kind`,
  retry: `UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, updated_at = @now, run_at = @runAt,
          last_error = @error, passed_by = @passedBy, passed_until = @passedUntil, attempts = attempts - @notAnAttempt
          WHERE id = @id AND lease_owner = @owner AND state = 'ready' RETURNING id, kind`,
  dead: `UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, updated_at = @now, state = 'dead',
         last_error = @error, passed_by = NULL, passed_until = NULL
         WHERE id = @id AND lease_owner = @owner AND state = 'ready' RETURNING id, kind`,
} as const;

const CLAIM_KEY = `INSERT INTO idempotency_keys (account_id, idem_key, request_hash, mt_id, expires_at, created_at)
  VALUES (@accountId, @key, @requestHash, @mtId, @expiresAt, @now)
  ON CONFLICT (account_id, idem_key) DO UPDATE SET request_hash = excluded.request_hash, mt_id = excluded.mt_id,
    expires_at = excluded.expires_at, created_at = excluded.created_at
  WHERE idempotency_keys.expires_at <= @now
  RETURNING mt_id`;
const KEY_HOLDER = `SELECT mt_id, request_hash FROM idempotency_keys WHERE account_id = ? AND idem_key = ?`;

/** SHA-256 hex, the only valid blob key (a bad key would poison de-duplication). */
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Positional single-row INSERTs, one per table, with the columns of schema.ts. Rows are bound straight from the
 * domain objects of the units (no intermediate row objects, no named-parameter lookups): on the accept path this
 * binding is a measurable share of the time per message (see docs/benchmarks.md).
 */
const INSERT = {
  // A blob already stored is the same bytes (content addressing); bringing it again keeps it from the retention
  // sweep (last_ref_at, store/retention.ts), moved at most once per BLOB_TOUCH_INTERVAL_MS.
  blob: `INSERT INTO blobs (sha256, bytes, size, last_ref_at) VALUES (?, ?, ?, ?) ON CONFLICT (sha256)
    DO UPDATE SET last_ref_at = excluded.last_ref_at WHERE blobs.last_ref_at < excluded.last_ref_at - ${BLOB_TOUCH_INTERVAL_MS}`,
  mt: `INSERT INTO mt_messages (mt_id, account_id, request_id, source, destination, mt_config, subject, operator_id, state,
    state_rank, status, outcome_id, outcome_description, user_agent, operator_message_id, created_at, updated_at, parts)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  mo: `INSERT INTO mo_messages (mo_id, operator_id, source, destinations, ccs, bccs, subject, user_agent, account_id, number,
    state, operator_message_id, received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  moPart: 'INSERT INTO mo_parts (msg_id, seq, content_type, content_id, sha256, size, remote_url) VALUES (?, ?, ?, ?, ?, ?, ?)',
  event: 'INSERT INTO events (ref_kind, ref_id, at, type, node, detail) VALUES (?, ?, ?, ?, ?, ?)',
  // An event of a unit without an anchor (write-plan.ts anchored()): written only if its message still exists.
  mtLooseEvent: `INSERT INTO events (ref_kind, ref_id, at, type, node, detail) SELECT 'mt', mt_id, ?, ?, ?, ? FROM mt_messages
    WHERE mt_id = ?`,
  moLooseEvent: `INSERT INTO events (ref_kind, ref_id, at, type, node, detail) SELECT 'mo', mo_id, ?, ?, ?, ? FROM mo_messages
    WHERE mo_id = ?`,
  job: `INSERT INTO jobs (kind, ref_id, order_key, payload, state, run_at, attempts, first_attempt_at, lease_owner,
    lease_expires_at, last_error, created_at, updated_at) VALUES (?, ?, ?, ?, 'ready', ?, 0, NULL, NULL, NULL, NULL, ?, ?)`,
  handset: 'INSERT INTO handset_messages (number, mt_id, source, subject, received_at, parts) VALUES (?, ?, ?, ?, ?, ?)',
  inbox: 'INSERT INTO inbox (box, received_at, headers, content_type, body) VALUES (?, ?, ?, ?, ?)',
} as const;

/** Optional MT patch fields and their columns. */
const PATCH_FIELDS: readonly (readonly [keyof MtPatch, string])[] = [
  ['status', 'status'],
  ['outcomeId', 'outcome_id'],
  ['outcomeDescription', 'outcome_description'],
  ['userAgent', 'user_agent'],
  ['operatorMessageId', 'operator_message_id'],
];

/**
 * Who makes a commit durable. `commit`: the connection's own `synchronous = FULL` (the COMMIT syncs the WAL).
 * `caller`: this writer's statements commit with `synchronous = NORMAL` and the caller syncs the WAL before it
 * acknowledges anything (sqlite-wal-sync.ts); the connection is back at FULL after each call, so other writes on it
 * keep syncing themselves.
 */
export type CommitSync = 'commit' | 'caller';

/** Applies write batches on one SQLite connection; statements are prepared on first use and kept. */
export class SqliteBatchWriter {
  private readonly stmts = new Map<string, Statement>();
  private readonly single = new Map<string, Statement>();

  constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly commitSync: CommitSync = 'commit',
  ) {}

  /** Apply `units` in one transaction (all or nothing). Throws on any SQL error, after rolling back. */
  write(units: readonly WriteUnit[], now: number): BatchOutcome {
    const run = this.db.transaction(() => this.apply(units, now));
    // BEGIN IMMEDIATE takes the write lock up front (no lock upgrade, so no SQLITE_BUSY mid-transaction).
    return this.commitSync === 'caller' ? this.withoutCommitSync(() => run.immediate()) : run.immediate();
  }

  /**
   * One statement outside a batch (lease writes, id blocks), in its own implicit transaction; rows if it returns any.
   * `flush: false` runs it with synchronous=NORMAL: in WAL mode the database stays consistent and the next FULL
   * commit syncs its frames too (https://www.sqlite.org/pragma.html#pragma_synchronous); for writes whose loss in a
   * crash is harmless (a lost lease only makes a job claimable again). With commitSync 'caller' every statement runs
   * so, and the caller syncs.
   */
  runStatement(sqlText: string, params: readonly unknown[], flush: boolean): unknown[] {
    const stmt = this.prepared(sqlText);
    const exec = (): unknown[] => {
      if (stmt.reader) {
        const rows = stmt.all(...params);
        // A reader here is an UPDATE/INSERT ... RETURNING (claims, id blocks): a row back is a row written.
        this.lastChanged = rows.length > 0;
        return rows;
      }
      this.lastChanged = stmt.run(...params).changes > 0;
      return [];
    };
    return flush && this.commitSync === 'commit' ? exec() : this.withoutCommitSync(exec);
  }

  /**
   * Several statements in one transaction (all or nothing), committed as write() commits; the rows of each. For
   * maintenance writes whose statements qualify their rows by the same subquery in turn (retention.ts): with one
   * writer nothing can change between them.
   */
  runAll(statements: readonly { sql: string; params: readonly unknown[] }[]): unknown[][] {
    const stmts = statements.map((st) => ({ stmt: this.prepared(st.sql), params: st.params }));
    const run = this.db.transaction(() => stmts.map(({ stmt, params }) => (stmt.reader ? stmt.all(...params) : (stmt.run(...params), []))));
    return this.commitSync === 'caller' ? this.withoutCommitSync(() => run.immediate()) : run.immediate();
  }

  /** A prepared statement from the bounded cache of one-off statements (their shapes vary: IN lists of any length). */
  private prepared(sqlText: string): Statement {
    let s = this.single.get(sqlText);
    if (!s) {
      s = this.db.prepare(sqlText);
      if (this.single.size >= 256) this.single.delete(this.single.keys().next().value as string);
      this.single.set(sqlText, s);
    }
    return s;
  }

  /**
   * Whether the last runStatement wrote anything. With commitSync 'caller' a statement that wrote nothing (a claim
   * that found no job, a renewal of a lost lease) has nothing to sync and reveals nothing, so its caller need not wait.
   */
  lastChanged = false;

  /** Run `fn` with synchronous=NORMAL, then restore FULL (also when it throws). */
  private withoutCommitSync<T>(fn: () => T): T {
    // db.pragma() prepares afresh each time on purpose: SQLite applies `PRAGMA synchronous = ...` while compiling
    // the statement, so re-running a kept prepared one does not reliably change the level.
    this.db.pragma('synchronous = NORMAL');
    try {
      return fn();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
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
    const claimLost = claimsInIdOrder(units, applied).map(({ i, ids }) => {
      const del = this.stmt('DELETE FROM parked_reports WHERE id = ?');
      let gone = 0;
      for (const id of ids) gone += del.run(id).changes;
      if (gone === ids.length) return -1;
      applied[i] = false; // applied by another node already
      return i;
    });
    for (const { i, patch } of requiredPatchesInIdOrder(units, applied)) if (!this.patchMt(patch, now)) applied[i] = false;
    // After the job and patch checks: a unit skipped claims no key.
    const hits = this.claimKeys(units, applied, now);
    const kinds = new Set<string>(retriedKinds);
    // Validate every blob key before the first row goes in (the transaction rolls back on a throw anyway).
    for (let i = 0; i < units.length; i++) {
      if (applied[i]) for (const b of units[i]!.blobs ?? []) checkSha256(b.sha256);
    }
    const seenBlobs = new Set<string>();
    for (let i = 0; i < units.length; i++) {
      if (applied[i]) this.insertUnit(units[i]!, now, seenBlobs, kinds);
    }
    this.applyPatches(units, applied, now);
    return { applied, hits, kinds: [...kinds].sort(), ...lostFlags(units.length, claimLost) };
  }

  /** The rows of one unit, parents before children (schema.ts), each table in the unit's order. */
  private insertUnit(u: WriteUnit, now: number, seenBlobs: Set<string>, kinds: Set<string>): void {
    if (u.blobs) {
      const ins = this.stmt(INSERT.blob);
      for (const b of u.blobs) {
        if (seenBlobs.has(b.sha256)) continue;
        seenBlobs.add(b.sha256);
        ins.run(b.sha256, b.bytes, b.bytes.length, now);
      }
    }
    if (u.mts) {
      const ins = this.stmt(INSERT.mt);
      for (const m of u.mts) {
        const rank = MT_STATE_RANK[m.state];
        if (rank === undefined) throw new TypeError(`unknown MT state ${String(m.state)}`);
        ins.run(m.mtId, m.accountId, m.requestId, m.source, m.destination, m.mtConfig, m.subject, m.operatorId, m.state,
          rank, m.status, m.outcomeId, m.outcomeDescription, m.userAgent, m.operatorMessageId, m.createdAt, m.updatedAt,
          mtPartsJson(m.parts));
      }
    }
    if (u.mos) {
      const ins = this.stmt(INSERT.mo);
      for (const m of u.mos) {
        ins.run(m.moId, m.operatorId, m.source, JSON.stringify(m.destinations), JSON.stringify(m.ccs), JSON.stringify(m.bccs),
          m.subject, m.userAgent, m.accountId, m.number, m.state, m.operatorMessageId, m.receivedAt, m.receivedAt);
        this.insertParts(INSERT.moPart, m.moId, m.parts);
      }
    }
    if (u.events && anchored(u)) {
      const ins = this.stmt(INSERT.event);
      for (const e of u.events) {
        const [kind, id] = 'mtId' in e ? ['mt', e.mtId] : ['mo', e.moId];
        ins.run(kind, id, e.at, e.type, e.node, JSON.stringify(e.detail));
      }
    } else if (u.events) {
      // Under the write lock: the retention cannot delete the message between this check and the commit.
      for (const e of u.events) {
        const [sqlText, id] = 'mtId' in e ? [INSERT.mtLooseEvent, e.mtId] : [INSERT.moLooseEvent, e.moId];
        this.stmt(sqlText).run(e.at, e.type, e.node, JSON.stringify(e.detail), id);
      }
    }
    if (u.jobs) {
      const ins = this.stmt(INSERT.job);
      for (const j of u.jobs) {
        kinds.add(j.kind);
        ins.run(j.kind, j.refId, j.orderKey ?? null, j.payload ? JSON.stringify(j.payload) : '{}', j.runAt ?? now, now, now);
      }
    }
    if (u.handsetMessages) {
      const ins = this.stmt(INSERT.handset);
      for (const h of u.handsetMessages) ins.run(h.number, h.mtId, h.source, h.subject, h.receivedAt, JSON.stringify(h.parts));
    }
    if (u.inbox) {
      const ins = this.stmt(INSERT.inbox);
      for (const e of u.inbox) ins.run(e.box, e.receivedAt, JSON.stringify(e.headers), e.contentType, e.body);
    }
  }

  private insertParts(sqlText: string, msgId: number, parts: readonly Part[]): void {
    if (parts.length === 0) return;
    const ins = this.stmt(sqlText);
    for (let seq = 0; seq < parts.length; seq++) {
      const p = parts[seq]!;
      ins.run(msgId, seq, p.contentType, p.contentId, p.sha256 ?? null, p.size, p.remoteUrl ?? null);
    }
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
        const p = passedColumns(job);
        params.passedBy = p.passed_by;
        params.passedUntil = p.passed_until;
        params.notAnAttempt = notAnAttempt(job);
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

  /**
   * Forward-only MT patches (core/message.ts canTransition), then MO state changes, in unit order: updates of one row
   * keep their order, and with a single writer the order between rows does not matter.
   */
  private applyPatches(units: readonly WriteUnit[], applied: readonly boolean[], now: number): void {
    for (let i = 0; i < units.length; i++) {
      if (!applied[i]) continue;
      for (const p of units[i]!.mtPatches ?? []) if (!p.required) this.patchMt(p, now);
    }
    for (let i = 0; i < units.length; i++) {
      if (!applied[i] || !units[i]!.moStates) continue;
      const upd = this.stmt('UPDATE mo_messages SET state = ?, updated_at = ? WHERE mo_id = ?');
      for (const m of units[i]!.moStates!) upd.run(m.state, now, m.moId);
    }
  }

  /** One forward-only patch; true when it changed the message. */
  private patchMt(p: MtPatch, now: number): boolean {
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
    const guard = p.state !== 'reported' ? 'state_rank < @rank' : p.outcomeId === undefined ? `(state_rank < @rank OR state = 'reported')` : `(state_rank < @rank OR (state = 'reported' AND outcome_id IS NOT @outcomeId))`;
    return this.stmt(`UPDATE mt_messages SET ${set} WHERE mt_id = @mtId AND ${guard}`).run(params).changes > 0;
  }
}

function checkSha256(key: string): void {
  if (!SHA256_HEX.test(key)) throw new TypeError(`blob key is not a lowercase sha256 hex: ${key}`);
}
