/**
 * The customer-side client of the mmsgate / OpenMarket HTTP MMS v2 API.
 *
 * Connection behaviour follows OpenMarket's "Things to know": a primary URL (a name that moves between data
 * centers, so DNS answers are cached for at most one minute) and direct node URLs used in parallel and for
 * failover. Every send carries an `Idempotency-Key` that stays the same across this call's retries and failovers,
 * so an attempt whose answer was lost can be repeated elsewhere without a double send.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { isIP, type LookupFunction } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { errors, Pool } from 'undici';
import { addressKey, clampDnsTtl, DnsCache, systemResolver, type Resolver } from './dns-cache.ts';
import { MmsApiError, MmsNetworkError, type AttemptFailure } from './errors.ts';
import { buildSendBody, type SendRequest } from './request-body.ts';

/** Options of {@link MmsClient}. */
export interface MmsClientOptions {
  /** Base URLs, primary first (e.g. the global name), then direct node URLs. At least one. */
  endpoints: string[];
  accountId: string;
  password: string;
  /** Per-attempt time limit in ms: DNS lookup, connect and answer together (default 30 000). */
  timeoutMs?: number;
  /** Parallel keep-alive connections per endpoint (default 8). */
  connections?: number;
  /** How long a DNS answer is reused, ms (default 30 000; clamped to at most 60 000). */
  dnsTtlMs?: number;
  /** Host name resolver (default: the system's). */
  lookup?: Resolver;
  /** Extra attempts after the first, across endpoints (default: one per further endpoint, at least 2). */
  retries?: number;
  /** Longest Retry-After (ms) the client waits out on a 429 before giving up (default 30 000). */
  maxRetryAfterMs?: number;
  /** How long an endpoint that failed is tried last, ms (default 5 000). */
  endpointCooldownMs?: number;
  /**
   * Certificates (PEM) to trust for https endpoints instead of the system's roots: a gateway with a private CA or a
   * self-signed certificate. Certificates are always verified, against the endpoint's host name.
   */
  ca?: string | Buffer | (string | Buffer)[];
  /** Clock in ms, for tests (DNS expiry and endpoint cool-down). */
  now?: () => number;
}

/** Result of a successful send. */
export interface SendResult {
  mtId: number;
  /** `X-Request-Id` of the accepted send; delivery reports carry the same one. */
  requestId: string;
  /** The endpoint that accepted it. */
  endpoint: string;
}

/** One event in a message's history. */
export interface MtStatusEvent {
  at: string;
  type: string;
  node: string;
  /** Free text or a small object of facts (e.g. `{ operatorId, attempt }`), as the gateway records it. */
  detail: unknown;
}

/** `GET /mms/v2/status/{mtId}`. */
export interface MtStatus {
  mtId: number;
  state: string;
  status: string | null;
  outcomeId: number | null;
  outcomeDescription: string | null;
  source: string;
  destination: string;
  subject: string;
  createdAt: string;
  updatedAt: string;
  events: MtStatusEvent[];
  userAgent?: string | null;
  mtConfig?: string;
  mobileOperatorId?: number | null;
  operatorMessageId?: string | null;
  /** The send's X-Request-Id. */
  requestId?: string;
  /** `remoteUrl` for a link part (its content is fetched when the message is submitted; `size` is then 0). */
  parts?: { contentType: string; contentId: string; size: number; remoteUrl?: string }[];
}

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

interface Endpoint {
  /** As configured, without a trailing slash. */
  base: string;
  origin: string;
  /** Path prefix of the base URL ("" or "/prefix"). */
  prefix: string;
  hostname: string;
  pool: Pool | undefined;
  addresses: string;
  /**
   * When the DNS answer the pool was built from stops being fresh (the client's clock). Kept per pool because the
   * pool's own connect lookups refresh the shared cache entry: that entry's freshness says nothing about the
   * addresses this pool's keep-alive connections were opened to.
   */
  expires: number;
  downUntil: number;
}

/** Answers larger than this are not read (the API's answers are small JSON documents). */
const MAX_ANSWER_BYTES = 1024 * 1024;
/** Statuses that mean "this node cannot take it now, another may": fail over. */
const FAILOVER_STATUS = new Set([502, 503, 504]);

function header(h: RawAnswer['headers'], name: string): string {
  const v = h[name];
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

/** Retry-After as delay seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string, nowMs: number): number | undefined {
  const v = value.trim();
  if (!v) return undefined;
  if (/^\d{1,9}$/.test(v)) return Number(v);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, Math.ceil((t - nowMs) / 1000));
}

/** Client for sending MT MMS and reading their status. Keep one per process; it holds connection pools. */
export class MmsClient {
  /** The effective DNS cache time, ms (after clamping). */
  readonly dnsTtlMs: number;
  private readonly endpoints: Endpoint[];
  private readonly auth: string;
  private readonly timeoutMs: number;
  private readonly connections: number;
  private readonly retries: number;
  private readonly maxRetryAfterMs: number;
  private readonly cooldownMs: number;
  private readonly now: () => number;
  private readonly ca: MmsClientOptions['ca'];
  private readonly dns: DnsCache;
  private closed = false;

  constructor(opts: MmsClientOptions) {
    if (!opts.endpoints || opts.endpoints.length === 0) throw new TypeError('at least one endpoint is required');
    this.endpoints = opts.endpoints.map((e) => {
      const u = new URL(e);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`endpoint must be http(s): ${e}`);
      const prefix = u.pathname.replace(/\/+$/, '');
      return {
        base: u.origin + prefix,
        origin: u.origin,
        prefix,
        hostname: u.hostname.replace(/^\[|\]$/g, ''),
        pool: undefined,
        addresses: '',
        expires: 0,
        downUntil: 0,
      };
    });
    this.auth = 'Basic ' + Buffer.from(`${opts.accountId}:${opts.password}`, 'utf8').toString('base64');
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.connections = Math.max(1, Math.min(opts.connections ?? 8, 256));
    this.retries = Math.max(0, opts.retries ?? Math.max(2, this.endpoints.length - 1));
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 30_000;
    this.cooldownMs = opts.endpointCooldownMs ?? 5_000;
    this.now = opts.now ?? Date.now;
    this.ca = opts.ca;
    this.dnsTtlMs = clampDnsTtl(opts.dnsTtlMs);
    // A query is shared no longer than one attempt may last: later attempts then ask again instead of waiting on
    // a query that may never answer.
    this.dns = new DnsCache(opts.lookup ?? systemResolver, this.dnsTtlMs, this.now, this.timeoutMs);
  }

  /**
   * Sends an MT MMS. Resolves with the gateway's mtId; throws {@link MmsApiError} on a refusal (no failover on
   * 4xx; a 429 with Retry-After is waited out and retried) or {@link MmsNetworkError} when no endpoint answered.
   */
  async send(req: SendRequest): Promise<SendResult> {
    const built = await buildSendBody(req);
    const key = req.idempotencyKey ?? randomUUID();
    // The gateway's rule (1 to 255 visible ASCII characters): a key it would refuse is a bug of the caller, told here
    // rather than as a 400 after a network round trip.
    if (!/^[\x21-\x7e]{1,255}$/.test(key)) throw new TypeError('idempotencyKey must be 1 to 255 visible ASCII characters (no spaces)');
    // One request id for the whole call, like the key: the gateway keeps the id of the attempt that stored the message
    // and repeats it in every delivery report, while a retry answered from the idempotency record gets the retry's id.
    // Were each attempt's id the gateway's own, a failover after a lost answer would return an id no report carries.
    const { answer, endpoint } = await this.exchange('POST', '/mms/v2/send', {
      'content-type': built.contentType,
      'idempotency-key': key,
      'x-request-id': randomBytes(16).toString('base64url'),
    }, built.body);
    const json = parseJson(answer.body) as { mtId?: unknown } | undefined;
    const mtId = typeof json?.mtId === 'string' && /^\d+$/.test(json.mtId) ? Number(json.mtId) : json?.mtId;
    if (typeof mtId !== 'number' || !Number.isSafeInteger(mtId)) {
      throw new MmsApiError({
        code: 'INVALID_RESPONSE',
        description: 'the 200 answer has no numeric mtId',
        httpStatus: answer.status,
        requestId: header(answer.headers, 'x-request-id'),
        endpoint: endpoint.base,
      });
    }
    return { mtId, requestId: header(answer.headers, 'x-request-id'), endpoint: endpoint.base };
  }

  /** Reads the state and history of a message sent by this account (404 NOT_FOUND for others). */
  async status(mtId: number | string): Promise<MtStatus> {
    const id = String(mtId).trim();
    if (!/^\d{1,19}$/.test(id)) throw new TypeError(`invalid mtId ${JSON.stringify(mtId)}`);
    const { answer, endpoint } = await this.exchange('GET', `/mms/v2/status/${id}`, {}, undefined);
    const json = parseJson(answer.body);
    if (typeof json !== 'object' || json === null) {
      throw new MmsApiError({
        code: 'INVALID_RESPONSE',
        description: 'the status answer is not a JSON object',
        httpStatus: answer.status,
        requestId: header(answer.headers, 'x-request-id'),
        endpoint: endpoint.base,
      });
    }
    return json as MtStatus;
  }

  /** Closes every connection; waits for requests in flight. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.endpoints.map((e) => e.pool?.close().catch(() => undefined)));
  }

  /** Endpoints in configured order, those that failed recently moved to the back. */
  private order(): Endpoint[] {
    const now = this.now();
    return [...this.endpoints.filter((e) => e.downUntil <= now), ...this.endpoints.filter((e) => e.downUntil > now)];
  }

  /** One logical request with failover: returns the first 200 answer, throws otherwise. */
  private async exchange(
    method: 'GET' | 'POST',
    path: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
  ): Promise<{ answer: RawAnswer; endpoint: Endpoint }> {
    if (this.closed) throw new Error('MmsClient is closed');
    const order = this.order();
    const failures: AttemptFailure[] = [];
    let lastApiError: MmsApiError | undefined;
    let idx = 0;
    let round = 0;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (Math.floor(idx / order.length) > round) {
        // A whole round over every endpoint failed: back off before starting the next one.
        round = Math.floor(idx / order.length);
        await sleep(Math.min(2_000, 200 * 2 ** (round - 1)));
      }
      const ep = order[idx % order.length]!;
      let answer: RawAnswer;
      try {
        answer = await this.once(ep, method, path, headers, body);
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        if (isProgrammingError(err)) throw err;
        failures.push({ endpoint: ep.base, error: err });
        lastApiError = undefined;
        ep.downUntil = this.now() + this.cooldownMs;
        idx++;
        continue;
      }
      if (answer.status === 200) return { answer, endpoint: ep };
      const apiError = toApiError(answer, ep.base, this.now());
      if (FAILOVER_STATUS.has(answer.status)) {
        failures.push({ endpoint: ep.base, error: apiError });
        lastApiError = apiError;
        ep.downUntil = this.now() + this.cooldownMs;
        idx++;
        continue;
      }
      if (answer.status === 429 && apiError.retryAfterSec !== undefined && attempt < this.retries) {
        const waitMs = apiError.retryAfterSec * 1000;
        if (waitMs <= this.maxRetryAfterMs) {
          await sleep(waitMs);
          continue; // same endpoint, same idempotency key
        }
      }
      throw apiError;
    }
    throw lastApiError ?? new MmsNetworkError(failures);
  }

  /** One attempt against one endpoint. */
  private async once(
    ep: Endpoint,
    method: 'GET' | 'POST',
    path: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
  ): Promise<RawAnswer> {
    // One limit for the whole attempt, DNS lookup included: a resolver that never answers must end the attempt
    // (and let the next endpoint be tried) just like a server that never answers.
    const signal = AbortSignal.timeout(this.timeoutMs);
    const pool = await this.poolFor(ep, signal);
    let res;
    try {
      res = await pool.request({
        method,
        path: ep.prefix + path,
        headers: { ...headers, authorization: this.auth, accept: 'application/json', 'user-agent': 'mmsgate-client/0.1' },
        body,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal,
      });
    } catch (e) {
      throw this.timeoutError(e, signal, errors.HeadersTimeoutError, 'no answer');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const c of res.body) {
        size += (c as Buffer).length;
        if (size > MAX_ANSWER_BYTES) {
          res.body.destroy();
          throw Object.assign(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`), { code: 'ANSWER_TOO_LARGE' });
        }
        chunks.push(c as Buffer);
      }
    } catch (e) {
      throw this.timeoutError(e, signal, errors.BodyTimeoutError, 'the answer did not arrive in full');
    }
    return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
  }

  /**
   * The attempt's own time limit surfaces from undici as the signal's DOMException, whose `code` is the number 23:
   * callers (and `MmsNetworkError`'s message) would see "23" instead of a timeout code. It is reported as undici's
   * own timeout error instead, with a string code and the limit, like a DNS lookup that ran out of time.
   */
  private timeoutError(
    e: unknown,
    signal: AbortSignal,
    Kind: typeof errors.HeadersTimeoutError | typeof errors.BodyTimeoutError,
    what: string,
  ): unknown {
    const reason: unknown = signal.reason;
    // undici rethrows the signal's reason itself; anything else (a reset that raced the limit) keeps its own code.
    if (!signal.aborted || e !== reason || !(reason instanceof Error) || reason.name !== 'TimeoutError') return e;
    const err = new Kind(`${what} within ${this.timeoutMs} ms`);
    err.cause = e;
    return err;
  }

  /**
   * The connection pool of an endpoint. Once the answer the pool was built from has expired, the next request
   * re-resolves; when the name now points elsewhere the pool is replaced (the old one finishes its requests and
   * closes). Without this, keep-alive connections would stay on the old address indefinitely, however short the
   * DNS cache.
   */
  private async poolFor(ep: Endpoint, signal: AbortSignal): Promise<Pool> {
    if (isIP(ep.hostname)) {
      ep.pool ??= this.newPool(ep);
      return ep.pool;
    }
    if (ep.pool && this.now() < ep.expires) return ep.pool;
    let answer;
    try {
      answer = await this.dns.answer(ep.hostname, signal);
    } catch (e) {
      if (!signal.aborted) throw e;
      // Reported like a connect timeout: no request was sent, so the next endpoint may take it (same key).
      const err = new errors.ConnectTimeoutError(`DNS lookup of ${ep.hostname} did not answer within ${this.timeoutMs} ms`);
      err.cause = e;
      throw err;
    }
    // A concurrent request may already have installed a pool from a newer answer; an older one must not undo it.
    if (ep.pool && answer.expires < ep.expires) return ep.pool;
    const key = addressKey(answer.addresses);
    if (!ep.pool || key !== ep.addresses) {
      const old = ep.pool;
      ep.pool = this.newPool(ep);
      ep.addresses = key;
      old?.close().catch(() => undefined);
    }
    ep.expires = answer.expires;
    return ep.pool;
  }

  private newPool(ep: Endpoint): Pool {
    // A connection opened after the pool's answer expired re-resolves and may reach an address outside that
    // answer. Such a pool is marked stale, so the next request replaces it even if the name has meanwhile gone
    // back to the pool's first answer (the key would match, and the newer connection would outlive its answer).
    const lookup: LookupFunction = (hostname, options, callback) =>
      this.dns.lookup(hostname, options, (err, address, family) => {
        if (!err && ep.pool === pool && !isIP(ep.hostname)) {
          const own = new Set(ep.addresses.split(','));
          const got: string[] = Array.isArray(address) ? address.map((a: { address: string }) => a.address) : [address];
          if (got.some((a) => !own.has(a))) {
            ep.addresses = '';
            ep.expires = 0;
          }
        }
        (callback as (e: NodeJS.ErrnoException | null, a: unknown, f?: number) => void)(err, address, family);
      });
    const pool: Pool = new Pool(ep.origin, {
      connections: this.connections,
      keepAliveTimeout: 30_000,
      connect: { lookup, timeout: Math.min(this.timeoutMs, 10_000), ...(this.ca !== undefined ? { ca: this.ca } : {}) },
    });
    return pool;
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function toApiError(answer: RawAnswer, endpoint: string, nowMs: number): MmsApiError {
  const json = parseJson(answer.body) as { code?: unknown; description?: unknown } | undefined;
  const hasCode = typeof json?.code === 'string' && json.code.length > 0;
  const retryAfter = parseRetryAfter(header(answer.headers, 'retry-after'), nowMs);
  return new MmsApiError({
    code: hasCode ? (json!.code as string) : `HTTP_${answer.status}`,
    description:
      typeof json?.description === 'string' ? json.description : answer.body.toString('utf8', 0, 200).trim() || `HTTP ${answer.status}`,
    httpStatus: answer.status,
    requestId: header(answer.headers, 'x-request-id'),
    endpoint,
    ...(retryAfter !== undefined ? { retryAfterSec: retryAfter } : {}),
  });
}

/** Errors that no other endpoint can cure (a bad argument to undici): thrown at once. */
function isProgrammingError(e: Error): boolean {
  return (e as NodeJS.ErrnoException).code === 'UND_ERR_INVALID_ARG' || e instanceof TypeError;
}
