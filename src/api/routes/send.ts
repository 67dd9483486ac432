/**
 * `POST /mms/v2/send` — OpenMarket HTTP MMS v2 MT submission.
 *
 * Order matters for the guarantees: authenticate before reading the body (401 parses none of the upload), refuse an
 * announced oversize body before reading it (413), take a token of the account's send rate before reading it (429),
 * stream-parse with every limit enforced, validate, then commit message + parts + first job in one group-committed
 * transaction, and only then answer 200 `{"mtId"}`.
 */
import { createHash, hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';

import { customerFacingMessage } from '../../content/failures.ts';
import { ApiError } from '../../core/errors.ts';
import { TemporaryError } from '../../core/retry-policy.ts';
import { normaliseContentId, REMOTE_CONTENT_TYPE, type MtMessage, type Part } from '../../core/message.ts';
import { validateMtRequest } from '../../core/mt-request.ts';
import { mediaTypeOf } from '../../mime/content-type.ts';
import type { ParsedPart } from '../../mime/types.ts';
import { MAX_IDEMPOTENCY_KEY_LENGTH, type NewBlob, type WriteUnit } from '../../store/store.ts';
import type { ApiAccount, GatewayContext } from '../context.ts';
import { parseControlJson, pickControlPart, readMultipartRequest } from '../multipart-request.ts';

const REMOTE_CONTENT_TYPE_LOWER = REMOTE_CONTENT_TYPE.toLowerCase();

/** Longest remote-content URL we accept. */
const MAX_URL_LENGTH = 2048;

export function registerSendRoute(app: FastifyInstance, ctx: GatewayContext): void {
  app.register(async (scope) => {
    // Take the body as a raw stream whatever its type; the handler checks the type itself so that every refusal
    // uses the error registry, and parses multipart while it streams. (With the gateway's own server the route is
    // served by api/send-fast-path.ts around Fastify; this registration serves everything else that builds the app.)
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

    scope.post('/mms/v2/send', async (req, reply) => {
      const result = await acceptSend(ctx, { headers: req.headers, body: req.body, requestId: req.id, log: req.log });
      for (const [k, v] of Object.entries(result.headers)) reply.header(k, v);
      return result.body;
    });
  });
}

/** The one logging call a send makes itself (Fastify's request logger and pino both fit). */
export interface RequestLog {
  error(obj: object, msg: string): void;
}

/** One send request, independent of the HTTP framework. */
export interface SendInput {
  headers: IncomingHttpHeaders;
  /** The request body as a stream. */
  body: unknown;
  requestId: string;
  /** Logger of this request (carries its request id). */
  log: RequestLog;
  /**
   * Only for an `Expect: 100-continue` request: sends `100 Continue`. Called once the request passed the checks that
   * need no body (auth, Idempotency-Key, Content-Type, Content-Encoding, announced length, the account's send rate),
   * so a refused request never sends its body.
   */
  sendContinue?: () => void;
}

/** The 200 answer: JSON body and extra headers (content-type included). */
export interface SendResult {
  body: unknown;
  headers: Record<string, string>;
}

const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'content-type': 'application/json' });

/** Handle one send: authenticate, read, validate, commit; throws an ApiError for every refusal. */
export async function acceptSend(ctx: GatewayContext, input: SendInput): Promise<SendResult> {
  const { headers } = input;
  // A credential verified recently answers without a promise turn; anything else takes the full (scrypt) path.
  const account = ctx.auth.cached(headers.authorization) ?? (await ctx.auth.authenticate(headers.authorization));
  const idemKey = idempotencyKeyOf(headers['idempotency-key']);
  // The account's send rate, checked before the body is read (api/account-rate-limit.ts). No account with a limit:
  // sendGates is undefined and this costs one property check.
  const gate = ctx.sendGates === undefined ? undefined : ctx.sendGates.get(account.id);
  if (isDryRun(headers['x-dry-run'])) {
    // A dry run holds a slot of this node's api.maxConcurrentDryRuns from its body to its answer (api/dry-run-slots.ts).
    const slot = ctx.dryRunSlots.gate(gate);
    try {
      const parts = await readMultipartRequest(input, ctx.config.api, slot.gate);
      return await acceptParsed(ctx, input, account, idemKey, parts, true);
    } finally {
      slot.release();
    }
  }
  const parts = await readMultipartRequest(input, ctx.config.api, gate);
  // `return await`, not `return`: an async function returning a promise unwraps it in two more microtask turns.
  return await acceptParsed(ctx, input, account, idemKey, parts, false);
}

/** The send once its body is read: validate, then answer a dry run (`dryRun`: X-Dry-Run) or commit the message. */
async function acceptParsed(
  ctx: GatewayContext,
  input: SendInput,
  authenticated: ApiAccount,
  idemKey: string | undefined,
  parts: ParsedPart[],
  dryRun: boolean,
): Promise<SendResult> {
  // The accounts may have been reloaded while the body arrived (SIGHUP): the request is taken as the account now
  // stands, so a removed account, mtConfig or number accepts no message the node could then not run.
  const account = ctx.auth.current(authenticated.id);
  if (account === undefined) throw new ApiError('AUTH_INVALID');
  const control = pickControlPart(parts);
  const json = parseControlJson(control.body, ctx.config.api.lenientMultipart);
  const valid = validateMtRequest(json, account, ctx.config.operators);
  const content = parts.filter((p) => p !== control);
  if (content.length === 0) throw new ApiError('NO_CONTENT');

  const { storedParts, blobs } = toStoredParts(content);
  // Only empty inline parts (e.g. a stray delimiter right before the closing one) is no content either.
  if (storedParts.every((p) => p.size === 0 && p.remoteUrl === undefined)) throw new ApiError('NO_CONTENT');
  if (dryRun) return { body: await runDryRun(ctx, valid.operatorId, storedParts, blobs), headers: JSON_HEADERS };
  const requestHash = idemKey ? hashRequest(account.id, control.body, storedParts) : '';
  if (idemKey) {
    const hit = await storeCall(ctx, input.log, () => ctx.store.getIdempotencyKey(account.id, idemKey, Date.now()));
    if (hit) return replay(hit, requestHash);
  }
  const mtId = ctx.mtIds.takeNow() ?? (await storeCall(ctx, input.log, () => ctx.mtIds.take()));
  const now = Date.now();
  // A test mtConfig's messages never reach an operator; decided now and kept with the message's job (submit-step.ts).
  const test = account.mtConfigs[valid.mtConfig]?.simulate === true;
  const mt: MtMessage = {
    mtId,
    accountId: account.id,
    requestId: input.requestId,
    ...valid,
    state: 'accepted',
    status: null,
    outcomeId: null,
    outcomeDescription: null,
    userAgent: null,
    operatorMessageId: null,
    createdAt: now,
    updatedAt: now,
    parts: storedParts,
  };
  const acceptedDetail: Record<string, unknown> = { requestId: input.requestId, parts: storedParts.length, operatorId: valid.operatorId, bytes: sumSizes(storedParts) };
  if (test) acceptedDetail.testMtConfig = true;
  const unit: WriteUnit = {
    blobs,
    mts: [mt],
    events: [
      {
        mtId,
        at: now,
        type: 'accepted',
        node: ctx.nodeId,
        detail: acceptedDetail,
      },
    ],
    // Remote content is fetched by the submit step (through the shared URL cache), so one job kind serves both.
    jobs: [test ? { kind: 'submit', refId: mtId, payload: { test: true } } : { kind: 'submit', refId: mtId }],
    ...(idemKey
      ? { idempotency: { accountId: account.id, key: idemKey, requestHash, mtId, expiresAt: now + ctx.config.api.idempotencyTtl } }
      : {}),
  };
  const result = await storeCall(ctx, input.log, () => ctx.commit(unit));
  // A concurrent request with the same key won the race: this one stored nothing and answers with its mtId.
  if (!result.applied && result.existing) return replay(result.existing, requestHash);
  return { body: { mtId }, headers: JSON_HEADERS };
}

/**
 * A store failure while accepting is the store's, not the request's: answer 503 STORE_UNAVAILABLE (retryable, nothing
 * was accepted) rather than a 500, so clients fail over to another node or retry.
 */
async function storeCall<T>(ctx: GatewayContext, log: RequestLog, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    // Every send fails the same way while the store is down: one line per 10 s (ctx.logThrottle), not one per send.
    const leftOut = ctx.logThrottle.take('accept: store unavailable');
    if (leftOut !== undefined) log.error({ err, ...(leftOut > 0 ? { leftOut } : {}) }, 'store unavailable while accepting a message');
    throw new ApiError('STORE_UNAVAILABLE');
  }
}

/**
 * `Idempotency-Key` (no OpenMarket peer has it): a repeat of a request with the same key within
 * `api.idempotencyTtl` answers the original mtId instead of sending again; the same key with a different request is
 * IDEMPOTENCY_CONFLICT. Keys are per account.
 */
function idempotencyKeyOf(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  const key = Array.isArray(v) ? v[0] : v;
  if (!key || key.length > MAX_IDEMPOTENCY_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(key)) {
    throw new ApiError('INVALID_FIELD', { field: 'Idempotency-Key', reason: `1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters` });
  }
  return key;
}

/** What makes two sends "the same request": the control JSON and every part (type, id, content hash or URL). */
function hashRequest(accountId: string, control: Buffer, parts: Part[]): string {
  const h = createHash('sha256').update(accountId).update('\0').update(control);
  for (const p of parts) h.update('\0').update(p.contentType).update('\0').update(p.contentId).update('\0').update(p.sha256 ?? p.remoteUrl ?? '');
  return h.digest('hex');
}

function replay(hit: { mtId: number; requestHash: string }, requestHash: string): SendResult {
  if (hit.requestHash !== requestHash) throw new ApiError('IDEMPOTENCY_CONFLICT');
  return { body: { mtId: hit.mtId }, headers: { ...JSON_HEADERS, 'idempotent-replayed': 'true' } };
}

function isDryRun(v: string | string[] | undefined): boolean {
  return typeof v === 'string' && /^(true|1|yes)$/i.test(v.trim());
}

/**
 * `X-Dry-Run: true`: validate, fetch, add SMIL and adapt exactly as the pipeline would, and answer with the final parts,
 * their sizes, the chosen operator and what adaptation did - without storing or sending anything. A content problem
 * answers 200 with `wouldFail: true` and the outcome the message would have ended with.
 */
async function runDryRun(ctx: GatewayContext, operatorId: number, parts: Part[], blobs: NewBlob[]): Promise<Record<string, unknown>> {
  const bytes = new Map(blobs.map((b) => [b.sha256, b.bytes]));
  try {
    const prepared = await ctx.prepareContent(parts, operatorId, async (sha) => bytes.get(sha));
    return {
      dryRun: true,
      mobileOperatorId: operatorId,
      parts: prepared.parts.map((p) => ({ contentType: p.part.contentType, contentId: p.part.contentId, size: p.bytes.length })),
      totalBytes: prepared.parts.reduce((n, p) => n + p.bytes.length, 0),
      fetched: prepared.fetched,
      adaptation: prepared.changes,
      smilGenerated: prepared.smilGenerated,
    };
  } catch (err) {
    const outcome = (err as { outcome?: { id: number; status: string; description: string } }).outcome;
    if (err instanceof TemporaryError) {
      // A real send would retry this (e.g. the origin answered 503), and might still deliver.
      return { dryRun: true, mobileOperatorId: operatorId, wouldRetry: true, error: err.message };
    }
    return {
      dryRun: true,
      mobileOperatorId: operatorId,
      wouldFail: true,
      error: customerFacingMessage(err),
      ...(outcome ? { status: outcome.status, outcomeId: outcome.id, outcomeDescription: outcome.description } : {}),
    };
  }
}

/** Turn parsed content parts into stored parts + blobs; Content-Ids normalised and made unique. */
function toStoredParts(content: ParsedPart[]): { storedParts: Part[]; blobs: NewBlob[] } {
  const storedParts: Part[] = [];
  const blobs: NewBlob[] = [];
  const seen = new Set<string>();
  content.forEach((p, i) => {
    let contentId = normaliseContentId(p.contentId) || `part${i + 1}`;
    while (seen.has(contentId)) contentId = `${contentId}-${i + 1}`;
    seen.add(contentId);
    if (mediaTypeOf(p.contentType) === REMOTE_CONTENT_TYPE_LOWER) {
      storedParts.push({ contentType: p.contentType, contentId, size: 0, remoteUrl: checkRemoteUrl(p.body) });
      return;
    }
    const sha256 = hash('sha256', p.body, 'hex');
    blobs.push({ sha256, bytes: p.body });
    storedParts.push({ contentType: p.contentType, contentId, sha256, size: p.body.length });
  });
  return { storedParts, blobs };
}

function checkRemoteUrl(body: Buffer): string {
  const text = body.toString('utf8').trim();
  if (text.length === 0) throw new ApiError('INVALID_REMOTE_CONTENT', { reason: 'the part is empty' });
  if (text.length > MAX_URL_LENGTH) throw new ApiError('INVALID_REMOTE_CONTENT', { reason: `longer than ${MAX_URL_LENGTH} characters` });
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ApiError('INVALID_REMOTE_CONTENT', { reason: 'not a URL' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ApiError('INVALID_REMOTE_CONTENT', { reason: 'only http and https URLs' });
  }
  if (url.username || url.password) throw new ApiError('INVALID_REMOTE_CONTENT', { reason: 'URLs with credentials are refused' });
  return url.toString();
}

function sumSizes(parts: Part[]): number {
  return parts.reduce((n, p) => n + p.size, 0);
}
