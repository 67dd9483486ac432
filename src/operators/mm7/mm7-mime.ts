/**
 * Unpacking an inbound MM7 HTTP body (3GPP TS 23.140 §9.3, RFC 2387 multipart/related): find the SOAP part, then the
 * content the operation's `<Content href="cid:...">` points at, flattening nested multiparts into leaf parts.
 *
 * Tolerated (NOTES quirk 8, and the operator docs): `start` missing (first XML part, else first part), Content-IDs
 * without brackets or missing, parameter names in any case, an href matching no Content-ID exactly (case-insensitive
 * and Content-Location matches, then every non-SOAP part), a multipart Content-Type over a bare XML body.
 *
 * A content part whose transfer encoding cannot be decoded (one we do not know, base64 with characters outside its
 * alphabet) does not refuse the request: answering a DeliverReq with a fault makes the MMSC resend it and, after its
 * last try, drop the subscriber's whole MO for one broken attachment. Such a part is kept as the bytes that arrived,
 * labelled application/octet-stream (see undecodedContentType); only a SOAP part that cannot be decoded is refused.
 */
import { boundaryOf, mediaTypeOf, parseContentType } from '../../mime/content-type.ts';
import { parseMultipartBuffer, readAllParts } from '../../mime/multipart-reader.ts';
import { DEFAULT_MULTIPART_LIMITS, type MultipartLimits, type ParsedPart } from '../../mime/types.ts';
import { ApiError } from '../../core/errors.ts';
import { normaliseContentId } from '../../core/message.ts';
import { formatParameterValue } from '../../shared/multipart-writer.ts';

/** One decoded content part handed to the sink. */
export interface LeafPart {
  contentType: string;
  contentId: string;
  bytes: Buffer;
  /** Set when the part could not be transfer-decoded: why. `bytes` are then as they arrived. */
  undecodable?: string;
}

/** The SOAP document and the other top-level parts. */
export interface SplitBody {
  soap: Buffer;
  attachments: ParsedPart[];
}

/** Deepest multipart nesting unpacked inside the content part. */
export const MAX_NESTING = 3;

async function* once(buf: Buffer): AsyncIterable<Buffer> {
  yield buf;
}

function bareType(ct: string | undefined): string {
  return (ct ?? '').split(';')[0]!.trim().toLowerCase();
}

function isXmlType(ct: string): boolean {
  const t = bareType(ct);
  return t === 'text/xml' || t === 'application/xml' || t === 'application/soap+xml';
}

/** True when the bytes look like an XML document (after an optional BOM and whitespace). */
function looksLikeXml(body: Buffer): boolean {
  let i = 0;
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) i = 3;
  if ((body[0] === 0xff && body[1] === 0xfe) || (body[0] === 0xfe && body[1] === 0xff)) return true;
  while (i < body.length && i < 1024 && (body[i] === 0x20 || body[i] === 0x0d || body[i] === 0x0a || body[i] === 0x09)) i++;
  return body[i] === 0x3c || (body[i] === 0x00 && body[i + 1] === 0x3c);
}

/**
 * Split an HTTP body into the SOAP document and the other parts. A `text/xml` body (or a multipart Content-Type whose
 * body is bare XML, as in some operators' delivery reports) is the SOAP document alone. Throws what the multipart
 * reader throws on a malformed or oversized multipart body, and MALFORMED_MULTIPART for a SOAP part that cannot be
 * transfer-decoded; an attachment that cannot be is kept as it arrived (`undecodable` set), on the inbound side for
 * resolveContent, on the submit side so that an answer's useless attachment does not make its SubmitRsp unreadable.
 * The body is already in memory, so the split is synchronous: the submit side uses it to read an MMSC's answer sent
 * as multipart/related (§9.3 allows a response with attachments, and our `Accept` asks for it).
 */
export function splitBody(contentType: string | undefined, body: Buffer, limits: MultipartLimits = DEFAULT_MULTIPART_LIMITS): SplitBody {
  const boundary = boundaryOf(contentType);
  if (!contentType || !boundary || !bareType(contentType).startsWith('multipart/') || looksLikeXml(body)) {
    return { soap: body, attachments: [] };
  }
  const parts = parseMultipartBuffer(body, { boundary, limits, lenient: true, keepUndecodable: true });
  if (parts.length === 0) return { soap: Buffer.alloc(0), attachments: [] };
  const start = normaliseContentId(parseContentType(contentType).params.start);
  let idx = start ? parts.findIndex((p) => p.contentId === start) : -1;
  if (idx < 0 && start) idx = parts.findIndex((p) => p.contentId.toLowerCase() === start.toLowerCase());
  if (idx < 0) idx = parts.findIndex((p) => isXmlType(p.contentType));
  if (idx < 0) idx = 0;
  const soap = parts[idx]!;
  if (soap.undecodable !== undefined) throw new ApiError('MALFORMED_MULTIPART', { reason: `SOAP part: ${soap.undecodable}` });
  return { soap: soap.body, attachments: parts.filter((_, i) => i !== idx) };
}

/** splitBody for callers that await (the inbound handler); same result and errors, as a rejected promise. */
export async function splitInbound(contentType: string | undefined, body: Buffer, limits: MultipartLimits = DEFAULT_MULTIPART_LIMITS): Promise<SplitBody> {
  return splitBody(contentType, body, limits);
}

/**
 * The content parts an operation refers to, flattened to leaves. `href` is the Content-ID from `Content@href`
 * (undefined when the operation has no Content element: then every attachment is content).
 *
 * The href names the one MIME part that holds the content (§9.3), usually a multipart; when it names a leaf while
 * other parts follow the SOAP part too, the MMSC has put the MM's parts straight into the outer multipart and named
 * the first (vectorcore-mmsc does, calling a part without Content-ID `message-content`; deliverReqType also allows
 * several Content elements). Nothing but content travels beside the SOAP part, so every attachment is taken, in
 * order: the named part alone would drop the rest of the MO.
 */
export async function resolveContent(attachments: readonly ParsedPart[], href: string | undefined, limits: MultipartLimits = DEFAULT_MULTIPART_LIMITS): Promise<LeafPart[]> {
  if (attachments.length === 0) return [];
  let selected: readonly ParsedPart[] = attachments;
  if (href) {
    const h = href.toLowerCase();
    const match =
      attachments.find((p) => p.contentId === href) ??
      attachments.find((p) => p.contentId.toLowerCase() === h) ??
      attachments.find((p) => normaliseContentId(p.headers['content-location']).toLowerCase() === h);
    if (match && (isMultipart(match) || attachments.length === 1)) selected = [match];
  }
  const out: LeafPart[] = [];
  for (const p of selected) await flatten(p, 0, limits, out);
  return out;
}

function isMultipart(p: ParsedPart): boolean {
  return bareType(p.contentType).startsWith('multipart/') && boundaryOf(p.contentType) !== undefined;
}

async function flatten(p: ParsedPart, depth: number, limits: MultipartLimits, out: LeafPart[]): Promise<void> {
  const boundary = bareType(p.contentType).startsWith('multipart/') ? boundaryOf(p.contentType) : undefined;
  // A multipart is unpacked even under a transfer encoding we do not know: RFC 2045 §6.4 allows a multipart no
  // encoding but 7bit, 8bit and binary, all identities, so its bytes are readable as they are (and if they are not,
  // the framing is broken and the request refused).
  if (boundary && depth < MAX_NESTING) {
    const inner = await readAllParts(once(p.body), {
      boundary,
      limits: { ...limits, maxBodyBytes: Math.max(p.body.length, 1) },
      lenient: true,
      keepUndecodable: true,
    });
    for (const q of inner) await flatten(q, depth + 1, limits, out);
    return;
  }
  if (out.length >= limits.maxParts) throw new RangeError(`more than ${limits.maxParts} content parts`);
  const location = normaliseContentId(p.headers['content-location']);
  const contentType = p.contentType.replace(/\s+/g, ' ').trim();
  const leaf: LeafPart = {
    contentType: p.undecodable === undefined ? contentType : undecodedContentType(contentType, p.transferEncoding),
    contentId: p.contentId || location || `part${out.length + 1}`,
    bytes: p.body,
  };
  if (p.undecodable !== undefined) leaf.undecodable = p.undecodable;
  out.push(leaf);
}

/**
 * The label of a part kept undecoded: application/octet-stream (RFC 2046 §4.5.1, data no one should render as what
 * it claimed to be: the bytes are still transfer-encoded), with what it was declared as in two parameters, so the
 * customer can tell it apart and decode it themselves: `original-type` (its media type) and `original-encoding`
 * (its Content-Transfer-Encoding, which the bytes are still in). Both cut to 100 characters, controls removed.
 */
export function undecodedContentType(contentType: string, transferEncoding: string): string {
  const clean = (v: string): string => formatParameterValue(v.replace(/[\x00-\x1f\x7f]/g, '').slice(0, 100));
  return `application/octet-stream; original-type=${clean(mediaTypeOf(contentType))}; original-encoding=${clean(transferEncoding)}`;
}
