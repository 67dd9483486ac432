/**
 * Reading the requests an MMSC sends us (3GPP TS 23.140 §8.2 MM7_deliver.REQ, §8.4 MM7_delivery_report.REQ,
 * §8.5 MM7_read_reply.REQ) from a parsed SOAP operation element. Pure functions; children are looked up by local
 * name in any order (NOTES quirk 5) and any namespace (quirk 1).
 */
import { attr, child, childText, childrenNamed, type XmlElement } from './mm7-xml.ts';

/** Raised when a required element is missing or empty: answered with 4004 Validation error. */
export class Mm7ValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Mm7ValidationError';
  }
}

/**
 * Normalise an MM7 address value (NOTES quirk 7): `+15551234567/TYPE=PLMN` -> `15551234567`; short codes keep their
 * digits; separators (spaces, dashes, dots, parentheses) inside a number are dropped. An e-mail address
 * (RFC2822Address) is returned trimmed, without a `/TYPE=` suffix.
 */
export function normaliseAddress(raw: string): string {
  let s = raw.trim().replace(/\/TYPE=[A-Za-z0-9]+$/i, '').trim();
  if (/^<.*>$/.test(s)) s = s.slice(1, -1).trim();
  const compact = s.replace(/[\s().-]/g, '');
  if (/^\+?\d+$/.test(compact)) return compact.replace(/^\+/, '');
  return s;
}

const ADDRESS_ELEMENTS = ['Number', 'ShortCode', 'RFC2822Address', 'RFC822Address'] as const;

/** Every address inside an addressType / multiAddressType element, normalised, in document order. */
export function readAddresses(el: XmlElement | undefined): string[] {
  if (!el) return [];
  const out: string[] = [];
  for (const c of el.children) {
    if ((ADDRESS_ELEMENTS as readonly string[]).includes(c.local)) {
      const v = normaliseAddress(c.text);
      if (v !== '') out.push(v);
    }
  }
  // A bare address written as text of the element itself (seen from lenient peers).
  if (out.length === 0 && el.children.length === 0 && el.text.trim() !== '') out.push(normaliseAddress(el.text));
  return out;
}

function required(op: XmlElement, local: string): string {
  const v = childText(op, local);
  if (v === undefined || v === '') throw new Mm7ValidationError(`${op.local} without ${local}`);
  return v;
}

/** Time in ms from an xs:dateTime, or undefined. */
function timeOf(s: string | undefined): number | undefined {
  if (!s) return undefined;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
}

/** UAProf of UACapabilities: the attribute (schema), or a child element of that name (seen in the wild). */
function userAgentOf(op: XmlElement): string | null {
  const ua = child(op, 'UACapabilities');
  if (!ua) return null;
  const v = attr(ua, 'UAProf') ?? childText(ua, 'UAProf') ?? (ua.children.length === 0 ? ua.text.trim() : '');
  return v && v.trim() !== '' ? v.trim() : null;
}

/** A DeliverReq (MO). */
export interface DeliverRequest {
  version: string | null;
  sender: string;
  to: string[];
  cc: string[];
  bcc: string[];
  subject: string | null;
  linkedId: string | null;
  userAgent: string | null;
  /** Content-ID from Content@href (`cid:` removed); undefined when the request has no Content element. */
  contentHref: string | undefined;
  at: number | undefined;
}

/**
 * Read a DeliverReq. The originator is `Sender` (deliverReqType, TS 23.140 §8.2.1); an MMSC that writes it as
 * `SenderAddress`, the name SubmitReq uses inside SenderIdentification (vectorcore-mmsc does), is read the same way
 * rather than losing the MO to a validation fault. Throws Mm7ValidationError when neither holds an address.
 */
export function readDeliverReq(op: XmlElement, contentHref: string | undefined): DeliverRequest {
  const sender = readAddresses(child(op, 'Sender'))[0] ?? readAddresses(child(op, 'SenderAddress'))[0];
  if (!sender) throw new Mm7ValidationError('DeliverReq without Sender');
  const recipients = child(op, 'Recipients');
  const list = (name: string): string[] => childrenNamed(recipients, name).flatMap((e) => readAddresses(e));
  const subject = childText(op, 'Subject');
  return {
    version: childText(op, 'MM7Version') ?? null,
    sender,
    to: list('To'),
    cc: list('Cc'),
    bcc: list('Bcc'),
    subject: subject ? subject : null,
    linkedId: childText(op, 'LinkedID') || null,
    userAgent: userAgentOf(op),
    contentHref,
    at: timeOf(childText(op, 'TimeStamp')),
  };
}

/** A DeliveryReportReq. */
export interface DeliveryReportRequest {
  version: string | null;
  messageId: string;
  mmStatus: string;
  statusText: string | null;
  userAgent: string | null;
  at: number | undefined;
}

/**
 * Read a DeliveryReportReq. Only MessageID and MMStatus are required: Sender and Recipient are not used (some peers
 * swap them, NOTES quirk 6; reports are correlated by MessageID alone).
 */
export function readDeliveryReportReq(op: XmlElement): DeliveryReportRequest {
  return {
    version: childText(op, 'MM7Version') ?? null,
    messageId: required(op, 'MessageID'),
    mmStatus: required(op, 'MMStatus'),
    statusText: childText(op, 'StatusText') || null,
    userAgent: userAgentOf(op),
    at: timeOf(childText(op, 'Date')),
  };
}

/** A ReadReplyReq. */
export interface ReadReplyRequest {
  version: string | null;
  messageId: string;
  /** Read | Deleted | Indeterminate (mmReadStatusType). */
  mmStatus: string;
  at: number | undefined;
}

/** Read a ReadReplyReq. */
export function readReadReplyReq(op: XmlElement): ReadReplyRequest {
  return {
    version: childText(op, 'MM7Version') ?? null,
    messageId: required(op, 'MessageID'),
    mmStatus: required(op, 'MMStatus'),
    at: timeOf(childText(op, 'TimeStamp')),
  };
}
