/**
 * MM7 status codes (3GPP TS 23.140 §8.7.x "Status code and status text", Table 28 in Rel-6), namespaces and versions,
 * and how a status code steers the submit worker: accept, retry (TemporaryError), or give up with an outcome.
 */
import { OUTCOMES, type Outcome } from '../../core/outcomes.ts';

/** Common prefix of every MM7 schema namespace (3GPP 23.140 schema archive). */
export const MM7_NAMESPACE_BASE = 'http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/';

/** The namespace URI for a schema name such as `REL-6-MM7-1-4`; a full URI is returned unchanged. */
export function mm7Namespace(nameOrUri: string): string {
  return nameOrUri.startsWith('http') ? nameOrUri : MM7_NAMESPACE_BASE + nameOrUri;
}

/**
 * True for any MM7 schema namespace. Peers answer in other MM7 namespaces than the request's, including ones
 * that do not exist (REL-6-MM7-6-7 seen in the wild), so every `REL-n-MM7-x-y` under the 3GPP base is accepted.
 */
export function isMm7Namespace(uri: string): boolean {
  return /^http:\/\/www\.3gpp\.org\/ftp\/Specs\/archive\/23_series\/23\.140\/schema\/REL-\d+-MM7-\d+-\d+\/?$/.test(uri.trim());
}

/** The MM7Version that goes with a namespace: 5.3.0 for REL-5 schemas, 6.8.0 for REL-6 (REL-6-MM7-1-4). */
export function defaultVersionFor(namespace: string): string {
  return /REL-5-/.test(namespace) ? '5.3.0' : '6.8.0';
}

/** Namespace used when neither configuration nor the request says otherwise. */
export const DEFAULT_MM7_NAMESPACE = mm7Namespace('REL-6-MM7-1-4');

/**
 * What a status code means for the submit worker: done, retry later, or give up; `link`: the MMSC refused who we are
 * (credentials, VASP identity), not this message, so it is retried like HTTP 401/403 (mm7-responses.ts) and logged
 * as the link's configuration problem.
 */
export type Mm7StatusClass = 'success' | 'temporary' | 'permanent' | 'link';

/** One row of the status table. */
export interface Mm7StatusInfo {
  readonly code: number;
  /** 3GPP's status text (used when we answer with this code). */
  readonly text: string;
  readonly cls: Mm7StatusClass;
  /** For permanent codes: the outcome the customer's report carries. */
  readonly outcome: Outcome | null;
}

const row = (code: number, text: string, cls: Mm7StatusClass, outcome: Outcome | null = null): Mm7StatusInfo =>
  Object.freeze({ code, text, cls, outcome });

/**
 * The status table (TS 23.140 Rel-6 Table 28). 1xxx final success; 2xxx client errors and 4xxx service errors are
 * permanent, except 4006 Service unavailable which says "later". Of the 3xxx server errors only 3000 Server Error
 * (and operator codes of the class) is worth a retry: 3001 Not Possible (what MMSCs answer for a blacklisted or
 * barred recipient), 3002 Message rejected, 3003 Multiple addresses not supported and 3004 Application not
 * addressable refuse this very request, and a resend gets the same refusal until the message expires in the queue.
 * Permanent codes map to the outcome a customer can act on: address errors, refused content, denied service.
 * Operator codes with a meaning of their own (Sinch/Skycore 25xx, operator docs in the reference samples) are listed.
 * 4001 Improper identification (our VASPID/VASID unknown) and Sinch/Skycore's 2568 Unable to authenticate (their
 * spelling of HTTP 401) refuse the link, not the message: every queued message would fail for good over a password
 * rotated on one side first, so they are retried (class `link`) until the configuration is fixed.
 */
export const MM7_STATUS_TABLE: ReadonlyMap<number, Mm7StatusInfo> = new Map(
  [
    //  code  status text                          class        outcome for the customer report
    row(1000, 'Success', 'success'),
    row(1100, 'Partial success', 'success'),
    row(2000, 'Client error', 'permanent', OUTCOMES.OPERATOR_REJECTED),
    row(2001, 'Operation restricted', 'permanent', OUTCOMES.OPERATOR_DENIED),
    row(2002, 'Address Error', 'permanent', OUTCOMES.OPERATOR_ADDRESS_ERROR),
    row(2003, 'Address Not Found', 'permanent', OUTCOMES.OPERATOR_ADDRESS_ERROR),
    row(2004, 'Multimedia content refused', 'permanent', OUTCOMES.OPERATOR_CONTENT_REFUSED),
    row(2005, 'Message ID Not found', 'permanent', OUTCOMES.OPERATOR_REJECTED),
    row(2006, 'LinkedID not found', 'permanent', OUTCOMES.OPERATOR_REJECTED),
    row(2007, 'Message format corrupt', 'permanent', OUTCOMES.OPERATOR_REJECTED),
    row(2008, 'Application ID not found', 'permanent', OUTCOMES.OPERATOR_REJECTED),
    row(2009, 'Reply Application ID not found', 'permanent', OUTCOMES.OPERATOR_REJECTED),
    row(2560, 'Content length exceeded maximum supported request size', 'permanent', OUTCOMES.TOO_LARGE),
    row(2568, 'Unable to authenticate', 'link'),
    row(3000, 'Server Error', 'temporary'),
    row(3001, 'Not Possible', 'permanent', OUTCOMES.OPERATOR_REJECTED),
    row(3002, 'Message rejected', 'permanent', OUTCOMES.OPERATOR_REJECTED),
    row(3003, 'Multiple addresses not supported', 'permanent', OUTCOMES.OPERATOR_REJECTED),
    row(3004, 'Application not addressable', 'permanent', OUTCOMES.OPERATOR_REJECTED),
    row(4000, 'General service error', 'permanent', OUTCOMES.OPERATOR_REJECTED),
    row(4001, 'Improper identification', 'link'),
    row(4002, 'Unsupported version', 'permanent', OUTCOMES.OPERATOR_REJECTED),
    row(4003, 'Unsupported operation', 'permanent', OUTCOMES.OPERATOR_REJECTED),
    row(4004, 'Validation error', 'permanent', OUTCOMES.OPERATOR_REJECTED),
    row(4005, 'Service error', 'permanent', OUTCOMES.OPERATOR_REJECTED),
    row(4006, 'Service unavailable', 'temporary'),
    row(4007, 'Service denied', 'permanent', OUTCOMES.OPERATOR_DENIED),
  ].map((r) => [r.code, r]),
);

/**
 * Classify a status code. Codes not in the table (operators add their own, e.g. 25xx, 35xx) take the class of their
 * thousand: 1xxx success, 2xxx/4xxx permanent (OPERATOR_REJECTED), 3xxx temporary (like 3000: an operator's server
 * trouble, e.g. 3500, 3510). Anything else (0, 5xxx, not a
 * number) is treated as temporary: an unreadable answer must not lose the message (core/retry-policy).
 */
export function classifyStatusCode(code: number): Mm7StatusInfo {
  const known = MM7_STATUS_TABLE.get(code);
  if (known) return known;
  const thousand = Number.isInteger(code) ? Math.floor(code / 1000) : -1;
  switch (thousand) {
    case 1:
      return row(code, 'Success', 'success');
    case 2:
    case 4:
      return row(code, 'Operator error', 'permanent', OUTCOMES.OPERATOR_REJECTED);
    case 3:
      return row(code, 'Server error', 'temporary');
    default:
      return row(code, 'Unknown status', 'temporary');
  }
}

/** The 3GPP status text for a code we answer with. */
export function statusText(code: number): string {
  return MM7_STATUS_TABLE.get(code)?.text ?? 'Error';
}
