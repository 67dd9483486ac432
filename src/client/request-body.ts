/**
 * Builds the body of `POST /mms/v2/send` (OpenMarket HTTP MMS v2): multipart/mixed whose first part is the JSON
 * control part (`Content-Type: application/json`, `Content-Id: main`), followed by one part per content item.
 * Pure apart from reading files; the HTTP side is in mms-client.ts.
 */
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { base64Body, buildMultipart } from '../shared/multipart-writer.ts';

/** A text part, sent as UTF-8. */
export interface TextPart {
  text: string;
  contentId?: string;
}
/** A local file; its type comes from the extension unless given. */
export interface FilePart {
  file: string;
  contentType?: string;
  contentId?: string;
}
/** Bytes in memory. */
export interface DataPart {
  data: Buffer;
  contentType: string;
  contentId?: string;
}
/** Remote content the gateway fetches (`application/vnd.openmarket.remoteContent`). */
export interface UrlPart {
  url: string;
  contentId?: string;
}
/** One content item of a message. */
export type SendPart = TextPart | FilePart | DataPart | UrlPart;

/** What to send. */
export interface SendRequest {
  /** Short code, or number in international format without "+". */
  source: string;
  /** Number in international format without "+". */
  destination: string;
  subject?: string;
  /** Name of the account's MT configuration (callback URL etc.). */
  mtConfig?: string;
  /** Operator, when known; otherwise the gateway finds it. */
  mobileOperatorId?: number;
  parts: SendPart[];
  /** Reused across retries and failover so the gateway accepts the message once; random when absent. */
  idempotencyKey?: string;
}

/** Content type of remote content parts. */
export const REMOTE_CONTENT_TYPE = 'application/vnd.openmarket.remoteContent';

const TYPES_BY_EXT: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  mp4: 'video/mp4',
  '3gp': 'video/3gpp',
  amr: 'audio/amr',
  mp3: 'audio/mpeg',
  vcf: 'text/vcard',
  smil: 'application/smil',
  txt: 'text/plain; charset=utf-8',
};

/** Content type for a file name by its extension; `application/octet-stream` when unknown. */
export function contentTypeForFile(name: string): string {
  return TYPES_BY_EXT[extname(name).slice(1).toLowerCase()] ?? 'application/octet-stream';
}

/** OpenMarket's advice for Content-Ids: letters and digits only, shorter than 20 characters. */
const MAX_ID = 19;

/**
 * Allocates Content-Ids following that advice, unique within one message. Ids given by the caller are kept
 * (only checked for header safety) and reserved first, so generated ones never collide with them.
 */
export class ContentIdAllocator {
  private readonly used = new Set<string>();

  /** Reserves an id chosen by the caller. */
  reserve(id: string): string {
    if (!id || id.length > 100 || /[\r\n\0<>]/.test(id)) throw new TypeError(`invalid contentId ${JSON.stringify(id)}`);
    if (this.used.has(id.toLowerCase())) throw new TypeError(`duplicate contentId ${JSON.stringify(id)}`);
    this.used.add(id.toLowerCase());
    return id;
  }

  /** Makes an id from a file name ("My photo (1).JPG" -> "Myphoto1JPG"), or from `fallback` when nothing is left. */
  fromName(name: string, fallback: string): string {
    const ext = extname(name).replace(/[^A-Za-z0-9]/g, '').slice(0, 4);
    let stem = basename(name, extname(name)).replace(/[^A-Za-z0-9]/g, '');
    if (!stem) stem = fallback;
    stem = stem.slice(0, MAX_ID - ext.length);
    let id = stem + ext;
    for (let n = 2; this.used.has(id.toLowerCase()); n++) {
      const suffix = String(n);
      id = stem.slice(0, MAX_ID - ext.length - suffix.length) + suffix + ext;
    }
    this.used.add(id.toLowerCase());
    return id;
  }
}

function urlName(url: string): string {
  try {
    const u = new URL(url);
    return decodeURIComponent(u.pathname.split('/').pop() ?? '');
  } catch {
    return '';
  }
}

/** RFC 5322 §2.1.1: 8bit lines must stay within 998 octets; NUL and bare CR are not allowed either. */
function fitsEightBit(buf: Buffer): boolean {
  let lineLen = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === 0) return false;
    if (c === 0x0d && buf[i + 1] !== 0x0a) return false;
    if (c === 0x0a) lineLen = 0;
    else if (++lineLen > 998) return false;
  }
  return true;
}

/** A serialised send request. */
export interface BuiltSend {
  contentType: string;
  body: Buffer;
  /** Content-Ids of the content parts, in order. */
  contentIds: string[];
}

/** Builds the multipart body of a send. Reads files; throws TypeError on an invalid request. */
export async function buildSendBody(req: SendRequest): Promise<BuiltSend> {
  if (!req.source || !req.destination) throw new TypeError('source and destination are required');
  if (!Array.isArray(req.parts) || req.parts.length === 0) throw new TypeError('at least one part is required');
  const control: Record<string, unknown> = { type: 'MT', source: req.source, destination: req.destination };
  if (req.mtConfig !== undefined) control.mtConfig = req.mtConfig;
  if (req.subject !== undefined) control.subject = req.subject;
  if (req.mobileOperatorId !== undefined) {
    if (!Number.isSafeInteger(req.mobileOperatorId)) throw new TypeError('mobileOperatorId must be an integer');
    control.mobileOperatorId = req.mobileOperatorId;
  }

  const ids = new ContentIdAllocator();
  ids.reserve('main');
  for (const p of req.parts) if (p.contentId !== undefined) ids.reserve(p.contentId);

  const parts: { headers: Record<string, string>; body: Buffer | string }[] = [
    { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: JSON.stringify(control) },
  ];
  const contentIds: string[] = [];
  let n = 0;
  for (const p of req.parts) {
    n++;
    let type: string;
    let body: Buffer | string;
    let encoding: string;
    let id: string;
    if ('text' in p) {
      const bytes = Buffer.from(p.text, 'utf8');
      type = 'text/plain; charset=utf-8';
      [body, encoding] = fitsEightBit(bytes) ? [bytes, '8bit'] : [base64Body(bytes), 'base64'];
      id = p.contentId ?? ids.fromName('text', 'text');
    } else if ('url' in p) {
      const u = new URL(p.url); // throws on a relative or garbled URL
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`remote content must be http(s): ${p.url}`);
      type = REMOTE_CONTENT_TYPE;
      body = u.href;
      encoding = '7bit';
      id = p.contentId ?? ids.fromName(urlName(p.url), `remote${n}`);
    } else if ('file' in p) {
      const bytes = await readFile(p.file);
      type = p.contentType ?? contentTypeForFile(p.file);
      body = base64Body(bytes);
      encoding = 'base64';
      id = p.contentId ?? ids.fromName(basename(p.file), `part${n}`);
    } else {
      if (!Buffer.isBuffer(p.data) || !p.contentType) throw new TypeError('a data part needs data (Buffer) and contentType');
      type = p.contentType;
      body = base64Body(p.data);
      encoding = 'base64';
      id = p.contentId ?? ids.fromName('', `part${n}`);
    }
    contentIds.push(id);
    parts.push({ headers: { 'Content-Type': type, 'Content-Id': id, 'Content-Transfer-Encoding': encoding }, body });
  }
  const built = buildMultipart(parts);
  return { contentType: built.contentType, body: built.body, contentIds };
}
