/**
 * The message model: MT and MO messages, their parts, and the MT state machine.
 * Pure data and rules; no I/O.
 */

/** One content part of a message. Inline parts point at a blob; remote parts hold a URL until fetched. */
export interface Part {
  /** Content-Type as the customer (or operator) gave it, parameters included. */
  contentType: string;
  /** Content-Id, normalised: no angle brackets, never empty (generated when absent). */
  contentId: string;
  /** SHA-256 (hex) of the decoded bytes in the blob store; absent for an unfetched remote part. */
  sha256?: string;
  /** Decoded size in bytes (0 for an unfetched remote part). */
  size: number;
  /** For `application/vnd.openmarket.remoteContent` parts: the URL to fetch. */
  remoteUrl?: string;
}

/** Content type of a part whose body is a URL that the gateway fetches (OpenMarket HTTP MMS v2). */
export const REMOTE_CONTENT_TYPE = 'application/vnd.openmarket.remoteContent';

/**
 * MT life cycle. Forward-only: a message moves to a state of higher rank, never back; `reported` (an interim
 * report such as Deferred or Forwarded) may repeat. Final states end the life of the message.
 */
export type MtState = 'accepted' | 'submitted' | 'reported' | 'delivered' | 'failed';

export const MT_STATE_RANK: Readonly<Record<MtState, number>> = Object.freeze({
  accepted: 0,
  submitted: 2,
  reported: 3,
  delivered: 9,
  failed: 9,
});

export function isFinalMtState(s: MtState): boolean {
  return MT_STATE_RANK[s] === 9;
}

/** True when a message in state `from` may move to `to` (forward-only; interim reports may repeat). */
export function canTransition(from: MtState, to: MtState): boolean {
  // reported -> reported: a later interim report refines the outcome (the store applies it only with another outcome).
  if (from === 'reported' && to === 'reported') return true;
  return MT_STATE_RANK[to] > MT_STATE_RANK[from];
}

/** An MT message as stored. Times are milliseconds since the epoch. */
export interface MtMessage {
  mtId: number;
  accountId: string;
  /** The X-Request-Id the send answered with; repeated on every report for this message. */
  requestId: string;
  source: string;
  destination: string;
  mtConfig: string;
  subject: string | null;
  operatorId: number;
  state: MtState;
  status: string | null;
  outcomeId: number | null;
  outcomeDescription: string | null;
  userAgent: string | null;
  /** The operator's ID for the message (MM7 MessageID), set once the operator accepted it. */
  operatorMessageId: string | null;
  createdAt: number;
  updatedAt: number;
  parts: Part[];
}

/** MO life cycle: stored, then delivered to the customer or parked. */
export type MoState = 'received' | 'delivered' | 'unroutable' | 'failed';

/** An MO message (from a handset to a number a customer owns), as stored. */
export interface MoMessage {
  moId: number;
  operatorId: number;
  source: string;
  destinations: string[];
  ccs: string[];
  bccs: string[];
  subject: string | null;
  userAgent: string | null;
  /** The account owning the first routable destination; null when unroutable. */
  accountId: string | null;
  /** The owned number it was routed by. */
  number: string | null;
  state: MoState;
  /** Operator-side identifier (MM7 LinkedID/MessageID), when known. */
  operatorMessageId: string | null;
  receivedAt: number;
  parts: Part[];
}

/** One entry of a message's event log (MT or MO). */
export interface MessageEvent {
  at: number;
  /** Short machine word: accepted, submitted, submit-retry, report-received, webhook-delivered, ... */
  type: string;
  /** Which node wrote it. */
  node: string;
  detail: Record<string, unknown>;
}

/** Normalise a Content-Id: strip whitespace and angle brackets. */
export function normaliseContentId(raw: string | undefined | null): string {
  if (!raw) return '';
  let s = raw.trim();
  if (s.startsWith('<') && s.endsWith('>')) s = s.slice(1, -1).trim();
  return s;
}

/** International number without "+": digits only, 7 to 15 long (E.164 allows up to 15). */
export function isInternationalNumber(s: string): boolean {
  return /^[1-9][0-9]{6,14}$/.test(s);
}

/** Short code: 3 to 8 digits. */
export function isShortCode(s: string): boolean {
  return /^[0-9]{3,8}$/.test(s);
}
