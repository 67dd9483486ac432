/**
 * Multipart body writer (RFC 2046 §5.1), shared by the gateway (MO and delivery-report posts, MM7 SOAP with
 * attachments) and the customer client. It imports nothing outside src/shared and Node built-ins so the client can be
 * shipped on its own.
 */
import { randomBytes } from 'node:crypto';

/** One part to write: its header fields (written in the given order) and its body, a string being sent as UTF-8. */
export interface MultipartPartInput {
  headers: Record<string, string>;
  body: Buffer | string;
}

/** Options of buildMultipart. */
export interface BuildMultipartOptions {
  /** Multipart subtype, default "mixed" (e.g. "related" for MM7 SOAP with attachments). */
  subtype?: string;
  /** Boundary to use instead of a random one; must be valid per RFC 2046 §5.1.1 and absent from every part. */
  boundary?: string;
  /**
   * Start of the random boundary (default "=_mmsgate_"). A prefix of RFC 2045 token characters gives a boundary that
   * the Content-Type carries bare, without quotes, as in OpenMarket's examples (`boundary=mimeboundary`).
   */
  boundaryPrefix?: string;
  /** Extra Content-Type parameters, e.g. `{ type: 'text/xml', start: '<soap>' }`; quoted when they need it. */
  params?: Record<string, string>;
}

/** A serialised multipart body. */
export interface BuiltMultipart {
  /** Full Content-Type header value, boundary and extra parameters included. */
  contentType: string;
  body: Buffer;
  boundary: string;
}

const CRLF = '\r\n';
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 2046 §5.1.1 bchars: 1 to 70 characters, space allowed but not last.
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/**
 * Serialises parts as a multipart body with CRLF line endings, a delimiter before each part and the close delimiter
 * (`--boundary--`) after the last, per RFC 2046 §5.1.1. Without opts.boundary a random boundary is chosen that occurs
 * in no body and no header; by default it starts with "=_", a sequence that base64 and quoted-printable output can
 * never contain (RFC 2045 §6.7), so it is hardly ever drawn twice (the check against every part is what guarantees a
 * free boundary, whatever the prefix). Throws a RangeError for an empty part list, an invalid or colliding boundary, or a header
 * name or value that would break the framing (CR, LF, non-token name).
 */
export function buildMultipart(parts: readonly MultipartPartInput[], opts: BuildMultipartOptions = {}): BuiltMultipart {
  if (parts.length === 0) throw new RangeError('a multipart body needs at least one part (RFC 2046 §5.1.1)');
  const subtype = (opts.subtype ?? 'mixed').toLowerCase();
  if (!TOKEN.test(subtype)) throw new RangeError(`invalid multipart subtype: ${subtype}`);

  const heads: Buffer[] = [];
  const bodies: Buffer[] = [];
  for (const part of parts) {
    let head = '';
    for (const [name, value] of Object.entries(part.headers)) {
      if (!TOKEN.test(name)) throw new RangeError(`invalid header name: ${JSON.stringify(name)}`);
      if (/[\r\n\0]/.test(value)) throw new RangeError(`header ${name} contains a line break or NUL`);
      head += `${name}: ${value}${CRLF}`;
    }
    heads.push(Buffer.from(head + CRLF, 'utf8'));
    bodies.push(typeof part.body === 'string' ? Buffer.from(part.body, 'utf8') : part.body);
  }

  const clashes = (b: string): boolean => heads.some((h) => h.includes(b)) || bodies.some((x) => x.includes(b));
  let boundary: string;
  if (opts.boundary !== undefined) {
    boundary = opts.boundary;
    if (!BOUNDARY.test(boundary)) throw new RangeError(`invalid multipart boundary: ${JSON.stringify(boundary)}`);
    if (clashes(boundary)) throw new RangeError('the boundary occurs inside a part');
  } else {
    const prefix = opts.boundaryPrefix ?? '=_mmsgate_';
    // 30 random characters: the prefix may take up to 40 of the 70 a boundary may have.
    if (!BOUNDARY.test(`${prefix}x`) || prefix.length > 40) throw new RangeError(`invalid multipart boundary prefix: ${JSON.stringify(prefix)}`);
    do boundary = `${prefix}${randomBytes(15).toString('hex')}`;
    while (clashes(boundary));
  }

  const chunks: Buffer[] = [];
  for (let i = 0; i < parts.length; i++) {
    // The CRLF before each delimiter belongs to the delimiter (RFC 2046 §5.1.1), not to the preceding body.
    chunks.push(Buffer.from(`${i === 0 ? '' : CRLF}--${boundary}${CRLF}`, 'latin1'), heads[i]!, bodies[i]!);
  }
  chunks.push(Buffer.from(`${CRLF}--${boundary}--${CRLF}`, 'latin1'));

  let contentType = `multipart/${subtype}; boundary=${formatParameterValue(boundary)}`;
  for (const [name, value] of Object.entries(opts.params ?? {})) {
    const key = name.toLowerCase();
    if (!TOKEN.test(key) || key === 'boundary') throw new RangeError(`invalid Content-Type parameter: ${name}`);
    contentType += `; ${key}=${formatParameterValue(value)}`;
  }
  return { contentType, body: Buffer.concat(chunks), boundary };
}

/**
 * A parameter value as a bare token when it is one, otherwise as a quoted-string with `"` and `\` escaped
 * (RFC 2045 §5.1: tspecials such as "/", "<", "=" force quoting). Throws a RangeError on CR, LF or NUL.
 */
export function formatParameterValue(value: string): string {
  if (/[\r\n\0]/.test(value)) throw new RangeError('a parameter value cannot contain a line break or NUL');
  if (TOKEN.test(value)) return value;
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * base64 text in lines of 76 characters separated by CRLF (RFC 2045 §6.8), without a trailing line break, for a
 * part sent with `Content-Transfer-Encoding: base64`.
 */
export function base64Body(buf: Buffer | Uint8Array): string {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const s = b.toString('base64');
  if (s.length <= 76) return s;
  const lines: string[] = [];
  for (let i = 0; i < s.length; i += 76) lines.push(s.slice(i, i + 76));
  return lines.join(CRLF);
}
