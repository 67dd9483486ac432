/**
 * Reading the customer's multipart requests (the send API and the sandbox's MO injection share it): Content-Type
 * checks, the streaming reader with the configured limits, the JSON control part.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from '../core/errors.ts';
import { boundaryOf, mediaTypeOf, parseContentType } from '../mime/content-type.ts';
import { readAllPartsFromStream } from '../mime/multipart-reader.ts';
import type { ParsedPart } from '../mime/types.ts';

/** The api.* limits of the configuration. */
export interface ApiLimits {
  lenientMultipart: boolean;
  maxBodyBytes: number;
  maxParts: number;
  maxPartBytes: number;
  maxHeaderBytes: number;
}

/**
 * Parse the JSON control part. Lenient mode also takes the documentation's examples as copied from the web page,
 * whose JSON is indented with no-break spaces (U+00A0), which JSON.parse refuses outside strings.
 */
export function parseControlJson(body: Buffer, lenient: boolean): unknown {
  // RFC 8259 §8.1: JSON exchanged between systems is UTF-8. Decoding invalid bytes as U+FFFD would store a subject
  // the customer never sent; refuse it instead (a validity scan, not a second decode).
  if (!isUtf8(body)) throw new ApiError('INVALID_JSON', { reason: 'the control part is not valid UTF-8' });
  let text = body.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a byte-order mark
  try {
    return JSON.parse(text);
  } catch (e) {
    // Only when strict parsing fails, so a no-break space inside a string value (a subject) is kept as sent.
    if (lenient && text.includes('\u00a0')) {
      try {
        return JSON.parse(text.replace(/\u00a0/g, ' '));
      } catch {
        /* report the original error */
      }
    }
    throw new ApiError('INVALID_JSON', { reason: (e as Error).message });
  }
}

/** Header values arrive latin1-decoded; re-decode as UTF-8 so a stray non-ASCII character is seen as itself. */
export function headerAsUtf8(v: string | undefined): string {
  if (!v) return '';
  // ASCII (nearly every header) reads the same either way: no round trip through a Buffer.
  return NON_ASCII.test(v) ? Buffer.from(v, 'latin1').toString('utf8') : v;
}

const NON_ASCII = /[^\x00-\x7f]/;

/** True for a Content-Encoding that leaves the body as it is: empty, or only "identity" (any case, RFC 9110 §8.4.1). */
function isIdentityCoding(v: string): boolean {
  return v.split(',').every((c) => {
    const t = c.trim().toLowerCase();
    return t === '' || t === 'identity';
  });
}

/**
 * A last say on whether a request's body is wanted, once its head passed the checks: `admit` returns to go on or
 * throws an ApiError to refuse (the per-account send rate, api/account-rate-limit.ts), before `100 Continue` and
 * before any byte of the body is read.
 */
export interface BodyGate {
  admit(): void;
}

/**
 * Read a multipart/mixed request body with every limit enforced while it streams. Refuses a wrong Content-Type, a
 * missing boundary, and an announced Content-Length over the limit before reading any of the body; then `gate`, if
 * any, decides; `sendContinue` (an `Expect: 100-continue` request) is called once all that passed, just before the
 * body is wanted.
 */
export async function readMultipartRequest(
  req: { headers: IncomingHttpHeaders; body: unknown; sendContinue?: () => void },
  api: ApiLimits,
  gate?: BodyGate,
): Promise<ParsedPart[]> {
  const ctHeader = headerAsUtf8(req.headers['content-type']);
  const ct = parseContentType(ctHeader);
  if (ct.type !== 'multipart/mixed') {
    // multipart/related and form-data are near misses that clients produce by accident: same answer, clear message.
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', { contentType: ctHeader || '(none)' });
  }
  const boundary = boundaryOf(ct); // the parse above, not a second one: this is the accept hot path
  if (!boundary) throw new ApiError('MISSING_BOUNDARY');
  const coding = req.headers['content-encoding'];
  if (coding !== undefined && !isIdentityCoding(coding)) {
    // A compressed body (RFC 9110 §8.4) read as multipart would be refused as MALFORMED_MULTIPART, blaming the
    // framing; say what is wrong instead, before reading it (§15.5.16: 415 for an unsupported content coding).
    throw new ApiError('UNSUPPORTED_CONTENT_ENCODING', { encoding: headerAsUtf8(coding) });
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > api.maxBodyBytes) {
    // Refuse before reading: the client learns at once, and we close the connection instead of draining it.
    throw new ApiError('BODY_TOO_LARGE', { limit: api.maxBodyBytes });
  }
  if (gate !== undefined) gate.admit();
  if (req.sendContinue !== undefined) req.sendContinue();
  return readAllPartsFromStream(req.body as NodeJS.ReadableStream, {
    boundary,
    lenient: api.lenientMultipart,
    limits: {
      maxBodyBytes: api.maxBodyBytes,
      maxParts: api.maxParts,
      maxPartBytes: api.maxPartBytes,
      maxHeaderBytes: api.maxHeaderBytes,
    },
  });
}

/**
 * The JSON control part (OpenMarket HTTP MMS v2): the one with Content-Id "main", whatever its type; else the first
 * part, when its type can hold the JSON: application/json or any +json type, or text/plain, which also covers a part
 * without Content-Type (the RFC 2045 §5.2 default; clients that write the JSON as a bare first part send it so). A
 * first part of another type (an image, ...) is content, and the request has no control part.
 */
export function pickControlPart(parts: ParsedPart[]): ParsedPart {
  const main = parts.find((p) => p.contentId.toLowerCase() === 'main');
  if (main) return main;
  const first = parts[0];
  if (!first) throw new ApiError('MISSING_CONTROL_PART');
  const type = mediaTypeOf(first.contentType); // the reader reports an absent Content-Type as text/plain
  if (type !== 'application/json' && !type.endsWith('+json') && type !== 'text/plain') throw new ApiError('MISSING_CONTROL_PART');
  return first;
}

