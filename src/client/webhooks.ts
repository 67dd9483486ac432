/**
 * Customer-side helpers for the two webhooks the gateway POSTs: delivery reports (JSON, `"type": "REPORT"`) and
 * MO messages (multipart/mixed with a JSON control part, then base64 content parts), as in OpenMarket HTTP MMS v2.
 *
 * The core is {@link processWebhook}: headers + raw body in, status + body out, callbacks awaited in between. The
 * node:http handler, the Express-style middleware and the Fastify recipe are thin wrappers around it.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { secretKey, verifyWebhook, WebhookVerificationError } from '../shared/standard-webhooks.ts';
import { MimeParseError, parseContentType, parseMultipart } from './mime-parse.ts';

/** A delivery report, as posted by the gateway. */
export interface DeliveryReport {
  type: 'REPORT';
  /** The mtId returned by send; always a number here (the wire may carry a string, both are accepted). */
  mtId: number;
  /** ISO 8601 date with offset. */
  date: string;
  /** MM7 delivery status: Retrieved, Rejected, Expired, Deferred, Forwarded, Indeterminate, ... */
  status: string;
  outcomeId: number;
  outcomeDescription: string;
  userAgent?: string;
}

/** The control part of an MO message. */
export interface MoInfo {
  type: 'MO';
  destinations: string[];
  ccs: string[];
  bccs: string[];
  source: string;
  subject: string;
  moId: number;
  mobileOperatorId?: number;
  date: string;
  userAgent?: string;
}

/** One decoded MO content part. */
export interface MoPart {
  contentType: string;
  contentId: string;
  bytes: Buffer;
}

/** A parsed MO webhook. */
export interface MoMessage {
  mo: MoInfo;
  parts: MoPart[];
}

/** What the callbacks learn about the request besides the payload. */
export interface WebhookMeta {
  /** `X-Request-Id` (for reports: the same as the send's). */
  requestId: string;
  /** `X-Mmsgate-Delivery-Id`: stable across redeliveries of the same report, use it to drop duplicates. */
  deliveryId: string;
  /** All request headers (names lower-cased). */
  headers: IncomingHttpHeaders;
}

/** Raised for a payload that is not a valid report or MO (answered with 400). */
export class WebhookPayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookPayloadError';
  }
}

/** Options of the webhook handlers. */
export interface WebhookHandlerOptions {
  /** Called for each delivery report; the gateway gets its 200 only once the returned promise resolves. */
  onReport?: (report: DeliveryReport, meta: WebhookMeta) => void | Promise<void>;
  /** Called for each MO message; answered 200 once the returned promise resolves. */
  onMo?: (message: MoMessage, meta: WebhookMeta) => void | Promise<void>;
  /** Standard Webhooks secrets (`whsec_...`); when given, unsigned or badly signed requests get 401. */
  secrets?: string[];
  /** Allowed signature timestamp skew, seconds (default 300). */
  toleranceSec?: number;
  /** Largest body accepted, bytes (default 16 MiB); larger bodies get 413. */
  maxBodyBytes?: number;
}

/** Outcome of {@link processWebhook}: what to answer. */
export interface WebhookResult {
  status: number;
  /** Empty on success; a short JSON error otherwise. */
  body: string;
  /** The error behind a non-200 answer. */
  error?: Error;
}

const DEFAULT_MAX_BODY = 16 * 1024 * 1024;

function asRecord(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new WebhookPayloadError(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** Accepts a positive safe integer given as a number or as a string of digits (the mtId comes in both forms). */
function idNumber(v: unknown, field: string): number {
  const n = typeof v === 'string' && /^\d{1,16}$/.test(v.trim()) ? Number(v.trim()) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new WebhookPayloadError(`${field} must be an integer`);
  return n;
}

function str(v: unknown, field: string, required: boolean): string {
  if (v === undefined || v === null) {
    if (required) throw new WebhookPayloadError(`${field} is required`);
    return '';
  }
  if (typeof v !== 'string') throw new WebhookPayloadError(`${field} must be a string`);
  return v;
}

function strArray(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > 1000 || !v.every((x) => typeof x === 'string')) {
    throw new WebhookPayloadError(`${field} must be an array of strings`);
  }
  return v as string[];
}

function parseJson(body: Buffer | string | object, what: string): Record<string, unknown> {
  if (typeof body === 'object' && !Buffer.isBuffer(body)) return asRecord(body, what);
  try {
    return asRecord(JSON.parse(body.toString()), what);
  } catch (e) {
    if (e instanceof WebhookPayloadError) throw e;
    throw new WebhookPayloadError(`${what} is not valid JSON`);
  }
}

/** Parses and validates a delivery report body (raw bytes, a string, or an already parsed object). */
export function parseReport(body: Buffer | string | object): DeliveryReport {
  const o = parseJson(body, 'report');
  if (o.type !== 'REPORT') throw new WebhookPayloadError('type must be "REPORT"');
  const outcomeId = idNumber(o.outcomeId, 'outcomeId');
  const report: DeliveryReport = {
    type: 'REPORT',
    mtId: idNumber(o.mtId, 'mtId'),
    date: str(o.date, 'date', false),
    status: str(o.status, 'status', true),
    outcomeId,
    outcomeDescription: str(o.outcomeDescription, 'outcomeDescription', false),
  };
  if (o.userAgent !== undefined && o.userAgent !== null) report.userAgent = str(o.userAgent, 'userAgent', false);
  return report;
}

/** Validates the JSON control part of an MO. */
export function parseMoInfo(body: Buffer | string | object): MoInfo {
  const o = parseJson(body, 'MO control part');
  if (o.type !== undefined && o.type !== 'MO') throw new WebhookPayloadError('type must be "MO"');
  const mo: MoInfo = {
    type: 'MO',
    destinations: strArray(o.destinations, 'destinations'),
    ccs: strArray(o.ccs, 'ccs'),
    bccs: strArray(o.bccs, 'bccs'),
    source: str(o.source, 'source', true),
    subject: str(o.subject, 'subject', false),
    moId: idNumber(o.moId, 'moId'),
    date: str(o.date, 'date', false),
  };
  if (o.mobileOperatorId !== undefined && o.mobileOperatorId !== null) {
    mo.mobileOperatorId = idNumber(o.mobileOperatorId, 'mobileOperatorId');
  }
  if (o.userAgent !== undefined && o.userAgent !== null) mo.userAgent = str(o.userAgent, 'userAgent', false);
  return mo;
}

/**
 * Parses an MO webhook body: `contentType` is the request's Content-Type header (multipart/mixed with a
 * boundary). The control part is the one with `Content-Id: main`, else the first application/json part; the other
 * parts are returned decoded, in order.
 */
export function parseMo(contentType: string, body: Buffer): MoMessage {
  const ct = parseContentType(contentType);
  if (!ct.type.startsWith('multipart/')) throw new WebhookPayloadError('an MO must be multipart');
  const boundary = ct.params.boundary;
  if (!boundary) throw new WebhookPayloadError('multipart Content-Type without boundary');
  let parts;
  try {
    parts = parseMultipart(body, boundary);
  } catch (e) {
    if (e instanceof MimeParseError) throw new WebhookPayloadError(`malformed multipart: ${e.message}`);
    throw e;
  }
  let idx = parts.findIndex((p) => p.contentId.toLowerCase() === 'main');
  if (idx < 0) idx = parts.findIndex((p) => parseContentType(p.contentType).type === 'application/json');
  if (idx < 0) throw new WebhookPayloadError('no JSON control part');
  const mo = parseMoInfo(parts[idx]!.bytes);
  return {
    mo,
    parts: parts.filter((_, i) => i !== idx).map((p) => ({ contentType: p.contentType, contentId: p.contentId, bytes: p.bytes })),
  };
}

function firstHeader(headers: IncomingHttpHeaders, name: string): string {
  const v = headers[name];
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

/**
 * Refuse a handler whose secrets cannot verify anything, when it is made rather than on every delivery: a secret read
 * from an unset environment variable would otherwise answer each signed delivery with an empty 500 (retried for a
 * day), and a malformed one with 401 (given up after a few tries), with nothing in the receiver's own log.
 */
function checkSecrets(secrets: readonly unknown[] | undefined): void {
  if (secrets === undefined) return;
  // An empty list (a comma-separated variable that was unset, split and filtered) would otherwise switch verification
  // off without a word, and accept anyone's forged reports and MO.
  if (secrets.length === 0) throw new TypeError('webhook secrets is an empty list: give at least one, or leave secrets out for unsigned webhooks');
  secrets.forEach((s, i) => {
    if (typeof s !== 'string' || s === '') {
      throw new TypeError(`webhook secrets[${i}] is ${s === '' ? 'empty' : String(s)}: set it (e.g. from MMS_WEBHOOK_SECRET) or leave secrets out`);
    }
    try {
      secretKey(s);
    } catch (e) {
      throw new TypeError(`webhook secrets[${i}] is not a whsec_ secret: ${(e as Error).message}`);
    }
  });
}

function fail(status: number, code: string, error: Error): WebhookResult {
  return { status, body: JSON.stringify({ code, description: error.message }), error };
}

/**
 * The framework-free core: verifies the signature (when secrets are set), parses the body by its Content-Type
 * (application/json -> report, multipart -> MO), awaits the matching callback and says what to answer:
 * 200 (empty body) once the callback resolved, 400 for a body that is no valid webhook, 401 for a bad signature,
 * 413 when over `maxBodyBytes`, 500 when the callback threw (the gateway will redeliver).
 */
export async function processWebhook(
  opts: WebhookHandlerOptions,
  headers: IncomingHttpHeaders,
  rawBody: Buffer,
): Promise<WebhookResult> {
  if (rawBody.length > (opts.maxBodyBytes ?? DEFAULT_MAX_BODY)) {
    return fail(413, 'BODY_TOO_LARGE', new WebhookPayloadError('body too large'));
  }
  if (opts.secrets !== undefined) {
    try {
      verifyWebhook(opts.secrets, headers, rawBody, { toleranceSec: opts.toleranceSec });
    } catch (e) {
      if (e instanceof WebhookVerificationError) return fail(401, e.reason, e);
      throw e;
    }
  }
  const meta: WebhookMeta = {
    requestId: firstHeader(headers, 'x-request-id'),
    deliveryId: firstHeader(headers, 'x-mmsgate-delivery-id'),
    headers,
  };
  const contentType = firstHeader(headers, 'content-type');
  const type = parseContentType(contentType).type;
  let run: () => void | Promise<void>;
  try {
    if (type.startsWith('multipart/')) {
      const msg = parseMo(contentType, rawBody);
      run = () => opts.onMo?.(msg, meta);
    } else {
      // application/json, or no/odd Content-Type: try it as a report.
      const report = parseReport(rawBody);
      run = () => opts.onReport?.(report, meta);
    }
  } catch (e) {
    if (e instanceof WebhookPayloadError) return fail(400, 'INVALID_PAYLOAD', e);
    throw e;
  }
  try {
    await run();
  } catch (e) {
    return fail(500, 'HANDLER_FAILED', e instanceof Error ? e : new Error(String(e)));
  }
  return { status: 200, body: '' };
}

/** Reads a request body into memory, refusing more than `limit` bytes. Resolves `null` when over the limit. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        resolve(null);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

function answer(res: ServerResponse, result: WebhookResult): void {
  if (result.body) res.writeHead(result.status, { 'content-type': 'application/json' }).end(result.body);
  else res.writeHead(result.status).end();
}

/**
 * A node:http request listener for the webhook URL: `http.createServer(createWebhookHandler({ onReport, onMo }))`.
 * Answers 405 to anything but POST; otherwise as {@link processWebhook}.
 */
export function createWebhookHandler(opts: WebhookHandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  checkSecrets(opts.secrets);
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  return (req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    readBody(req, limit)
      .then(async (body) => {
        if (body === null) {
          // Stop reading; close the connection rather than swallow the rest of an oversized upload.
          res.writeHead(413, { connection: 'close', 'content-type': 'application/json' });
          res.end(JSON.stringify({ code: 'BODY_TOO_LARGE', description: 'body too large' }));
          return;
        }
        answer(res, await processWebhook(opts, req.headers, body));
      })
      .catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
      });
  };
}

/** The request shape the middleware understands: node's, plus a body some framework may have read already. */
export type MiddlewareRequest = IncomingMessage & { body?: unknown; rawBody?: unknown };

/**
 * Express-style middleware `(req, res, next)`. Mount it on the webhook route with no body parser before it, or
 * with `express.raw({ type: '*\/*' })` (then `req.body` is a Buffer). A `req.rawBody` Buffer is used when present.
 * An already JSON-parsed `req.body` works for reports only when no secrets are set (the signature needs the raw
 * bytes). Callback failures go to `next(err)`; everything else is answered directly.
 *
 * Fastify 5: register a raw-body parser in the webhook plugin's scope and call {@link processWebhook}:
 * ```ts
 * app.register(async (scope) => {
 *   scope.removeAllContentTypeParsers();
 *   scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 16 * 1024 * 1024 }, (_req, body, done) => done(null, body));
 *   scope.post('/hooks/mms', async (request, reply) => {
 *     const r = await processWebhook(opts, request.headers, request.body as Buffer);
 *     return reply.code(r.status).header('content-type', 'application/json').send(r.body);
 *   });
 * });
 * ```
 */
export function webhookMiddleware(
  opts: WebhookHandlerOptions,
): (req: MiddlewareRequest, res: ServerResponse, next?: (err?: unknown) => void) => void {
  checkSecrets(opts.secrets);
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  return (req, res, next) => {
    const done = (result: WebhookResult): void => {
      if (result.status === 500 && result.error && next) next(result.error);
      else answer(res, result);
    };
    const pre = Buffer.isBuffer(req.rawBody) ? req.rawBody : Buffer.isBuffer(req.body) ? req.body : undefined;
    if (pre) {
      processWebhook(opts, req.headers, pre).then(done, (e) => (next ? next(e) : res.writeHead(500).end()));
      return;
    }
    if (req.body !== undefined && req.body !== null && typeof req.body === 'object') {
      // Parsed upstream: the exact bytes are gone, so only an unsigned report can be handled.
      if (opts.secrets !== undefined) {
        done(fail(401, 'RAW_BODY_REQUIRED', new WebhookPayloadError('signature check needs the raw body')));
        return;
      }
      processWebhook(opts, { ...req.headers, 'content-type': 'application/json' }, Buffer.from(JSON.stringify(req.body)))
        .then(done, (e) => (next ? next(e) : res.writeHead(500).end()));
      return;
    }
    readBody(req, limit)
      .then((body) =>
        body === null
          ? fail(413, 'BODY_TOO_LARGE', new WebhookPayloadError('body too large'))
          : processWebhook(opts, req.headers, body),
      )
      .then(done, (e) => (next ? next(e) : res.writeHead(500).end()));
  };
}
