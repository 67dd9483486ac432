/**
 * The pure half of `write()`: turn the applied units of a batch into one row list per table, so the store issues
 * one multi-row INSERT per table (chunked) instead of one statement per row.
 */
import type { MoState } from '../core/message.ts';
import type { JobResolution, MtPatch, WriteUnit } from './store.ts';
import { moRow, mtRow, partRows, type JsonEncoder } from './rows.ts';
import type {
  BlobsTable,
  EventsTable,
  HandsetMessagesTable,
  InboxTable,
  JobsTable,
  MoMessagesTable,
  MtMessagesTable,
  PartsTable,
} from './schema.ts';

type Insert<T> = Omit<T, 'id'>;
/** A new job's row: no one has passed it on (job-passing.ts), and the accept path's statements stay as they were. */
type NewJobRow = Omit<JobsTable, 'id' | 'passed_by' | 'passed_until'>;

/** Rows to insert plus updates to run, for one batch. */
export interface WritePlan {
  blobs: BlobsTable[];
  mts: MtMessagesTable[];
  mos: MoMessagesTable[];
  moParts: PartsTable[];
  events: Insert<EventsTable>[];
  /** Events of units without an anchor (anchored()): written only while their message still exists. */
  looseEvents: Insert<EventsTable>[];
  jobs: NewJobRow[];
  handset: Insert<HandsetMessagesTable>[];
  inbox: Insert<InboxTable>[];
  /** In unit order, stably sorted by mtId (same-row updates keep their order; lock order is consistent). */
  mtPatches: MtPatch[];
  moStates: { moId: number; state: MoState }[];
  /** Distinct kinds of the jobs inserted (for wake-up notifications). */
  jobKinds: string[];
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Collect rows from the units whose `applied` flag is true. `now` stamps job rows. */
export function planWrite(
  units: readonly WriteUnit[],
  applied: readonly boolean[],
  json: JsonEncoder,
  now: number,
): WritePlan {
  const plan: WritePlan = {
    blobs: [],
    mts: [],
    mos: [],
    moParts: [],
    events: [],
    looseEvents: [],
    jobs: [],
    handset: [],
    inbox: [],
    mtPatches: [],
    moStates: [],
    jobKinds: [],
  };
  const blobs = new Map<string, BlobsTable>();
  const kinds = new Set<string>();
  units.forEach((u, i) => {
    if (!applied[i]) return;
    for (const b of u.blobs ?? []) {
      // Content addressing only holds if the key is a real digest; a bad key would poison deduplication.
      if (!SHA256_HEX.test(b.sha256)) throw new TypeError(`blob key is not a lowercase sha256 hex: ${b.sha256}`);
      if (!blobs.has(b.sha256)) blobs.set(b.sha256, { sha256: b.sha256, bytes: b.bytes, size: b.bytes.length, last_ref_at: now });
    }
    for (const m of u.mts ?? []) {
      plan.mts.push(mtRow(m, json));
    }
    for (const m of u.mos ?? []) {
      plan.mos.push(moRow(m, json));
      plan.moParts.push(...partRows(m.moId, m.parts));
    }
    if (u.events) {
      const into = anchored(u) ? plan.events : plan.looseEvents;
      for (const e of u.events) {
        const ref = 'mtId' in e ? { ref_kind: 'mt', ref_id: e.mtId } : { ref_kind: 'mo', ref_id: e.moId };
        into.push({ ...ref, at: e.at, type: e.type, node: e.node, detail: json(e.detail) });
      }
    }
    for (const j of u.jobs ?? []) {
      kinds.add(j.kind);
      plan.jobs.push({
        kind: j.kind,
        ref_id: j.refId,
        order_key: j.orderKey ?? null,
        payload: json(j.payload ?? {}),
        state: 'ready',
        run_at: j.runAt ?? now,
        attempts: 0,
        first_attempt_at: null,
        lease_owner: null,
        lease_expires_at: null,
        last_error: null,
        created_at: now,
        updated_at: now,
      });
    }
    for (const h of u.handsetMessages ?? []) {
      plan.handset.push({
        number: h.number,
        mt_id: h.mtId,
        source: h.source,
        subject: h.subject,
        received_at: h.receivedAt,
        parts: json(h.parts),
      });
    }
    for (const e of u.inbox ?? []) {
      plan.inbox.push({
        box: e.box,
        received_at: e.receivedAt,
        headers: json(e.headers),
        content_type: e.contentType,
        body: e.body,
      });
    }
    // Required patches ran before the rows (requiredPatchesInIdOrder): they decided whether the unit applies.
    for (const p of u.mtPatches ?? []) if (!p.required) plan.mtPatches.push(p);
    plan.moStates.push(...(u.moStates ?? []));
  });
  // Sorted keys give every transaction the same lock order on shared rows (PostgreSQL: no deadlock between nodes
  // inserting the same blobs or patching the same messages).
  plan.blobs = [...blobs.values()].sort((a, b) => (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0));
  plan.mtPatches.sort((a, b) => a.mtId - b.mtId);
  plan.jobKinds = [...kinds].sort();
  return plan;
}

/**
 * Whether a unit's events are about a message that is certain to exist when they commit: one the unit creates, one
 * whose job it resolves (the retention keeps a message while a job of it is ready, and deletes the job with it, so a
 * resolution that lands proves the message is there), or one its required patch moves forward (the unit is skipped if
 * the patch finds no row). Events of any other unit (a report ignored, a read reply, an MO resend: found by an earlier
 * read) may be about a message the retention deleted since; the store writes them only if it still exists
 * (WriteUnit.events), else they would stay behind referencing nothing. A few property checks: the accept path's unit
 * answers at the first.
 */
export function anchored(u: WriteUnit): boolean {
  return (
    (u.mts !== undefined && u.mts.length > 0) ||
    (u.mos !== undefined && u.mos.length > 0) ||
    u.job !== undefined ||
    (u.mtPatches !== undefined && u.mtPatches.some((p) => p.required))
  );
}

/** Split rows into chunks so that rows x columns stays within the statement parameter limit. */
export function chunkRows<T extends object>(rows: readonly T[], maxParameters: number, maxRows = 500): T[][] {
  if (rows.length === 0) return [];
  const cols = Math.max(1, Object.keys(rows[0]!).length);
  const size = Math.max(1, Math.min(maxRows, Math.floor(maxParameters / cols)));
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

/**
 * The required MT patch (MtPatch.required) of each unit still applied, with its unit index, in mtId order (the same
 * lock order as every other patch). The store runs them before anything else of their units and skips a unit whose
 * patch changed nothing.
 */
export function requiredPatchesInIdOrder(units: readonly WriteUnit[], applied: readonly boolean[]): { i: number; patch: MtPatch }[] {
  const out: { i: number; patch: MtPatch }[] = [];
  units.forEach((u, i) => {
    if (!applied[i] || !u.mtPatches) return;
    const required = u.mtPatches.filter((p) => p.required);
    // One per unit: a second that failed after the first had landed would leave the unit half applied.
    if (required.length > 1) throw new TypeError('a unit may hold at most one required MT patch');
    if (required[0]) out.push({ i, patch: required[0] });
  });
  return out.sort((a, b) => a.patch.mtId - b.patch.mtId);
}

/**
 * The job resolutions of a batch with their unit index, in job id order: concurrent transactions then lock the same
 * rows in the same order (no deadlock between nodes).
 */
export function resolutionsInIdOrder(units: readonly WriteUnit[]): { i: number; job: JobResolution }[] {
  return units
    .map((u, i) => ({ i, job: u.job }))
    .filter((x): x is { i: number; job: JobResolution } => x.job !== undefined)
    .sort((a, b) => a.job.jobId - b.job.jobId);
}

/**
 * The parked-report claims of the units still applied, each unit's ids sorted and the units in the order of their
 * first id: every transaction deletes shared rows in the same order (PostgreSQL: no deadlock between nodes).
 */
export function claimsInIdOrder(units: readonly WriteUnit[], applied: readonly boolean[]): { i: number; ids: number[] }[] {
  const out: { i: number; ids: number[] }[] = [];
  units.forEach((u, i) => {
    if (applied[i] && u.claimParked?.length) out.push({ i, ids: [...u.claimParked].sort((a, b) => a - b) });
  });
  return out.sort((a, b) => a.ids[0]! - b.ids[0]!);
}

/** BatchOutcome.claimLost from the indexes of units that lost a claim (-1: kept its claim); absent when none did. */
export function lostFlags(n: number, lost: readonly number[]): { claimLost?: boolean[] } {
  if (!lost.some((i) => i >= 0)) return {};
  const flags = new Array<boolean>(n).fill(false);
  for (const i of lost) if (i >= 0) flags[i] = true;
  return { claimLost: flags };
}
