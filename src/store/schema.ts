/**
 * Table shapes as Kysely sees them (snake_case columns). Times are integer milliseconds since the epoch; ids are
 * 53-bit integers (BIGINT in PostgreSQL, read back as JS numbers). JSON columns hold text in SQLite and JSONB in
 * PostgreSQL, so readers accept either a string or an already parsed value (see `decodeJson`).
 */
import type { Generated } from 'kysely';

/** JSON as stored: a string on the way in, a string (SQLite) or a parsed value (PostgreSQL jsonb) on the way out. */
export type JsonColumn = unknown;

export interface SequencesTable {
  name: string;
  next: number;
}

export interface MtMessagesTable {
  mt_id: number;
  account_id: string;
  request_id: string;
  source: string;
  destination: string;
  mt_config: string;
  subject: string | null;
  operator_id: number;
  state: string;
  /** MT_STATE_RANK of `state`, kept in a column so the forward-only guard is part of the UPDATE's WHERE. */
  state_rank: number;
  status: string | null;
  outcome_id: number | null;
  outcome_description: string | null;
  user_agent: string | null;
  operator_message_id: string | null;
  created_at: number;
  updated_at: number;
  /** The parts, a JSON array of Part (rows.ts mtPartsJson); in the row since migration 4. */
  parts: JsonColumn;
}

/** Parts of MO messages (MT parts are a column of mt_messages); `seq` keeps the customer's order. */
export interface PartsTable {
  msg_id: number;
  seq: number;
  content_type: string;
  content_id: string;
  sha256: string | null;
  size: number;
  remote_url: string | null;
}

export interface BlobsTable {
  sha256: string;
  bytes: Buffer;
  size: number;
  /**
   * Lower bound of when a message last brought this blob (migration 7): every message referencing it was written at
   * most BLOB_SKIP_WINDOW_MS after this (blob-cache.ts). The retention sweep (retention.ts) deletes by it.
   */
  last_ref_at: number;
}

export interface MoMessagesTable {
  mo_id: number;
  operator_id: number;
  source: string;
  destinations: JsonColumn;
  ccs: JsonColumn;
  bccs: JsonColumn;
  subject: string | null;
  user_agent: string | null;
  account_id: string | null;
  number: string | null;
  state: string;
  operator_message_id: string | null;
  received_at: number;
  updated_at: number;
}

export interface EventsTable {
  id: Generated<number>;
  /** "mt" or "mo". */
  ref_kind: string;
  ref_id: number;
  at: number;
  type: string;
  node: string;
  detail: JsonColumn;
}

export interface JobsTable {
  id: Generated<number>;
  kind: string;
  ref_id: number;
  order_key: string | null;
  payload: JsonColumn;
  state: string;
  run_at: number;
  attempts: number;
  first_attempt_at: number | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  /**
   * The claimers that passed the job on to the others, as a JSON array of their owner names (job-passing.ts); null
   * when none. Left out of inserts (null): a new job was passed on by nobody (write-plan.ts NewJobRow).
   */
  passed_by: string | null;
  /** Until when the claimers in passed_by may not claim the job (ms); null when none. */
  passed_until: number | null;
}

export interface HandsetMessagesTable {
  id: Generated<number>;
  number: string;
  mt_id: number;
  source: string;
  subject: string | null;
  received_at: number;
  parts: JsonColumn;
}

export interface InboxTable {
  id: Generated<number>;
  box: string;
  received_at: number;
  headers: JsonColumn;
  content_type: string;
  body: Buffer;
}

export interface NodesTable {
  id: string;
  data_center: string;
  /** Added in migration 2. */
  url: string | null;
  started_at: number;
  heartbeat_at: number;
}

/** Idempotency keys of accepted sends (migration 2); primary key (account_id, idem_key). */
export interface IdempotencyKeysTable {
  account_id: string;
  idem_key: string;
  request_hash: string;
  mt_id: number;
  expires_at: number;
  created_at: number;
}

/** Remote-content cache rows (migration 2); the body is in `blobs`. */
export interface UrlCacheTable {
  url: string;
  sha256: string;
  content_type: string;
  size: number;
  etag: string | null;
  last_modified: string | null;
  fresh_until: number;
  fetched_at: number;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: number;
}

/** The whole database as Kysely sees it. */
export interface ParkedReportsTable {
  id: Generated<number>;
  operator_id: number;
  operator_message_id: string;
  /** The report as the inbound sink took it (operators/connector.ts InboundReport, without the ids). */
  report: JsonColumn;
  received_at: number;
}

export interface Database {
  sequences: SequencesTable;
  mt_messages: MtMessagesTable;
  blobs: BlobsTable;
  mo_messages: MoMessagesTable;
  mo_parts: PartsTable;
  events: EventsTable;
  jobs: JobsTable;
  handset_messages: HandsetMessagesTable;
  inbox: InboxTable;
  nodes: NodesTable;
  idempotency_keys: IdempotencyKeysTable;
  url_cache: UrlCacheTable;
  parked_reports: ParkedReportsTable;
  schema_migrations: SchemaMigrationsTable;
}

/** Parse a JSON column read back from either backend. */
export function decodeJson<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}
