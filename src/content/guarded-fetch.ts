/**
 * The one outbound HTTP fetcher for customer-supplied URLs (remote content; the same guard serves customer webhook
 * URLs). Server-side request forgery defence: every address a host name resolves to is checked against the
 * AddressPolicy inside the socket's own `lookup`, so the address checked is the address dialled (no DNS-rebinding
 * window) and a refused name never gets a connection. Literal IP hosts, which Node does not pass through `lookup`,
 * are checked before the request. Redirects are followed by hand so that each hop is checked the same way.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { normaliseIp } from '../shared/ip-allow-list.ts';
import { isAddressAllowed, type AddressPolicy } from './address-guard.ts';
import { looksLikeText, sniffContentType } from './sniff.ts';

/** Resolve a host name to all its addresses (dns.lookup semantics: hosts file, then DNS). Injectable for tests. */
export type HostLookup = (hostname: string) => Promise<Array<{ address: string; family: 4 | 6 }>>;

/** Why a fetch failed. */
export type FetchFailureReason =
  | 'address-refused'
  | 'not-found'
  | 'too-large'
  | 'unsupported-type'
  | 'http-error'
  | 'network'
  | 'timeout'
  | 'bad-url';

/**
 * A failed fetch. `permanent` tells the pipeline whether retrying can help: 4xx other than 408/429 (RFC 9110
 * §15.5) and refused, malformed, oversized or unsupported content are permanent; 5xx, 408, 429, network errors
 * and timeouts are temporary.
 */
export class ContentFetchError extends Error {
  readonly reason: FetchFailureReason;
  readonly permanent: boolean;
  /** HTTP status when the failure is an HTTP response. */
  readonly status: number | undefined;
  /** Lower bound for the next attempt from Retry-After (RFC 9110 §10.2.3), ms; 0 when absent. */
  readonly retryAfterMs: number;
  constructor(reason: FetchFailureReason, message: string, opts: { permanent?: boolean; status?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ContentFetchError';
    this.reason = reason;
    this.permanent = opts.permanent ?? !['network', 'timeout'].includes(reason);
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs ?? 0;
  }
}

/** Options of {@link createFetcher}. */
export interface FetcherOptions {
  policy: AddressPolicy;
  /** Deadline for the whole fetch, redirects and body included, ms. */
  timeoutMs: number;
  /** Largest body accepted, bytes (checked against Content-Length, then while streaming). */
  maxBytes: number;
  /** Redirect hops followed before giving up. */
  maxRedirects: number;
  userAgent: string;
  /** Name resolution; defaults to dns.lookup with all addresses. */
  lookup?: HostLookup;
  /** Which media types (lower-case, no parameters) are accepted; default {@link isSupportedMediaType}. */
  isSupportedType?: (mediaType: string) => boolean;
  /**
   * When set, only these host names are fetched (exact, or `*.example.com` for subdomains); any other host is refused
   * before its name is even resolved. For deployments that fetch from known CDNs only, and for test setups that must
   * never leave the machine.
   */
  allowedHosts?: readonly string[];
}

/** True when `host` (lower-case, IPv6 without brackets) matches the allow-list. */
export function hostAllowed(host: string, allowedHosts: readonly string[]): boolean {
  const h = normaliseIp(host.toLowerCase());
  return allowedHosts.some((entry) => {
    const e = normaliseIp(entry.toLowerCase());
    return e.startsWith('*.') ? h.endsWith(e.slice(1)) : h === e;
  });
}

/** A successful fetch (2xx, or 304 to a conditional request: then `body` is empty). */
export interface FetchResult {
  status: number;
  /** Response headers, names lower-cased, repeated values joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** Content-Type as served (parameters kept), or the sniffed type when absent or octet-stream; "" on 304. */
  contentType: string;
  /** `contentType` without parameters, lower-cased. */
  mediaType: string;
  /** The URL after redirects. */
  finalUrl: string;
  /** Redirect hops followed. */
  redirects: number;
}

/** The fetcher returned by {@link createFetcher}. */
export interface Fetcher {
  fetch(url: string, init?: { headers?: Record<string, string> }): Promise<FetchResult>;
  /** Close kept-alive connections. */
  close(): Promise<void>;
  /** The guarded undici dispatcher, for other outbound calls to customer URLs (webhooks). */
  readonly dispatcher: Dispatcher;
}

const GENERIC_TYPES = new Set(['', 'application/octet-stream', 'binary/octet-stream', 'application/unknown']);
/** Image labels whose format has a signature the sniffer knows (sniff.ts): bytes without it are not that image. */
const SIGNED_IMAGE_TYPES = new Set([
  'image/jpeg', 'image/jpg', 'image/pjpeg', 'image/png', 'image/gif', 'image/webp', 'image/bmp', 'image/tiff',
  'image/heic', 'image/heif', 'image/avif',
]);
const TEXT_TYPES = new Set(['text/plain', 'text/x-vcard', 'text/vcard', 'text/directory', 'text/calendar', 'text/x-vcalendar']);
const SMIL_TYPES = new Set(['application/smil', 'application/smil+xml']);

/** Media types an MMS can carry: images, audio, video, plain text, vCard/vCalendar and SMIL (never HTML). */
export function isSupportedMediaType(mediaType: string): boolean {
  return /^(image|audio|video)\/[\w.+-]+$/.test(mediaType) || TEXT_TYPES.has(mediaType) || SMIL_TYPES.has(mediaType);
}

/** The default resolver: every address of the name, as the OS resolver returns them. */
export const systemLookup: HostLookup = async (hostname) => {
  const all = await dnsLookup(hostname, { all: true, verbatim: true });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** The host of a URL as an IP literal (brackets removed), or undefined when it is a name. */
function literalIp(u: URL): string | undefined {
  const h = normaliseIp(u.hostname);
  return isIP(h) ? h : undefined;
}

/** Parse and vet a URL's syntax: http or https only (a redirect to file:, data: etc. is refused too). */
export function parseFetchUrl(raw: string, base?: string): URL {
  let u: URL;
  try {
    // WHATWG URL parsing normalises 2130706433, 0x7f.1 and 0177.0.0.1 to 127.0.0.1 (URL Standard §3.5 IPv4 parser).
    u = base === undefined ? new URL(raw.trim()) : new URL(raw.trim(), base);
  } catch (cause) {
    throw new ContentFetchError('bad-url', `not a valid URL: ${JSON.stringify(raw.slice(0, 200))}`, { cause });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ContentFetchError('bad-url', `unsupported URL scheme ${u.protocol} (http and https only)`);
  }
  if (u.hostname === '') throw new ContentFetchError('bad-url', 'URL has no host');
  return u;
}

function refused(host: string, address: string): ContentFetchError {
  return new ContentFetchError('address-refused', `address ${address} of ${host} is not allowed (private or reserved)`);
}

/**
 * Check a URL the way the fetcher does, for callers that cannot route their request through {@link
 * Fetcher.dispatcher} (e.g. validating a customer's webhook URL when it is configured). Resolves the name and
 * throws ContentFetchError ('bad-url' or 'address-refused') unless every address is allowed. Note the answer may
 * change before a later connection: deliver through the guarded dispatcher as well.
 */
export async function checkUrlAllowed(url: string, policy: AddressPolicy, lookup: HostLookup = systemLookup): Promise<URL> {
  const u = parseFetchUrl(url);
  const ip = literalIp(u);
  const addresses = ip ? [ip] : await resolveOrThrow(u.hostname, lookup);
  for (const a of addresses) if (!isAddressAllowed(a, policy)) throw refused(u.hostname, a);
  return u;
}

async function resolveOrThrow(hostname: string, lookup: HostLookup): Promise<string[]> {
  let res: Array<{ address: string }>;
  try {
    res = await lookup(hostname);
  } catch (cause) {
    throw new ContentFetchError('network', `cannot resolve ${hostname}`, { cause });
  }
  if (res.length === 0) throw new ContentFetchError('network', `${hostname} has no address`);
  return res.map((r) => r.address);
}

/**
 * A `lookup` for net/tls.connect that resolves with `resolve`, and fails the connection when ANY resolved
 * address is refused by the policy (an attacker's name may mix a public and a private address). Handles both
 * call shapes Node uses: `all: true` (autoSelectFamily, the Node 20 default) and single-address.
 */
export function guardedLookup(policy: AddressPolicy, resolve: HostLookup): LookupFunction {
  return (hostname, options, callback) => {
    const cb = callback as (err: NodeJS.ErrnoException | null, address: unknown, family?: number) => void;
    resolve(hostname).then(
      (list) => {
        if (list.length === 0) return cb(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '');
        const bad = list.find((a) => !isAddressAllowed(a.address, policy));
        if (bad) return cb(refused(hostname, bad.address) as NodeJS.ErrnoException, '');
        const wanted = options.family === 4 || options.family === 6 ? list.filter((a) => a.family === options.family) : list;
        if (wanted.length === 0) return cb(Object.assign(new Error(`${hostname} has no IPv${options.family} address`), { code: 'ENOTFOUND' }), '');
        if (options.all) return cb(null, wanted);
        return cb(null, wanted[0]!.address, wanted[0]!.family);
      },
      (err: unknown) => cb(err as NodeJS.ErrnoException, ''),
    );
  };
}

/** Find a ContentFetchError in an error's cause chain (undici wraps connector errors). */
function findOwnError(err: unknown): ContentFetchError | undefined {
  for (let e = err, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    if (e instanceof ContentFetchError) return e;
  }
  return undefined;
}

function flattenHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), in ms; 0 when absent or invalid. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number {
  if (!value) return 0;
  if (/^\d+$/.test(value.trim())) return Math.min(Number(value.trim()), 86_400) * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? 0 : Math.max(0, Math.min(t - now, 86_400_000));
}

function statusError(status: number, url: URL, headers: Record<string, string>): ContentFetchError {
  const where = `${url.origin}${url.pathname}`;
  if (status === 404 || status === 410) return new ContentFetchError('not-found', `${where} answered ${status}`, { status, permanent: true });
  const temporary = status >= 500 || status === 408 || status === 429;
  return new ContentFetchError('http-error', `${where} answered ${status}`, {
    status,
    permanent: !temporary,
    retryAfterMs: retryAfterMs(headers['retry-after']),
  });
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/**
 * Request headers not sent past a redirect to another origin: credentials, and the validators of a conditional
 * request (they came from the first origin's earlier answer; another origin's 304 to them would revive a cached body
 * that origin never served).
 */
const CROSS_ORIGIN_DROPPED = ['authorization', 'cookie', 'proxy-authorization', 'if-none-match', 'if-modified-since'];

/**
 * An undici Agent (keep-alive per origin) that only ever connects to addresses the policy allows: host names go
 * through {@link guardedLookup}, and IP-literal hosts (which Node never passes to `lookup`) are checked by the
 * connector. Safe to hand to any outbound call to a customer URL (`request(url, { dispatcher })`), e.g. webhooks.
 * It does not follow redirects; a caller that does must send each hop through it again.
 */
export function createGuardedDispatcher(
  policy: AddressPolicy,
  opts: { lookup?: HostLookup; timeoutMs?: number; connections?: number } = {},
): Agent {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const base = buildConnector({ lookup: guardedLookup(policy, opts.lookup ?? systemLookup), timeout: Math.min(timeoutMs, 10_000) });
  const connect: buildConnector.connector = (options, callback) => {
    const ip = normaliseIp(options.hostname);
    if (isIP(ip) && !isAddressAllowed(ip, policy)) return callback(refused(options.hostname, ip), null);
    return base(options, callback);
  };
  return new Agent({
    connect,
    connections: opts.connections ?? 8,
    keepAliveTimeout: 10_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    maxHeaderSize: 16 * 1024,
  });
}

/**
 * Create the guarded fetcher on a {@link createGuardedDispatcher} agent, adding manual redirects (each hop
 * re-checked), the size limit, the deadline, sniffing and the error mapping.
 */
export function createFetcher(opts: FetcherOptions): Fetcher {
  const supported = opts.isSupportedType ?? isSupportedMediaType;
  const agent = createGuardedDispatcher(opts.policy, { lookup: opts.lookup, timeoutMs: opts.timeoutMs });

  async function fetchOnce(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    if (opts.allowedHosts && !hostAllowed(url.hostname, opts.allowedHosts)) {
      throw new ContentFetchError('address-refused', `host ${url.hostname} is not in remoteContent.allowedHosts`);
    }
    const ip = literalIp(url);
    if (ip && !isAddressAllowed(ip, opts.policy)) throw refused(url.hostname, ip);
    return agent.request({ origin: url.origin, path: `${url.pathname}${url.search}`, method: 'GET', headers, signal });
  }

  async function readBody(res: Dispatcher.ResponseData, url: URL): Promise<Buffer> {
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > opts.maxBytes) {
      discard(res.body);
      throw new ContentFetchError('too-large', `${url.origin}${url.pathname} is ${declared} bytes (limit ${opts.maxBytes})`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > opts.maxBytes) {
        discard(res.body);
        throw new ContentFetchError('too-large', `${url.origin}${url.pathname} exceeds ${opts.maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, size);
  }

  async function run(raw: string, extra: Record<string, string>, signal: AbortSignal): Promise<FetchResult> {
    let url = parseFetchUrl(raw);
    // identity only (RFC 9110 §12.5.3): an encoded body would be stored and sent on encoded (a gzip stream labelled
    // image/png), and decoding it would let a small body expand without bound.
    const baseHeaders: Record<string, string> = { 'user-agent': opts.userAgent, accept: '*/*', 'accept-encoding': 'identity', ...lowerKeys(extra) };
    if (url.username || url.password) {
      // Credentials in the URL become Basic auth (RFC 7617); they are never sent to another origin.
      const cred = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
      baseHeaders.authorization = `Basic ${Buffer.from(cred).toString('base64')}`;
      url.username = '';
      url.password = '';
    }
    const firstOrigin = url.origin;
    const seen = new Set<string>();
    for (let hop = 0; ; hop++) {
      seen.add(url.href);
      const headers = { ...baseHeaders };
      if (url.origin !== firstOrigin) for (const h of CROSS_ORIGIN_DROPPED) delete headers[h];
      const res = await fetchOnce(url, headers, signal);
      const resHeaders = flattenHeaders(res.headers);
      if (REDIRECTS.has(res.statusCode) && resHeaders.location) {
        await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        if (hop >= opts.maxRedirects) {
          throw new ContentFetchError('http-error', `more than ${opts.maxRedirects} redirects from ${raw.slice(0, 200)}`, { permanent: true });
        }
        const next = parseFetchUrl(resHeaders.location, url.href);
        if (seen.has(next.href)) throw new ContentFetchError('http-error', `redirect loop at ${next.href}`, { permanent: true });
        url = next;
        continue;
      }
      // 304 answers a conditional request (RFC 9110 §15.4.5); to an unconditional one it is an origin error.
      if (res.statusCode === 304 && (headers['if-none-match'] || headers['if-modified-since'])) {
        await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        return { status: 304, headers: resHeaders, body: Buffer.alloc(0), contentType: '', mediaType: '', finalUrl: url.href, redirects: hop };
      }
      if (res.statusCode < 200 || res.statusCode > 299) {
        await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        throw statusError(res.statusCode, url, resHeaders);
      }
      const encoding = (resHeaders['content-encoding'] ?? '').trim().toLowerCase();
      if (encoding !== '' && encoding !== 'identity') {
        await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        throw new ContentFetchError('unsupported-type', `${url.origin}${url.pathname} came with Content-Encoding ${encoding.slice(0, 40)} (identity was asked for)`);
      }
      const body = await readBody(res, url);
      let contentType = (resHeaders['content-type'] ?? '').trim();
      let mediaType = mediaTypeOf(contentType);
      const sniffed = sniffContentType(body);
      // A text label is overridden only for bytes that are no text (WHATWG MIME Sniffing §7.1: text/plain is checked
      // for binary data only): a text that starts "BM..." matches the BMP signature.
      const imageUnderOtherLabel = sniffed?.startsWith('image/') && sniffed !== mediaType && !(mediaType.startsWith('text/') && looksLikeText(body));
      if (GENERIC_TYPES.has(mediaType) || imageUnderOtherLabel) {
        // A generic label says nothing; an image signature (WHATWG MIME Sniffing §6.1) beats a label that names
        // something else: a photo an origin serves as text/plain or image/png would reach the handset as text or as
        // an image it fails to decode, and adaptation would pass it through untouched.
        contentType = sniffed ?? contentType;
        mediaType = sniffed ?? mediaType;
      } else if (SIGNED_IMAGE_TYPES.has(mediaType) && !sniffed?.startsWith('image/')) {
        // Labelled as an image format with a signature, but the bytes are no image (an error page answered with 200,
        // a wrong file): the handset would show a broken picture while the report says Retrieved.
        throw new ContentFetchError('unsupported-type', `${url.origin}${url.pathname} is labelled ${mediaType} but is ${sniffed ?? 'of unknown type'}, not an image`);
      }
      if (!supported(mediaType)) {
        throw new ContentFetchError('unsupported-type', `${url.origin}${url.pathname} is ${mediaType || 'of unknown type'}`);
      }
      return { status: res.statusCode, headers: resHeaders, body, contentType, mediaType, finalUrl: url.href, redirects: hop };
    }
  }

  return {
    dispatcher: agent,
    async fetch(url, init = {}) {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(new ContentFetchError('timeout', `fetch exceeded ${opts.timeoutMs} ms`)), opts.timeoutMs);
      try {
        return await run(url, init.headers ?? {}, ac.signal);
      } catch (err) {
        if (ac.signal.aborted) throw ac.signal.reason as ContentFetchError;
        const own = findOwnError(err);
        if (own) throw own;
        const code = (err as { code?: string }).code ?? '';
        if (code.includes('TIMEOUT')) throw new ContentFetchError('timeout', `${(err as Error).message}`, { cause: err });
        throw new ContentFetchError('network', `fetch of ${url.slice(0, 200)} failed: ${(err as Error).message}`, { cause: err });
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => agent.close(),
  };
}

/** Abort a response body we will not read (undici reports the abort as an 'error' event: swallow it). */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}

/** The bare media type of a Content-Type value: lower-cased, parameters removed. */
export function mediaTypeOf(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}
