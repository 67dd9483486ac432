/**
 * SOAP 1.1 envelopes for MM7 (3GPP TS 23.140 §9.2 "Binding to SOAP"): building ours, reading any peer's.
 *
 * What we produce is strict: `env` prefix for SOAP, `mm7` prefix for the MM7 namespace, TransactionID in the Header
 * with env:mustUnderstand="1" (§9.2.1), children in schema order, booleans lower-case. What we read is lenient
 * (NOTES quirks 1-5): any prefix or none, any MM7 namespace, empty Header, padded TransactionID.
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_MM7_NAMESPACE, isMm7Namespace } from './mm7-status.ts';
import { attr, child, childText, escapeXml, findDeep, parseXml, type XmlElement } from './mm7-xml.ts';

/** SOAP 1.1 envelope namespace. */
export const SOAP_ENV_NS = 'http://schemas.xmlsoap.org/soap/envelope/';

/** A child for the tiny builder: [local name, text | children, attributes?]; undefined children are skipped. */
export type XmlChild = readonly [string, string | readonly (XmlChild | undefined)[], Readonly<Record<string, string>>?];

/** Serialise MM7 elements with the `mm7:` prefix, escaping text and attributes. */
export function mm7Xml(node: XmlChild): string {
  const [name, content, attrs] = node;
  const a = attrs ? Object.entries(attrs).map(([k, v]) => ` ${k}="${escapeXml(v)}"`).join('') : '';
  if (typeof content === 'string') return `<mm7:${name}${a}>${escapeXml(content)}</mm7:${name}>`;
  const inner = content.filter((c): c is XmlChild => c !== undefined).map(mm7Xml).join('');
  return inner === '' ? `<mm7:${name}${a}/>` : `<mm7:${name}${a}>${inner}</mm7:${name}>`;
}

/** A fresh TransactionID: short, unique enough for correlation, safe in XML. */
export function newTransactionId(prefix = 'mmsgate'): string {
  return `${prefix}-${randomBytes(9).toString('base64url')}`;
}

/** Wrap an MM7 body element in a SOAP 1.1 envelope with the TransactionID header (§9.2.1). */
export function buildEnvelope(namespace: string, transactionId: string, bodyXml: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    `<env:Envelope xmlns:env="${SOAP_ENV_NS}" xmlns:mm7="${escapeXml(namespace)}">` +
    `<env:Header><mm7:TransactionID env:mustUnderstand="1">${escapeXml(transactionId)}</mm7:TransactionID></env:Header>` +
    `<env:Body>${bodyXml}</env:Body></env:Envelope>`
  );
}

/** Parameters of a generic response (DeliverRsp, DeliveryReportRsp, ReadReplyRsp: genericResponseType). */
export interface GenericResponseParams {
  namespace: string;
  transactionId: string;
  version: string;
  statusCode: number;
  statusText: string;
}

/** A response of genericResponseType: MM7Version, Status(StatusCode, StatusText). */
export function buildGenericResponse(operation: string, p: GenericResponseParams): string {
  const body = mm7Xml([
    operation,
    [
      ['MM7Version', p.version],
      ['Status', [['StatusCode', String(p.statusCode)], ['StatusText', p.statusText]]],
    ],
  ]);
  return buildEnvelope(p.namespace, p.transactionId, body);
}

/**
 * A SOAP Fault carrying VASPErrorRsp in `detail` (§9.2.3: errors from the VASP). faultcode is env:Client when the
 * request was at fault (2xxx, 4xxx), env:Server otherwise (SOAP 1.1 §4.4.1).
 */
export function buildFault(p: GenericResponseParams & { faultstring?: string }): string {
  const faultcode = p.statusCode >= 3000 && p.statusCode < 4000 ? 'env:Server' : 'env:Client';
  const detail = mm7Xml([
    'VASPErrorRsp',
    [
      ['MM7Version', p.version],
      ['Status', [['StatusCode', String(p.statusCode)], ['StatusText', p.statusText]]],
    ],
  ]);
  const body =
    `<env:Fault><faultcode>${faultcode}</faultcode><faultstring>${escapeXml(p.faultstring ?? p.statusText)}</faultstring>` +
    `<detail>${detail}</detail></env:Fault>`;
  return buildEnvelope(p.namespace, p.transactionId, body);
}

/** A parsed SOAP Fault. */
export interface ParsedFault {
  /**
   * faultcode's local part ("Client", "Server"), whatever prefix it had (NOTES quirk 2); for a SOAP 1.2 fault, the
   * Code/Value in SOAP 1.1 terms (Sender -> Client, Receiver -> Server) with its Subcode after a dot.
   */
  faultcode: string;
  faultstring: string;
  /** StatusCode from RSErrorRsp / VASPErrorRsp in `detail`, when present. */
  statusCode: number | null;
  statusText: string | null;
}

/** A peer's envelope, read leniently. */
export interface ParsedEnvelope {
  /** TransactionID trimmed (quirk 3); null when the Header is empty or missing. */
  transactionId: string | null;
  /** The MM7 namespace the peer used (operation element first, then any MM7 namespace in the document); null if none. */
  namespace: string | null;
  /** The first element inside Body: the operation (SubmitRsp, DeliverReq, Fault, ...). */
  operation: XmlElement;
  /** Set when the operation is a SOAP Fault. */
  fault: ParsedFault | null;
}

/** Raised when a document is XML but not a SOAP envelope with a Body element. */
export class Mm7EnvelopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Mm7EnvelopeError';
  }
}

/** Parse a SOAP envelope. Throws Mm7XmlError (not XML, DOCTYPE) or Mm7EnvelopeError (no Envelope/Body/operation). */
export function parseEnvelope(xml: string): ParsedEnvelope {
  const root = parseXml(xml);
  if (root.local !== 'Envelope') throw new Mm7EnvelopeError(`root element is ${root.local}, not Envelope`);
  const body = child(root, 'Body');
  const operation = body?.children[0];
  if (!operation) throw new Mm7EnvelopeError('SOAP Body is missing or empty');
  const header = child(root, 'Header');
  const tx = header ? child(header, 'TransactionID') : undefined;
  const transactionId = tx && tx.text.trim() !== '' ? tx.text.trim() : null;
  return { transactionId, namespace: findNamespace(root, operation), operation, fault: operation.local === 'Fault' ? readFault(operation) : null };
}

function findNamespace(root: XmlElement, op: XmlElement): string | null {
  if (isMm7Namespace(op.ns)) return op.ns.trim();
  const first = op.children.find((c) => isMm7Namespace(c.ns));
  if (first) return first.ns.trim();
  const seen = scanNamespaces(root);
  return seen ?? null;
}

function scanNamespaces(el: XmlElement): string | null {
  if (isMm7Namespace(el.ns)) return el.ns.trim();
  for (const v of Object.values(el.attrs)) if (isMm7Namespace(v)) return v.trim();
  for (const c of el.children) {
    const f = scanNamespaces(c);
    if (f) return f;
  }
  return null;
}

/**
 * Read a Fault in either SOAP version. SOAP 1.1 (§4.4): `faultcode`, `faultstring`, `detail`. SOAP 1.2 (Part 1
 * §5.4): `Code/Value` (optionally refined by `Code/Subcode/Value`), `Reason/Text`, `Detail`. SOAP 1.2's Sender and
 * Receiver are SOAP 1.1's Client and Server (SOAP 1.2 Part 1 §5.4.6), so they are reported under the SOAP 1.1 names
 * and the submit side classifies both versions alike; a Subcode is appended with a dot, as SOAP 1.1 extends codes.
 */
function readFault(f: XmlElement): ParsedFault {
  const status = findDeep(f, 'Status');
  const codeText = status ? childText(status, 'StatusCode') : undefined;
  const code = codeText !== undefined && /^\s*\d+\s*$/.test(codeText) ? Number(codeText) : null;
  const soap11Code = childText(f, 'faultcode');
  let faultcode: string;
  let faultstring: string;
  if (soap11Code !== undefined) {
    faultcode = localPart(soap11Code);
    faultstring = childText(f, 'faultstring') ?? '';
  } else {
    const codeEl = child(f, 'Code');
    const value = localPart(childText(codeEl, 'Value') ?? '');
    const sub = localPart(childText(child(codeEl, 'Subcode'), 'Value') ?? '');
    const base = value === 'Sender' ? 'Client' : value === 'Receiver' ? 'Server' : value;
    faultcode = sub ? `${base}.${sub}` : base;
    faultstring = childText(child(f, 'Reason'), 'Text') ?? '';
  }
  return { faultcode, faultstring, statusCode: code, statusText: status ? (childText(status, 'StatusText') ?? null) : null };
}

/** The local part of a QName value ("env:Client" -> "Client"; NOTES quirk 2: prefixed or bare). */
function localPart(qname: string): string {
  return qname.slice(qname.lastIndexOf(':') + 1);
}

/** The namespace to answer in: the request's, else the operator's default (NOTES: echo the request). */
export function responseNamespace(requestNs: string | null, operatorDefault?: string): string {
  return requestNs ?? operatorDefault ?? DEFAULT_MM7_NAMESPACE;
}

/** Strip the `cid:` scheme and whitespace from a Content href (RFC 2392), URL-decoding %-escapes when valid. */
export function hrefToContentId(href: string | undefined): string | undefined {
  if (href === undefined) return undefined;
  let s = href.trim();
  if (/^cid:/i.test(s)) s = s.slice(4).trim();
  try {
    s = decodeURIComponent(s);
  } catch {
    // keep as written
  }
  if (s.startsWith('<') && s.endsWith('>')) s = s.slice(1, -1).trim();
  return s;
}

/** The `href` of an operation's Content element, as a Content-ID; undefined when there is no Content element. */
export function contentIdOf(operation: XmlElement): string | undefined {
  return hrefToContentId(attr(child(operation, 'Content'), 'href'));
}
