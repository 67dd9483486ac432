/**
 * Content-Transfer-Encoding decoding (RFC 2045 §6) for MIME part bodies, and the base64 line encoder the writer uses.
 *
 * Supported: 7bit, 8bit, binary (identity, §6.2), base64 (§6.8) and quoted-printable (§6.7). Anything else is refused
 * with UNSUPPORTED_TRANSFER_ENCODING: guessing would hand the customer or the operator corrupted content.
 */
import { ApiError } from '../core/errors.ts';
import { base64Body } from '../shared/multipart-writer.ts';

/** Transfer encodings this gateway decodes, lower-cased. */
export const SUPPORTED_TRANSFER_ENCODINGS: readonly string[] = Object.freeze([
  'binary',
  '8bit',
  '7bit',
  'base64',
  'quoted-printable',
]);

/** Lower-cased, trimmed encoding name; an empty or absent value means "binary" for our purposes (RFC 2045 §6.1 says 7bit, which is an identity too). */
export function normaliseTransferEncoding(encoding: string | undefined): string {
  const e = (encoding ?? '').trim().toLowerCase();
  return e === '' ? 'binary' : e;
}

/** True when decodeTransferEncoding accepts the encoding (any case, surrounding whitespace ignored). */
export function isSupportedTransferEncoding(encoding: string): boolean {
  switch (normaliseTransferEncoding(encoding)) {
    case 'binary':
    case '8bit':
    case '7bit':
    case 'base64':
    case 'quoted-printable':
      return true;
    default:
      return false;
  }
}

/**
 * Decodes a part body according to its Content-Transfer-Encoding (name matched case-insensitively, RFC 2045 §6.1).
 * Identity encodings return the same Buffer. Throws ApiError UNSUPPORTED_TRANSFER_ENCODING for unknown encodings and
 * ApiError MALFORMED_MULTIPART when a base64 body holds characters outside the base64 alphabet.
 */
export function decodeTransferEncoding(body: Buffer, encoding: string): Buffer {
  switch (normaliseTransferEncoding(encoding)) {
    case 'binary':
    case '8bit':
    case '7bit':
      return body;
    case 'base64':
      return decodeBase64(body);
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    default:
      throw new ApiError('UNSUPPORTED_TRANSFER_ENCODING', { encoding: encoding.trim() });
  }
}

/** base64 with CRLF line breaks every 76 characters (RFC 2045 §6.8), no trailing line break. */
export function encodeBase64Lines(buf: Buffer | Uint8Array): string {
  return base64Body(buf);
}

const BASE64_WS = /[ \t\r\n\f\v]+/g;
const BASE64_STRICT = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * RFC 2045 §6.8: line breaks and other white space are ignored; any other character outside the alphabet is refused
 * (Node's decoder would silently skip it and hand back corrupted bytes). Missing "=" padding is tolerated, since some
 * encoders omit it, but a length that cannot be base64 is not.
 */
function decodeBase64(body: Buffer): Buffer {
  let s = body.toString('latin1');
  BASE64_WS.lastIndex = 0;
  if (BASE64_WS.test(s)) s = s.replace(BASE64_WS, '');
  const rem = s.length % 4;
  if (!BASE64_STRICT.test(s) || rem === 1 || (rem !== 0 && s.endsWith('='))) {
    throw new ApiError('MALFORMED_MULTIPART', { reason: 'invalid base64 content' });
  }
  return Buffer.from(s, 'base64');
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const EQ = 0x3d;

/**
 * Quoted-printable per RFC 2045 §6.7: "=XX" (either hex case) is one octet, "=" at the end of a line is a soft line
 * break (CRLF or bare LF after it), trailing white space on a line is deleted (rule 3: it was added in transport),
 * hard line breaks are kept exactly as given. A "=" not followed by two hex digits is kept literally, the robust
 * choice the RFC suggests in its note on rule 1. Works on runs found with indexOf, not byte by byte.
 */
function decodeQuotedPrintable(src: Buffer): Buffer {
  const n = src.length;
  const out = Buffer.allocUnsafe(n); // decoded output is never longer than the input
  let o = 0;
  let p = 0;
  let nextEq = -2; // cached position of the next "=" at or after the scan point (-1: none left)
  while (p < n) {
    const nl = src.indexOf(LF, p);
    const eol = nl < 0 ? n : nl > p && src[nl - 1] === CR ? nl - 1 : nl;
    const next = nl < 0 ? n : nl + 1;
    let end = eol;
    while (end > p && (src[end - 1] === SP || src[end - 1] === HT)) end--;
    let soft = false;
    if (end > p && src[end - 1] === EQ) {
      soft = true;
      end--;
    }
    let q = p;
    while (q < end) {
      if (nextEq !== -1 && nextEq < q) nextEq = src.indexOf(EQ, q);
      const stop = nextEq === -1 || nextEq >= end ? end : nextEq;
      if (stop > q) o += src.copy(out, o, q, stop);
      if (stop === end) break;
      const hi = stop + 2 < end ? hexValue(src[stop + 1]) : -1;
      const lo = stop + 2 < end ? hexValue(src[stop + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        out[o++] = hi * 16 + lo;
        q = stop + 3;
      } else {
        out[o++] = EQ;
        q = stop + 1;
      }
    }
    if (!soft && nl >= 0) o += src.copy(out, o, eol, next);
    p = next;
  }
  return out.subarray(0, o);
}

function hexValue(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}
