/**
 * Parsing of Content-Type and other structured MIME header values (RFC 2045 §5.1).
 *
 * The grammar is `type "/" subtype *(";" parameter)` with `parameter := attribute "=" value` and
 * `value := token / quoted-string`. Real clients are sloppier than the grammar, so the parser also tolerates spaces
 * around "=" and ";", a trailing ";", empty parameters, and bare values that contain tspecials (a boundary such as
 * `----=_Part_1` sent without quotes).
 */
import type { ParsedContentType } from './types.ts';

/**
 * Parses a Content-Type value. The type/subtype and the parameter names are lower-cased (RFC 2045 §5.1: both are
 * case-insensitive); parameter values keep their case. Quoted-string values are unquoted and their backslash escapes
 * (RFC 5322 §3.2.4 quoted-pair) resolved. When a parameter is repeated, the first occurrence wins.
 */
export function parseContentType(value: string): ParsedContentType {
  const simple = SIMPLE_BOUNDARY.exec(value);
  if (simple !== null) return { type: simple[1]!.toLowerCase(), params: { boundary: simple[2] ?? simple[3]! } };
  return parseContentTypeFully(value);
}

/** parseContentType without its shortcut for the common shape (exported so tests can compare the two). */
export function parseContentTypeFully(value: string): ParsedContentType {
  const s = value;
  const n = s.length;
  const semi = s.indexOf(';');
  const type = (semi < 0 ? s : s.slice(0, semi)).trim().toLowerCase();
  const params = new Map<string, string>();
  let p = semi < 0 ? n : semi + 1;
  while (p < n) {
    while (p < n && isSeparatorSpace(s.charCodeAt(p))) p++;
    if (p >= n) break;
    let q = p;
    while (q < n && s[q] !== '=' && s[q] !== ';') q++;
    const name = s.slice(p, q).trim().toLowerCase();
    if (q >= n || s[q] === ';') {
      // A parameter without "=" carries no value; skip it rather than reject the whole header.
      p = q;
      continue;
    }
    q++; // "="
    while (q < n && (s[q] === ' ' || s[q] === '\t')) q++;
    let val: string;
    if (s[q] === '"') {
      q++;
      let out = '';
      let runStart = q;
      while (q < n && s[q] !== '"') {
        if (s[q] === '\\' && q + 1 < n) {
          out += s.slice(runStart, q) + s[q + 1];
          q += 2;
          runStart = q;
        } else {
          q++;
        }
      }
      val = out + s.slice(runStart, q);
      // Anything between the closing quote and the next ";" is not part of the value.
      while (q < n && s[q] !== ';') q++;
    } else {
      let e = q;
      while (e < n && s[e] !== ';') e++;
      val = s.slice(q, e).trim();
      q = e;
    }
    if (name !== '' && !params.has(name)) params.set(name, val);
    p = q;
  }
  // Object.fromEntries defines own properties, so a parameter named "__proto__" cannot alter the prototype.
  return { type, params: Object.fromEntries(params) };
}

/**
 * The shape of nearly every request's Content-Type, `type/subtype; boundary=...` (the value quoted without escapes, or
 * bare), read by one regular expression: the request header is parsed on every send, and the general loop below took
 * ~2 us of the accept path's event-loop time. Anything else (other parameters, escapes, other white space) takes the
 * general loop; for what this matches, both give the same answer (test/mime/content-type.test.ts checks them). No two
 * runs of white space are adjacent, so a long run of spaces cannot make it backtrack.
 */
const SIMPLE_BOUNDARY = /^[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*;[ \t]*boundary[ \t]*=[ \t]*(?:"([^"\\]*)"|([\x21\x23-\x3a\x3c-\x5b\x5d-\x7e]+))[ \t]*(?:;[ \t]*)?$/i;

/** Media types of part Content-Type values seen recently (a handful of distinct values carry almost all traffic). */
const mediaTypes = new Map<string, string>();
const MEDIA_TYPE_CACHE_SIZE = 256;
const MEDIA_TYPE_CACHE_KEY_LENGTH = 200;

/**
 * The lower-cased `type/subtype` of a Content-Type value, as `parseContentType(value).type`, cached: parts repeat a
 * few values ("text/plain; charset=utf-8", "image/jpeg"), and the full parse was ~3 us per accepted MT. Long values
 * (say, with a unique boundary) are parsed without being cached.
 */
export function mediaTypeOf(value: string): string {
  let type = mediaTypes.get(value);
  if (type !== undefined) return type;
  type = parseContentType(value).type;
  if (value.length <= MEDIA_TYPE_CACHE_KEY_LENGTH) {
    if (mediaTypes.size >= MEDIA_TYPE_CACHE_SIZE) mediaTypes.clear();
    mediaTypes.set(value, type);
  }
  return type;
}

/**
 * The boundary parameter of a multipart Content-Type header, or undefined when the header is absent, is not a
 * `multipart/*` type, or has no (or an empty) boundary. RFC 2046 §5.1.1 requires the parameter for every multipart type.
 */
export function boundaryOf(contentTypeHeader: string | ParsedContentType | undefined): string | undefined {
  if (contentTypeHeader === undefined) return undefined;
  const parsed = typeof contentTypeHeader === 'string' ? parseContentType(contentTypeHeader) : contentTypeHeader;
  if (!parsed.type.startsWith('multipart/')) return undefined;
  const b = parsed.params['boundary'];
  return b === undefined || b === '' ? undefined : b;
}

function isSeparatorSpace(c: number): boolean {
  // ";" plus linear white space; CR/LF can remain when a folded header was not unfolded by the caller.
  return c === 0x3b || c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}
