/**
 * The multipart push parser (RFC 2046 §5.1) behind every multipart body the gateway reads: customer sends, sandbox MOs,
 * MM7 requests and responses. Synchronous and bounded: feed it chunks as they arrive, it returns the parts completed so
 * far and throws an ApiError as soon as a limit is crossed or the framing is wrong. The drivers that pull chunks from
 * a stream or a buffer are in multipart-reader.ts.
 *
 * Framing (RFC 2046 §5.1.1): `delimiter := CRLF "--" boundary`; the line break before a delimiter belongs to the
 * delimiter, never to the body, so bodies come out byte-exact. Bare LF line endings are accepted everywhere (many real
 * clients send them), as are a preamble, an epilogue, transport padding after a delimiter, folded header lines
 * (RFC 5322 §2.2.3) and parts without headers (text/plain, RFC 2045 §5.2).
 *
 * Lenient mode additionally accepts the OpenMarket documentation's examples as printed: no blank line between headers
 * and body, a header on the delimiter line itself, and a final plain delimiter (`--b`, no trailing `--`) followed by
 * end of input. A part cut off by end of input is refused in both modes: a truncated upload is never accepted.
 */
import { ApiError } from '../core/errors.ts';
import { decodeEncodedWords } from './encoded-words.ts';
import { decodeTransferEncoding, isSupportedTransferEncoding, normaliseTransferEncoding } from './transfer-encoding.ts';
import type { MultipartOptions, ParsedPart } from './types.ts';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const DASH = 0x2d;
const COLON = 0x3a;
const SLASH = 0x2f;
const EMPTY = Buffer.alloc(0);

const PREAMBLE = 0;
const AFTER_DELIMITER = 1;
const HEADERS = 2;
const BODY = 3;
const EPILOGUE = 4;

/** RFC 7230 tchar: the characters of a header field name (RFC 5322 ftext is wider, but no real header uses more). */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

/** RFC 2046 §5.1.1: a boundary is 1 to 70 characters. */
const MAX_BOUNDARY_LENGTH = 70;

let cachedBoundary = '';
let cachedNeedle = EMPTY;

/** The error for a body whose framing is wrong (also used by the readers for a body cut off by its connection). */
export function malformed(reason: string): ApiError {
  return new ApiError('MALFORMED_MULTIPART', { reason });
}

/**
 * Synchronous push parser for one multipart body. `push` each chunk, then call `end` once at end of input; both
 * return the parts completed by that call. Any ApiError thrown leaves the parser unusable.
 */
export class MultipartParser {
  private readonly opts: MultipartOptions;
  /** "--" boundary: a delimiter at the start of the body or of a line already consumed. */
  private readonly dash: Buffer;
  /** LF "--" boundary: a delimiter inside the data (a CR before it is trimmed off the body separately). */
  private readonly needle: Buffer;
  private buf: Buffer = EMPTY;
  private pos = 0;
  private state = PREAMBLE;
  private total = 0;
  private partCount = 0;
  /** Preamble: the input may open with the delimiter, without a line break before it. */
  private atStart = true;
  /** Body: the body starts at a line start, so a bare "--boundary" there is the delimiter of an empty body. */
  private bodyAtLineStart = false;
  private headerBytes = 0;
  private headerNames: string[] = [];
  private headerValues: string[] = [];
  private headers: Record<string, string> = {};
  private transferEncoding = 'binary';
  /** Why the current part's body cannot be decoded (keepUndecodable only); undefined when it can. */
  private undecodable: string | undefined;
  private bodyChunks: Buffer[] = [];
  private bodySize = 0;

  constructor(opts: MultipartOptions) {
    const b = opts.boundary;
    if (b === '') throw new ApiError('MISSING_BOUNDARY');
    if (b.length > MAX_BOUNDARY_LENGTH) throw malformed('boundary longer than 70 characters');
    this.opts = opts;
    if (cachedBoundary !== b) {
      // Most traffic reuses one boundary per client library; skip re-encoding it for every request.
      cachedNeedle = Buffer.from(`\n--${b}`, 'utf8');
      cachedBoundary = b;
    }
    this.needle = cachedNeedle;
    this.dash = cachedNeedle.subarray(1);
  }

  /** Feeds one chunk; returns the parts it completed. Throws BODY_TOO_LARGE before keeping a byte over the limit. */
  push(chunk: Buffer): ParsedPart[] {
    this.total += chunk.length;
    if (this.total > this.opts.limits.maxBodyBytes) {
      throw new ApiError('BODY_TOO_LARGE', { limit: this.opts.limits.maxBodyBytes });
    }
    if (this.state === EPILOGUE || chunk.length === 0) return [];
    if (this.pos >= this.buf.length) this.buf = chunk;
    else this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
    this.pos = 0;
    const out: ParsedPart[] = [];
    this.run(false, out);
    return out;
  }

  /** Signals end of input; returns the parts that completes, or throws MALFORMED_MULTIPART if the body is cut short. */
  end(): ParsedPart[] {
    const out: ParsedPart[] = [];
    this.run(true, out);
    if (this.state !== EPILOGUE) throw malformed('truncated');
    return out;
  }

  private run(eof: boolean, out: ParsedPart[]): void {
    for (;;) {
      let progressed: boolean;
      switch (this.state) {
        case PREAMBLE:
          progressed = this.preamble(eof);
          break;
        case AFTER_DELIMITER:
          progressed = this.afterDelimiter(eof);
          break;
        case HEADERS:
          progressed = this.headerLines(eof, out);
          break;
        case BODY:
          progressed = this.body(eof, out);
          break;
        default:
          this.pos = this.buf.length; // epilogue: ignored (RFC 2046 §5.1.1)
          return;
      }
      if (!progressed) return;
    }
  }

  /** True when the bytes at `p` are "--boundary" (1), a proper prefix of it cut by the end of the buffer (0), or not (-1). */
  private dashAt(p: number): 1 | 0 | -1 {
    const n = Math.min(this.buf.length - p, this.dash.length);
    if (n > 0 && this.buf[p] !== DASH) return -1; // fast path: most lines do not start with "-"
    if (this.buf.compare(this.dash, 0, n, p, p + n) !== 0) return -1;
    return n === this.dash.length ? 1 : 0;
  }

  private preamble(eof: boolean): boolean {
    if (this.atStart) {
      const m = this.dashAt(this.pos);
      if (m === 1) {
        this.pos += this.dash.length;
        this.state = AFTER_DELIMITER;
        return true;
      }
      if (m === 0 && !eof) return false;
      this.atStart = false;
    }
    const i = this.buf.indexOf(this.needle, this.pos);
    if (i >= 0) {
      this.pos = i + this.needle.length;
      this.state = AFTER_DELIMITER;
      return true;
    }
    if (eof) throw malformed('no boundary delimiter found');
    // Discard the preamble but keep a tail that may be the start of a delimiter split across chunks.
    this.pos = Math.max(this.pos, this.buf.length - (this.needle.length - 1));
    return false;
  }

  /** Just after "--boundary": close marker, transport padding, line break, or (lenient) a header on the same line. */
  private afterDelimiter(eof: boolean): boolean {
    const b = this.buf;
    const p = this.pos;
    const avail = b.length - p;
    if (avail < 2 && !eof && (avail === 0 || b[p] === DASH)) return false;
    if (avail >= 2 && b[p] === DASH && b[p + 1] === DASH) return this.close();
    if (avail === 1 && b[p] === DASH) throw malformed('truncated'); // eof inside the close marker
    const limit = this.opts.limits.maxHeaderBytes;
    if (this.opts.lenient) {
      // OpenMarket's MT example ends with a plain "--boundary" and end of input: only white space may follow.
      let q = p;
      while (q < b.length && (b[q] === SP || b[q] === HT || b[q] === CR || b[q] === LF)) q++;
      if (q === b.length) {
        if (eof) return this.close();
        if (q - p > limit) throw new ApiError('HEADER_TOO_LARGE', { limit });
        return false;
      }
    }
    let q = p;
    while (q < b.length && (b[q] === SP || b[q] === HT)) q++; // transport padding
    if (q === b.length || (b[q] === CR && q + 1 === b.length)) {
      if (eof) throw malformed('truncated');
      if (q - p > limit) throw new ApiError('HEADER_TOO_LARGE', { limit });
      return false;
    }
    if (b[q] === LF || (b[q] === CR && b[q + 1] === LF)) {
      this.startPart(b[q] === LF ? q + 1 : q + 2);
      return true;
    }
    if (!this.opts.lenient) throw malformed('unexpected text after a boundary delimiter');
    // OpenMarket's MO example: "--mimeboundaryContent-Type: application/json" - the header starts on the delimiter line.
    this.startPart(q);
    return true;
  }

  private close(): boolean {
    if (this.partCount === 0) throw malformed('no body parts');
    this.state = EPILOGUE;
    this.pos = this.buf.length;
    return false;
  }

  private startPart(at: number): void {
    this.partCount++;
    if (this.partCount > this.opts.limits.maxParts) {
      throw new ApiError('TOO_MANY_PARTS', { limit: this.opts.limits.maxParts });
    }
    this.pos = at;
    this.state = HEADERS;
    this.headerBytes = 0;
    this.headerNames = [];
    this.headerValues = [];
  }

  private headerLines(eof: boolean, out: ParsedPart[]): boolean {
    const limit = this.opts.limits.maxHeaderBytes;
    const lenient = this.opts.lenient;
    for (;;) {
      const b = this.buf;
      const p = this.pos;
      const m = this.dashAt(p);
      if (m === 1) {
        // Delimiter right after the header lines: a part without body (RFC 2046: body-part := headers [CRLF *OCTET]).
        this.endHeaders();
        this.emit(out, p, p);
        this.pos = p + this.dash.length;
        this.state = AFTER_DELIMITER;
        return true;
      }
      if (m === 0 && !eof) return false;
      const nl = b.indexOf(LF, p);
      if (nl < 0) {
        if (eof) throw malformed('truncated');
        if (lenient && this.partialLineIsBody(p)) return this.startBody(p, false);
        if (this.headerBytes + (b.length - p) > limit) throw new ApiError('HEADER_TOO_LARGE', { limit });
        return false;
      }
      const lineBytes = nl + 1 - p;
      const end = nl > p && b[nl - 1] === CR ? nl - 1 : nl;
      if (end === p) {
        this.addHeaderBytes(lineBytes);
        return this.startBody(nl + 1, true);
      }
      const first = b[p]!;
      const hasCurrent = this.headerNames.length > 0;
      if ((first === SP || first === HT) && hasCurrent) {
        // RFC 5322 §2.2.3 unfolding: drop the line break, keep the continuation line's white space.
        this.addHeaderBytes(lineBytes);
        const last = this.headerValues.length - 1;
        this.headerValues[last] += b.toString('utf8', p, end);
        this.pos = nl + 1;
        continue;
      }
      const colon = first === SP || first === HT ? -1 : this.headerNameEnd(p, end);
      if (colon < 0) {
        if (!lenient) throw malformed('invalid header line');
        // OpenMarket's examples put the body right after the headers: the first non-header line starts the body.
        return this.startBody(p, false);
      }
      this.addHeaderBytes(lineBytes);
      this.headerNames.push(b.toString('latin1', p, colon).toLowerCase());
      this.headerValues.push(b.toString('utf8', colon + 1, end));
      this.pos = nl + 1;
    }
  }

  private addHeaderBytes(n: number): void {
    this.headerBytes += n;
    const limit = this.opts.limits.maxHeaderBytes;
    if (this.headerBytes > limit) throw new ApiError('HEADER_TOO_LARGE', { limit });
  }

  /**
   * Index of the ":" ending a header field name that starts at p, or -1 when the line is not a header line.
   * In lenient mode a line like "https://host/x" is body text (a URL), not a header named "https".
   */
  private headerNameEnd(p: number, end: number): number {
    const b = this.buf;
    let q = p;
    while (q < end && TCHAR[b[q]!] === 1) q++;
    if (q === p || q >= end || b[q] !== COLON) return -1;
    if (this.opts.lenient && b[q + 1] === SLASH && b[q + 2] === SLASH) return -1;
    return q;
  }

  /** Lenient mode, no line break yet: true when the bytes so far already rule out a header line. */
  private partialLineIsBody(p: number): boolean {
    const b = this.buf;
    const first = b[p]!;
    if (first === SP || first === HT) return this.headerNames.length === 0;
    if (first === CR) return p + 1 < b.length; // a CR alone may be the start of the blank line's CRLF
    let q = p;
    while (q < b.length && TCHAR[b[q]!] === 1) q++;
    if (q === b.length) return false; // could still become "Name:"
    if (q === p || b[q] !== COLON) return true;
    if (q + 2 < b.length && b[q + 1] === SLASH && b[q + 2] === SLASH) return true;
    return false;
  }

  private endHeaders(): void {
    const names = this.headerNames;
    const values = this.headerValues;
    const h: Record<string, string> = {};
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      // trim() also removes the no-break spaces trailing some values in OpenMarket's printed examples.
      const v = values[i]!.trim();
      if (Object.hasOwn(h, name)) h[name] = `${h[name]}, ${v}`;
      // defineProperty: a header named "__proto__" must stay an ordinary key, not replace the prototype.
      else if (name === '__proto__') Object.defineProperty(h, name, { value: v, enumerable: true, writable: true, configurable: true });
      else h[name] = v;
    }
    this.headers = h;
    const enc = normaliseTransferEncoding(h['content-transfer-encoding']);
    this.undecodable = undefined;
    if (!isSupportedTransferEncoding(enc)) {
      // Refuse before reading the body: there is no point buffering content we cannot decode, unless it is to be kept.
      if (!this.opts.keepUndecodable) throw new ApiError('UNSUPPORTED_TRANSFER_ENCODING', { encoding: enc });
      this.undecodable = `unsupported Content-Transfer-Encoding ${enc}`;
    }
    this.transferEncoding = enc;
  }

  private startBody(at: number, atLineStart: boolean): boolean {
    this.endHeaders();
    this.pos = at;
    this.state = BODY;
    this.bodyAtLineStart = atLineStart;
    this.bodyChunks = [];
    this.bodySize = 0;
    return true;
  }

  private body(eof: boolean, out: ParsedPart[]): boolean {
    const b = this.buf;
    const p = this.pos;
    if (this.bodyAtLineStart) {
      const m = this.dashAt(p);
      if (m === 1) {
        this.emit(out, p, p);
        this.pos = p + this.dash.length;
        this.state = AFTER_DELIMITER;
        return true;
      }
      if (m === 0 && !eof) return false;
      this.bodyAtLineStart = false;
    }
    const i = b.indexOf(this.needle, p);
    if (i >= 0) {
      // The CR of a CRLF before the delimiter belongs to the delimiter. The kept tail (below) guarantees i > p
      // after a flush, so that CR is still in this buffer.
      const end = i > p && b[i - 1] === CR ? i - 1 : i;
      this.emit(out, p, end);
      this.pos = i + this.needle.length;
      this.state = AFTER_DELIMITER;
      return true;
    }
    if (eof) throw malformed('truncated');
    // Move all but a delimiter-length tail (which may hold a CR and a split delimiter) into the body.
    const flushTo = b.length - this.needle.length;
    if (flushTo > p) {
      this.checkPartSize(flushTo - p);
      this.bodyChunks.push(b.subarray(p, flushTo));
      this.bodySize += flushTo - p;
      this.pos = flushTo;
    }
    return false;
  }

  private checkPartSize(more: number): void {
    const limit = this.opts.limits.maxPartBytes;
    if (this.bodySize + more > limit) throw new ApiError('PART_TOO_LARGE', { limit });
  }

  private emit(out: ParsedPart[], from: number, to: number): void {
    if (to > from) {
      this.checkPartSize(to - from);
      this.bodyChunks.push(this.buf.subarray(from, to));
      this.bodySize += to - from;
    }
    const chunks = this.bodyChunks;
    const raw = chunks.length === 0 ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.bodySize);
    const h = this.headers;
    const ct = h['content-type'];
    let undecodable = this.undecodable;
    let body = raw;
    if (undecodable === undefined) {
      try {
        body = decodeTransferEncoding(raw, this.transferEncoding);
      } catch (err) {
        if (!this.opts.keepUndecodable || !(err instanceof ApiError)) throw err;
        undecodable = `invalid ${this.transferEncoding} content`;
      }
    }
    const part: ParsedPart = {
      headers: h,
      contentType: ct === undefined || ct === '' ? 'text/plain' : ct,
      contentId: normaliseContentId(h['content-id']),
      transferEncoding: this.transferEncoding,
      body,
      encodedSize: raw.length,
    };
    if (undecodable !== undefined) part.undecodable = undecodable;
    out.push(part);
    this.bodyChunks = [];
    this.bodySize = 0;
  }
}

/**
 * Content-Id without the angle brackets of RFC 2045 §7 msg-id syntax, so "<a@b>" and "a@b" compare equal; RFC 2047
 * encoded-words decoded first, as Python's email package writes a non-ASCII or long Content-Id (encoded-words.ts).
 */
function normaliseContentId(value: string | undefined): string {
  if (value === undefined) return '';
  let v = decodeEncodedWords(value).trim();
  if (v.startsWith('<')) v = v.slice(1);
  if (v.endsWith('>')) v = v.slice(0, -1);
  return v.trim();
}
