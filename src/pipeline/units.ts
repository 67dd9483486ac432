/**
 * Building blocks for units of work: merging, and the effects of an MT outcome (state change, event, customer REPORT
 * job). Pure functions over the message model; the callers commit the result.
 */
import { isFinalMtState, type MtMessage, type MtState } from '../core/message.ts';
import type { Outcome } from '../core/outcomes.ts';
import type { NewJob, WriteUnit } from '../store/store.ts';

/** Concatenate units (all arrays appended; the first job resolution wins). */
export function mergeUnits(...units: (WriteUnit | undefined)[]): WriteUnit {
  const out: WriteUnit = {};
  for (const u of units) {
    if (!u) continue;
    if (u.job && !out.job) out.job = u.job;
    for (const key of ['blobs', 'mts', 'mos', 'mtPatches', 'moStates', 'events', 'jobs', 'handsetMessages', 'inbox'] as const) {
      const v = u[key];
      if (v && v.length) (out[key] as unknown[]) = [...((out[key] as unknown[] | undefined) ?? []), ...v];
    }
  }
  return out;
}

/** ISO 8601 with a numeric offset and no fraction, as in the OpenMarket examples ("2016-05-16T19:20:30+00:00"). */
export function reportDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

/** The REPORT fields in the order OpenMarket's example prints them (seed, "Things to Know", step 5). */
const REPORT_FIELDS = ['type', 'mtId', 'date', 'status', 'outcomeId', 'outcomeDescription', 'userAgent'] as const;

/**
 * The REPORT as sent: its fields in the seed's order, whatever order the job payload came back from the store in
 * (PostgreSQL's jsonb keeps an object's keys sorted by length, which put `date` before `type`). JSON objects are
 * unordered, but some strict customer parsers are not: System.Text.Json's polymorphic deserialisation reads a `type`
 * discriminator only as the first property by default. Fields not in the list follow, as stored.
 */
export function reportJson(body: Readonly<Record<string, unknown>>): string {
  const ordered: Record<string, unknown> = {};
  for (const k of REPORT_FIELDS) if (body[k] !== undefined) ordered[k] = body[k];
  for (const [k, v] of Object.entries(body)) if (!(k in ordered)) ordered[k] = v;
  return JSON.stringify(ordered);
}

/** The customer REPORT body (OpenMarket HTTP MMS v2 delivery report). mtId is a JSON number. */
export function reportBody(mt: MtMessage, outcome: Outcome, at: number, userAgent: string | null): Record<string, unknown> {
  const body: Record<string, unknown> = {
    type: 'REPORT',
    mtId: mt.mtId,
    date: reportDate(at),
    status: outcome.status,
    outcomeId: outcome.id,
    outcomeDescription: outcome.description,
  };
  if (userAgent) body.userAgent = userAgent;
  return body;
}

/**
 * When the operator says the reported event happened: `detail.reportedAt`, the ISO time the inbound sink records from
 * the report (MM7 DeliveryReportReq `Date`, TS 23.140 §8.4.1: the time the MM was retrieved, expired, ...). The
 * customer's REPORT `date` is that time when known, so a report that reached us late (an operator's queue, our
 * correlation wait) still dates the delivery itself; undefined when absent or unreadable (then: receipt time).
 */
function reportedAt(detail: Record<string, unknown> | undefined): number | undefined {
  const v = detail?.reportedAt;
  if (typeof v !== 'string') return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

export interface OutcomeContext {
  nodeId: string;
  /** reportUrl of the message's mtConfig, if any. */
  reportUrl: string | undefined;
  now: number;
}

/** MT state for an outcome: final outcomes end the message, interim ones (Deferred, Forwarded) keep it open. */
export function stateForOutcome(outcome: Outcome): MtState {
  if (!outcome.final) return 'reported';
  return outcome.status === 'Retrieved' ? 'delivered' : 'failed';
}

/**
 * Effects of learning an outcome for an MT: patch the message (forward-only in the store), log it, and queue the
 * customer REPORT (ordered per mtId by orderKey so a later report never overtakes an earlier one).
 */
export function outcomeUnit(
  mt: MtMessage,
  outcome: Outcome,
  ctx: OutcomeContext,
  extra: { userAgent?: string | null; eventType?: string; detail?: Record<string, unknown>; operatorMessageId?: string } = {},
): WriteUnit {
  const state = stateForOutcome(outcome);
  if (isFinalMtState(mt.state)) {
    // A report after the final one (e.g. a duplicate from the operator) is logged, not forwarded.
    return {
      events: [
        { mtId: mt.mtId, at: ctx.now, type: 'report-ignored', node: ctx.nodeId, detail: { reason: 'message already final', outcomeId: outcome.id, ...extra.detail } },
      ],
    };
  }
  const userAgent = extra.userAgent ?? mt.userAgent ?? null;
  const jobs: NewJob[] = [];
  const events: NonNullable<WriteUnit['events']> = [
    {
      mtId: mt.mtId,
      at: ctx.now,
      type: extra.eventType ?? 'outcome',
      node: ctx.nodeId,
      detail: { status: outcome.status, outcomeId: outcome.id, outcomeDescription: outcome.description, userAgent, ...extra.detail },
    },
  ];
  if (ctx.reportUrl) {
    jobs.push({
      kind: 'report',
      refId: mt.mtId,
      orderKey: `report:${mt.mtId}`,
      payload: {
        url: ctx.reportUrl,
        requestId: mt.requestId,
        accountId: mt.accountId,
        mtConfig: mt.mtConfig, // the report step posts to the mtConfig's reportUrl as configured when it runs
        body: reportBody(mt, outcome, reportedAt(extra.detail) ?? ctx.now, userAgent),
      },
    });
  } else {
    events.push({ mtId: mt.mtId, at: ctx.now, type: 'report-not-sent', node: ctx.nodeId, detail: { reason: 'mtConfig has no reportUrl' } });
  }
  return {
    mtPatches: [
      {
        mtId: mt.mtId,
        state,
        status: outcome.status,
        outcomeId: outcome.id,
        outcomeDescription: outcome.description,
        userAgent,
        ...(extra.operatorMessageId ? { operatorMessageId: extra.operatorMessageId } : {}),
      },
    ],
    events,
    jobs,
  };
}
