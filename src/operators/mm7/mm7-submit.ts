/**
 * MM7_submit.REQ (3GPP TS 23.140 §8.1.1, §9.3): the SOAP body in schema order and its HTTP/MIME framing.
 *
 * Element order follows the `submitReqType` sequence (REL-6-MM7-1-4; REL-5-MM7-1-x is the same prefix of it):
 * MM7Version, SenderIdentification(VASPID, VASID, SenderAddress), Recipients, ServiceCode?, ... ExpiryDate?,
 * DeliveryReport?, ... Subject?, ... Content. Framing follows §9.3 / RFC 2387: multipart/related with the SOAP part
 * first and named by `start`, then the content part referenced by `<Content href="cid:...">`.
 */
import { isUtf8 } from 'node:buffer';
import { parseContentType } from '../../mime/content-type.ts';
import { base64Body, buildMultipart } from '../../shared/multipart-writer.ts';
import { isShortCode } from '../../core/message.ts';
import { parseDuration } from '../../core/retry-policy.ts';
import { buildEnvelope, mm7Xml, type XmlChild } from './mm7-envelope.ts';

/** What goes into one SubmitReq. */
export interface SubmitReqFields {
  namespace: string;
  version: string;
  transactionId: string;
  vaspId: string;
  vasId: string;
  /** Sender: a short code (3-8 digits, sent as ShortCode) or an international number (sent as Number). */
  sender: string;
  /** Recipients (To), international numbers without "+". */
  recipients: string[];
  /** Prefix "+" to Number values (some MMSCs want it; default off: digits as the customer gave them). */
  plusPrefix?: boolean;
  serviceCode?: string;
  /** Already formatted (see formatExpiry): xs:duration or xs:dateTime. */
  expiryDate?: string;
  deliveryReport?: boolean;
  subject?: string | null;
  /** Content-ID of the content part (without brackets). */
  contentId: string;
  /** Content@allowAdaptations (contentReferenceType attribute; schema default true). */
  allowAdaptations?: boolean;
}

/** The SubmitReq element (without envelope), children in schema order. */
export function buildSubmitReqBody(f: SubmitReqFields): string {
  const num = (n: string): XmlChild => ['Number', f.plusPrefix && /^\d+$/.test(n) ? `+${n}` : n];
  const sender: XmlChild = isShortCode(f.sender) ? ['ShortCode', f.sender] : num(f.sender);
  const content: Record<string, string> = { href: `cid:${f.contentId}` };
  if (f.allowAdaptations !== undefined) content.allowAdaptations = String(f.allowAdaptations);
  return mm7Xml([
    'SubmitReq',
    [
      ['MM7Version', f.version],
      [
        'SenderIdentification',
        [
          f.vaspId ? ['VASPID', f.vaspId] : undefined,
          f.vasId ? ['VASID', f.vasId] : undefined,
          ['SenderAddress', [sender]],
        ],
      ],
      ['Recipients', [['To', f.recipients.map(num)]]],
      f.serviceCode ? ['ServiceCode', f.serviceCode] : undefined,
      f.expiryDate ? ['ExpiryDate', f.expiryDate] : undefined,
      f.deliveryReport === undefined ? undefined : ['DeliveryReport', String(f.deliveryReport)],
      f.subject ? ['Subject', f.subject] : undefined,
      ['Content', [], content],
    ],
  ]);
}

/** The whole SOAP envelope of a SubmitReq. */
export function buildSubmitReqXml(f: SubmitReqFields): string {
  return buildEnvelope(f.namespace, f.transactionId, buildSubmitReqBody(f));
}

/** One content part to attach. */
export interface SubmitContentPart {
  contentType: string;
  /** Without angle brackets. */
  contentId: string;
  bytes: Buffer;
  /** Content-Location (a file name); defaults to the Content-ID. */
  location?: string;
}

/** A ready HTTP request body. */
export interface SubmitHttpBody {
  contentType: string;
  body: Buffer;
}

/** Content-ID of the SOAP part (the `start` of the outer multipart/related). */
export const SOAP_PART_ID = 'mm7-soap';
/** Content-ID of the content part (the Content href). */
export const CONTENT_PART_ID = 'mm7-content';

const SMIL = 'application/smil';

/** Media type without parameters, lower-cased. */
export function bareType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

function isTextual(contentType: string): boolean {
  const t = bareType(contentType);
  return t.startsWith('text/') || t === SMIL || t.endsWith('+xml') || t === 'application/xml';
}

/**
 * The Content-Type a part goes out with. A text part without a charset parameter is US-ASCII to the handset
 * (RFC 2046 §4.1.2), so UTF-8 text sent that way (customers often write plain `text/plain`) shows as mojibake; SMIL
 * is read the same way by MMS clients. When such a part's bytes are valid UTF-8 and not plain ASCII, `charset=utf-8`
 * is added. A declared charset is left as it is (the customer knows their bytes), as is text in another encoding
 * (not valid UTF-8: we cannot tell which one) and plain ASCII (correct as US-ASCII).
 */
export function outgoingContentType(contentType: string, bytes: Buffer): string {
  const t = bareType(contentType);
  if (!t.startsWith('text/') && t !== SMIL) return contentType;
  if (parseContentType(contentType).params.charset !== undefined) return contentType;
  if (!bytes.some((b) => b >= 0x80) || !isUtf8(bytes)) return contentType;
  return `${contentType.trim().replace(/;\s*$/, '')}; charset=utf-8`;
}

/**
 * Frame a SubmitReq for HTTP (§9.3): outer `multipart/related; type="text/xml"; start="<mm7-soap>"` with the SOAP part
 * first; the content part is `multipart/related` with the SMIL part as `start` when the message has a SMIL
 * presentation (RFC 2387), else `multipart/mixed`. Text parts travel as binary (HTTP is 8-bit clean), everything else base64.
 * `fields.contentId` is overridden with CONTENT_PART_ID.
 */
export function buildSubmitHttp(fields: SubmitReqFields, parts: readonly SubmitContentPart[]): SubmitHttpBody {
  const xml = buildSubmitReqXml({ ...fields, contentId: CONTENT_PART_ID });
  const smil = parts.find((p) => bareType(p.contentType) === SMIL);
  const inner = buildMultipart(
    parts.map((p) => {
      const textual = isTextual(p.contentType);
      return {
        headers: {
          'Content-Type': outgoingContentType(p.contentType, p.bytes),
          'Content-ID': `<${p.contentId}>`,
          'Content-Location': sanitizeLocation(p.location ?? p.contentId),
          'Content-Transfer-Encoding': textual ? 'binary' : 'base64',
        },
        body: textual ? p.bytes : base64Body(p.bytes),
      };
    }),
    smil ? { subtype: 'related', params: { type: SMIL, start: `<${smil.contentId}>` } } : { subtype: 'mixed' },
  );
  const outer = buildMultipart(
    [
      {
        headers: { 'Content-Type': 'text/xml; charset="utf-8"', 'Content-ID': `<${SOAP_PART_ID}>` },
        body: Buffer.from(xml, 'utf8'),
      },
      { headers: { 'Content-Type': inner.contentType, 'Content-ID': `<${CONTENT_PART_ID}>` }, body: inner.body },
    ],
    { subtype: 'related', params: { type: 'text/xml', start: `<${SOAP_PART_ID}>` } },
  );
  return { contentType: outer.contentType, body: outer.body };
}

/** Header values must not carry line breaks or quotes; keep a location readable and safe. */
function sanitizeLocation(s: string): string {
  return s.replace(/[\r\n"\\]/g, '_');
}

/**
 * Format a configured expiry for ExpiryDate (relativeOrAbsoluteDateType: xs:duration or xs:dateTime, §8.1.1).
 * Accepts an xs:duration as is ("PT2M", "P1D"), an absolute date-time (ISO 8601, with zone), or a project duration
 * ("2h", "30m", milliseconds as a number), which becomes an xs:duration in seconds ("PT7200S").
 * Throws on anything else, so a bad config fails at start-up.
 */
export function formatExpiry(expiry: string | number): string {
  if (typeof expiry === 'string') {
    const s = expiry.trim();
    if (/^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/.test(s)) return s;
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s))) return s;
  }
  const ms = parseDuration(expiry);
  const secs = Math.max(1, Math.round(ms / 1000));
  return `PT${secs}S`;
}

/**
 * ExpiryDate as an absolute xs:dateTime (§8.1.1 relativeOrAbsoluteDateType): UTC with `Z` and whole seconds, the
 * plainest lexical form of xs:dateTime, which every MMSC that reads dates at all accepts.
 */
export function absoluteExpiry(at: number): string {
  return new Date(Math.floor(at / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}
