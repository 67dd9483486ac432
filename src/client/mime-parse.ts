/**
 * A compact, non-streaming multipart/mixed parser for the customer side (MO webhooks). The gateway's streaming
 * reader lives in server code, which the client must not import; this one works on a body already held in memory
 * (the webhook handler bounds its size first) and is lenient the way the OpenMarket examples need: CRLF or bare LF
 * line ends, a header starting on the delimiter line, no closing delimiter.
 */
import { isUtf8 } from 'node:buffer';

/** One part of a multipart body after transfer decoding. */
export interface MimePart {
  /** Header names lower-cased, values trimmed (folded lines unfolded, RFC 5322 §2.2.3). */
  headers: Record<string, string>;
  /** Content-Type as given, default `text/plain` (RFC 2045 §5.2). */
  contentType: string;
  /** Content-Id without angle brackets; "" when absent. */
  contentId: string;
  /** Decoded bytes. */
  bytes: Buffer;
}

/** Bounds on what {@link parseMultipart} accepts. */
export interface MimeLimits {
  /** Most parts accepted (default 100). */
  maxParts: number;
  /** Most bytes in one part's header block (default 16 KiB). */
  maxHeaderBytes: number;
}

/** Raised on a body that is not a usable multipart. */
export class MimeParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MimeParseError';
  }
}

const DEFAULT_LIMITS: MimeLimits = { maxParts: 100, maxHeaderBytes: 16 * 1024 };

/** Parses `type/subtype; a=b; c="d"` into a lower-cased type and parameters (names lower-cased; RFC 2045 §5.1). */
export function parseContentType(value: string): { type: string; params: Record<string, string> } {
  const semi = value.indexOf(';');
  const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  const params: Record<string, string> = {};
  const re = /;\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g;
  const rest = semi < 0 ? '' : value.slice(semi);
  for (let m = re.exec(rest); m; m = re.exec(rest)) {
    const name = m[1]!.toLowerCase();
    params[name] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
  }
  return { type, params };
}

/** Decodes quoted-printable (RFC 2045 §6.7): `=XX` escapes, soft line breaks, trailing blanks dropped. */
export function decodeQuotedPrintable(input: Buffer): Buffer {
  const lines = input.toString('latin1').split(/\r?\n/);
  const out: number[] = [];
  lines.forEach((raw, i) => {
    // Trailing blanks dropped by hand: /[ \t]+$/ retried from every blank of a line, each time to the line's end, so
    // a 60 KB part of blanks ending in one letter held the receiving process for 4.6 s (whoever may post to an
    // unsigned webhook endpoint chooses this body).
    let end = raw.length;
    while (end > 0 && (raw.charCodeAt(end - 1) === 0x20 || raw.charCodeAt(end - 1) === 0x09)) end--;
    let line = raw.slice(0, end);
    let soft = false;
    if (line.endsWith('=')) {
      soft = true;
      line = line.slice(0, -1);
    }
    for (let j = 0; j < line.length; j++) {
      const c = line.charCodeAt(j);
      if (c === 0x3d && /^[0-9A-Fa-f]{2}$/.test(line.slice(j + 1, j + 3))) {
        out.push(parseInt(line.slice(j + 1, j + 3), 16));
        j += 2;
      } else {
        out.push(c & 0xff);
      }
    }
    if (!soft && i < lines.length - 1) out.push(0x0d, 0x0a);
  });
  return Buffer.from(out);
}

function decodeBody(body: Buffer, encoding: string): Buffer {
  switch (encoding) {
    case 'base64':
      // Node's base64 decoder skips line breaks and other whitespace (RFC 2045 §6.8 asks to ignore them).
      return Buffer.from(body.toString('latin1'), 'base64');
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    case '':
    case '7bit':
    case '8bit':
    case 'binary':
      return body;
    default:
      throw new MimeParseError(`unsupported Content-Transfer-Encoding ${encoding}`);
  }
}

const HEADER_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+[ \t]*:/;

/**
 * A header line as text: UTF-8 when it is valid UTF-8 (the gateway writes a Content-Id or file name it got from a
 * handset as UTF-8, as its own reader takes them; RFC 6532 §3), else byte for byte (latin1).
 */
function headerLine(bytes: Buffer): string {
  return (isUtf8(bytes) ? bytes.toString('utf8') : bytes.toString('latin1')).replace(/\r$/, '');
}

/** Splits a part into headers and body. Headers end at the first blank line or the first line that is no header. */
function splitPart(raw: Buffer, limits: MimeLimits): MimePart {
  const headers: Record<string, string> = {};
  let pos = 0;
  let last = '';
  while (pos < raw.length) {
    const nl = raw.indexOf(0x0a, pos);
    const end = nl < 0 ? raw.length : nl;
    const line = headerLine(raw.subarray(pos, end));
    if (line === '') {
      pos = nl < 0 ? raw.length : nl + 1;
      break;
    }
    if ((line[0] === ' ' || line[0] === '\t') && last) {
      headers[last] += ' ' + line.trim();
    } else if (HEADER_LINE.test(line)) {
      const colon = line.indexOf(':');
      last = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[last] = last in headers ? `${headers[last]}, ${value}` : value;
    } else {
      break; // lenient: body starts without a blank line
    }
    pos = nl < 0 ? raw.length : nl + 1;
    if (pos > limits.maxHeaderBytes) throw new MimeParseError('part header block too large');
  }
  const encoding = (headers['content-transfer-encoding'] ?? '').toLowerCase();
  return {
    headers,
    contentType: headers['content-type'] || 'text/plain',
    contentId: (headers['content-id'] ?? '').replace(/^\s*<|>\s*$/g, '').trim(),
    bytes: decodeBody(raw.subarray(pos), encoding),
  };
}

/**
 * Parses a multipart body (RFC 2046 §5.1.1). The line break before each delimiter belongs to the delimiter, so part
 * bodies come back byte-exact. Preamble and epilogue are ignored.
 */
export function parseMultipart(body: Buffer, boundary: string, limits: Partial<MimeLimits> = {}): MimePart[] {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  if (!boundary || boundary.length > 200) throw new MimeParseError('missing or overlong boundary');
  const delim = Buffer.from(`--${boundary}`, 'latin1');
  // Delimiter positions: "--boundary" at the start of the body or of a line.
  const starts: number[] = [];
  for (let i = body.indexOf(delim); i >= 0; i = body.indexOf(delim, i + 1)) {
    if (i === 0 || body[i - 1] === 0x0a) starts.push(i);
  }
  if (starts.length === 0) throw new MimeParseError('no boundary delimiter found');
  const parts: MimePart[] = [];
  for (let k = 0; k < starts.length; k++) {
    const s = starts[k]!;
    let p = s + delim.length;
    if (body[p] === 0x2d && body[p + 1] === 0x2d) break; // close delimiter
    while (body[p] === 0x20 || body[p] === 0x09) p++; // transport padding
    if (body[p] === 0x0d && body[p + 1] === 0x0a) p += 2;
    else if (body[p] === 0x0a) p += 1;
    let end = k + 1 < starts.length ? starts[k + 1]! : body.length;
    if (k + 1 < starts.length) {
      // Drop the line break that belongs to the next delimiter.
      if (body[end - 1] === 0x0a) end--;
      if (body[end - 1] === 0x0d) end--;
    }
    if (parts.length >= lim.maxParts) throw new MimeParseError(`more than ${lim.maxParts} parts`);
    parts.push(splitPart(body.subarray(p, Math.max(p, end)), lim));
  }
  return parts;
}
