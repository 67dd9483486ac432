/**
 * Mapping between the domain types (core/message.ts, store.ts) and table rows (schema.ts). Pure functions.
 */
import type { Selectable } from 'kysely';
import { MT_STATE_RANK, type MessageEvent, type MoMessage, type MoState, type MtMessage, type MtState, type Part } from '../core/message.ts';
import type { HandsetMessage, InboxEntry, Job, JobKind, JobState } from './store.ts';
import { passedOnFromRow } from './job-passing.ts';
import {
  decodeJson,
  type EventsTable,
  type HandsetMessagesTable,
  type InboxTable,
  type JobsTable,
  type MoMessagesTable,
  type MtMessagesTable,
  type PartsTable,
} from './schema.ts';

/** Encodes a value for a JSON column (dialect-specific). */
export type JsonEncoder = (value: unknown) => unknown;

export function partRows(msgId: number, parts: readonly Part[]): PartsTable[] {
  return parts.map((p, seq) => ({
    msg_id: msgId,
    seq,
    content_type: p.contentType,
    content_id: p.contentId,
    sha256: p.sha256 ?? null,
    size: p.size,
    remote_url: p.remoteUrl ?? null,
  }));
}

export function partFromRow(r: Pick<PartsTable, 'content_type' | 'content_id' | 'sha256' | 'size' | 'remote_url'>): Part {
  const p: Part = { contentType: r.content_type, contentId: r.content_id, size: Number(r.size) };
  if (r.sha256 !== null) p.sha256 = r.sha256;
  if (r.remote_url !== null) p.remoteUrl = r.remote_url;
  return p;
}

/**
 * An MT's parts as its `parts` column holds them: a JSON array of Part objects in the customer's order (absent
 * sha256 / remoteUrl left out). MT parts live in the message row because every accepted MT writes them: a table of
 * their own cost one more INSERT and B-tree per message (migration 4 moved them; MO parts keep their table).
 */
export function mtPartsJson(parts: readonly Part[]): string {
  return JSON.stringify(parts);
}

/** The parts of an MT row's `parts` column (migrated rows carry explicit nulls, which mean absent). */
export function mtPartsFromColumn(v: unknown): Part[] {
  const list = decodeJson<Array<{ contentType: string; contentId: string; size: number; sha256?: string | null; remoteUrl?: string | null }>>(v);
  return list.map((r) => {
    const p: Part = { contentType: r.contentType, contentId: r.contentId, size: Number(r.size) };
    if (r.sha256 != null) p.sha256 = r.sha256;
    if (r.remoteUrl != null) p.remoteUrl = r.remoteUrl;
    return p;
  });
}

export function mtRow(m: MtMessage, json: JsonEncoder): MtMessagesTable {
  return {
    mt_id: m.mtId,
    account_id: m.accountId,
    request_id: m.requestId,
    source: m.source,
    destination: m.destination,
    mt_config: m.mtConfig,
    subject: m.subject,
    operator_id: m.operatorId,
    state: m.state,
    state_rank: MT_STATE_RANK[m.state],
    status: m.status,
    outcome_id: m.outcomeId,
    outcome_description: m.outcomeDescription,
    user_agent: m.userAgent,
    operator_message_id: m.operatorMessageId,
    created_at: m.createdAt,
    updated_at: m.updatedAt,
    parts: json(m.parts),
  };
}

export function mtFromRow(r: Selectable<MtMessagesTable>): MtMessage {
  return {
    mtId: r.mt_id,
    accountId: r.account_id,
    requestId: r.request_id,
    source: r.source,
    destination: r.destination,
    mtConfig: r.mt_config,
    subject: r.subject,
    operatorId: r.operator_id,
    state: r.state as MtState,
    status: r.status,
    outcomeId: r.outcome_id,
    outcomeDescription: r.outcome_description,
    userAgent: r.user_agent,
    operatorMessageId: r.operator_message_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    parts: mtPartsFromColumn(r.parts),
  };
}

export function moRow(m: MoMessage, json: JsonEncoder): MoMessagesTable {
  return {
    mo_id: m.moId,
    operator_id: m.operatorId,
    source: m.source,
    destinations: json(m.destinations),
    ccs: json(m.ccs),
    bccs: json(m.bccs),
    subject: m.subject,
    user_agent: m.userAgent,
    account_id: m.accountId,
    number: m.number,
    state: m.state,
    operator_message_id: m.operatorMessageId,
    received_at: m.receivedAt,
    updated_at: m.receivedAt,
  };
}

export function moFromRow(r: Selectable<MoMessagesTable>, parts: Part[]): MoMessage {
  return {
    moId: r.mo_id,
    operatorId: r.operator_id,
    source: r.source,
    destinations: decodeJson<string[]>(r.destinations),
    ccs: decodeJson<string[]>(r.ccs),
    bccs: decodeJson<string[]>(r.bccs),
    subject: r.subject,
    userAgent: r.user_agent,
    accountId: r.account_id,
    number: r.number,
    state: r.state as MoState,
    operatorMessageId: r.operator_message_id,
    receivedAt: r.received_at,
    parts,
  };
}

export function eventFromRow(r: Pick<Selectable<EventsTable>, 'at' | 'type' | 'node' | 'detail'>): MessageEvent {
  return { at: r.at, type: r.type, node: r.node, detail: decodeJson<Record<string, unknown>>(r.detail) };
}

export function jobFromRow(r: Selectable<JobsTable>): Job {
  const passedOn = passedOnFromRow(r.passed_by, r.passed_until);
  return {
    id: r.id,
    kind: r.kind as JobKind,
    refId: r.ref_id,
    orderKey: r.order_key,
    payload: decodeJson<Record<string, unknown>>(r.payload),
    state: r.state as JobState,
    runAt: r.run_at,
    attempts: r.attempts,
    firstAttemptAt: r.first_attempt_at,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    lastError: r.last_error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    ...(passedOn ? { passedOn } : {}),
  };
}

export function handsetFromRow(r: Selectable<HandsetMessagesTable>): HandsetMessage {
  return {
    number: r.number,
    mtId: r.mt_id,
    source: r.source,
    subject: r.subject,
    receivedAt: r.received_at,
    parts: decodeJson<Part[]>(r.parts),
  };
}

export function inboxFromRow(r: Selectable<InboxTable>): InboxEntry {
  return {
    id: r.id,
    box: r.box,
    receivedAt: r.received_at,
    headers: decodeJson<Record<string, string>>(r.headers),
    contentType: r.content_type,
    body: Buffer.from(r.body),
  };
}
