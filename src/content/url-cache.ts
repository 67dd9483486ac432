/**
 * Remote-content cache. OpenMarket caches fetched remote content "for a limited amount of time" and tells
 * customers to use a new URL for new content, so the cache is keyed by URL and honours HTTP caching (RFC 9111)
 * within a gateway-wide cap. Bodies are stored content-addressed (SHA-256), so one image sent under many URLs, or
 * re-fetched unchanged, is stored once.
 *
 * Policy is pure functions (freshnessOf, revalidationHeaders); RemoteContentCache adds the single-flight and talks
 * to storage through UrlCachePort, which the lead backs with the database.
 */
import { createHash } from 'node:crypto';
import { SingleFlight } from '../shared/single-flight.ts';
import type { FetchResult } from './guarded-fetch.ts';

/** A cached URL: metadata row. The body lives in the blob store under `sha256`. */
export interface CachedUrl {
  url: string;
  /** Hex SHA-256 of the body. */
  sha256: string;
  /** Content-Type as served or sniffed (parameters kept). */
  contentType: string;
  size: number;
  /** Validators for conditional requests (RFC 9110 §8.8). */
  etag?: string;
  lastModified?: string;
  /** When the body was last fetched or revalidated, ms since epoch. */
  fetchedAt: number;
  /** Fresh until this instant (ms since epoch); after it the entry is revalidated before use. */
  freshUntil: number;
}

/** Storage for the cache (database tables in production, maps in tests). */
export interface UrlCachePort {
  get(url: string): Promise<CachedUrl | undefined>;
  /** Insert or replace the row for `entry.url`. */
  put(entry: CachedUrl): Promise<void>;
  getBlob(sha256: string): Promise<Buffer | undefined>;
  /** Store a body; storing an existing hash again is a no-op. */
  putBlob(sha256: string, bytes: Buffer): Promise<void>;
}

/** What RFC 9111 lets the cache do with a response. */
export interface Freshness {
  /** False for `no-store` (RFC 9111 §5.2.2.5): use the body once, keep nothing. */
  storable: boolean;
  /** Fresh until this instant, ms since epoch; `now` or earlier means "revalidate before every use". */
  freshUntil: number;
}

/**
 * Parse Cache-Control into lower-cased directive names and unquoted values (RFC 9111 §5.2): `name[=token|quoted-string]`,
 * separated by commas (a comma inside a quoted value does not separate). A directive whose name holds whitespace is
 * skipped. One pass over the value: the origin chooses this header (up to the fetcher's 16 KB of headers), and the
 * regular expression that parsed it before backtracked over every start position, so 15 000 letters and one space
 * held the event loop, every request of the node, for 2 to 4 s per fetch.
 */
export function parseCacheControl(value: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!value) return out;
  const n = value.length;
  let i = 0;
  while (i < n) {
    let end = i;
    while (end < n && value[end] !== '=' && value[end] !== ',') end++;
    const name = value.slice(i, end).trim().toLowerCase();
    let v = '';
    i = end;
    if (value[i] === '=') {
      i++;
      while (value[i] === ' ' || value[i] === '\t') i++;
      const start = i;
      const quoted = value[i] === '"';
      if (quoted) {
        // quoted-string (RFC 9110 §5.6.4): a backslash escapes the next character
        for (i++; i < n && value[i] !== '"'; i++) {
          if (value[i] === '\\' && i + 1 < n) i++;
          v += value[i];
        }
      }
      while (i < n && value[i] !== ',') i++; // after a quoted value, anything before the comma is ignored
      if (!quoted) v = value.slice(start, i);
    }
    i++; // past the comma
    // RFC 9111 §4.2.1: with duplicate directives the first one counts.
    if (name !== '' && !/\s/.test(name) && !out.has(name)) out.set(name, v.trim());
  }
  return out;
}

/** delta-seconds (RFC 9111 §1.2.2): digits only; undefined when absent or malformed. */
function deltaSeconds(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Math.min(Number(v), 2 ** 31);
}

/** IMF-fixdate, obsolete RFC 850 and asctime forms (RFC 9110 §5.6.7); anything else (e.g. "0", "-1") is invalid. */
const HTTP_DATE = [
  /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/,
  /^[A-Za-z]{6,9}, \d{2}-[A-Za-z]{3}-\d{2} \d{2}:\d{2}:\d{2} GMT$/,
  /^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/,
];

function httpDate(v: string | undefined): number | undefined {
  if (!v || !HTTP_DATE.some((re) => re.test(v.trim()))) return undefined;
  const t = Date.parse(v.trim());
  return Number.isNaN(t) ? undefined : t;
}

/**
 * Freshness of a response received at `now` (headers lower-cased). Lifetime per RFC 9111 §4.2.1: s-maxage (we are
 * a shared cache, §5.2.2.10) over max-age over Expires minus Date; absent all of them, `defaultTtlMs` (the
 * heuristic freshness §4.2.2 allows). The response's current age (§4.2.3: Age header, or now minus Date) is
 * subtracted. `no-cache` (§5.2.2.4) stores but always revalidates; an invalid Expires means already stale
 * (§5.3). `private` is not honoured as no-store: the gateway fetches without credentials, so the body is what any
 * requester of the URL gets.
 */
export function freshnessOf(headers: Record<string, string>, now: number, defaultTtlMs: number): Freshness {
  const cc = parseCacheControl(headers['cache-control']);
  if (cc.has('no-store')) return { storable: false, freshUntil: now };
  if (cc.has('no-cache')) return { storable: true, freshUntil: now };
  const date = httpDate(headers['date']);
  const ageHeader = deltaSeconds(headers['age']?.trim());
  const apparentAge = date === undefined ? 0 : Math.max(0, now - date);
  const currentAge = Math.max(apparentAge, (ageHeader ?? 0) * 1000);
  const maxAge = deltaSeconds(cc.get('s-maxage')) ?? deltaSeconds(cc.get('max-age'));
  if (maxAge !== undefined) return { storable: true, freshUntil: now + maxAge * 1000 - currentAge };
  if (headers['expires'] !== undefined) {
    const expires = httpDate(headers['expires']);
    if (expires === undefined) return { storable: true, freshUntil: now };
    return { storable: true, freshUntil: now + (expires - (date ?? now)) - currentAge };
  }
  return { storable: true, freshUntil: now + defaultTtlMs };
}

/** Conditional request headers for revalidating a stored entry (RFC 9110 §13.1.1-13.1.3). */
export function revalidationHeaders(entry: Pick<CachedUrl, 'etag' | 'lastModified'>): Record<string, string> {
  const h: Record<string, string> = {};
  if (entry.etag) h['if-none-match'] = entry.etag;
  if (entry.lastModified) h['if-modified-since'] = entry.lastModified;
  return h;
}

/** Remote content ready for a message part. */
export interface RemoteContent {
  sha256: string;
  contentType: string;
  size: number;
  bytes: Buffer;
  /** 'cache': fresh entry, no request; 'revalidated': 304; 'network': full body fetched. */
  source: 'cache' | 'revalidated' | 'network';
}

/** The part of the guarded fetcher the cache uses. */
export interface ContentFetcher {
  fetch(url: string, init?: { headers?: Record<string, string> }): Promise<FetchResult>;
}

/** Options of {@link RemoteContentCache}. */
export interface RemoteContentCacheOptions {
  port: UrlCachePort;
  fetcher: ContentFetcher;
  /** Freshness when the response states none. */
  defaultTtlMs: number;
  /** Cap on any freshness lifetime, however long the origin asks for (default 24 h). */
  maxTtlMs?: number;
  now?: () => number;
}

/** Hex SHA-256 of a body: the blob key. */
export const sha256Hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * URL cache with single-flight: concurrent `get`s of one URL (a campaign to many recipients) share one fetch.
 * Fetch failures (ContentFetchError) propagate unchanged; a failed revalidation does not serve the stale copy.
 */
export class RemoteContentCache {
  private readonly inflight = new SingleFlight<string, RemoteContent>();
  private readonly port: UrlCachePort;
  private readonly fetcher: ContentFetcher;
  private readonly defaultTtlMs: number;
  private readonly maxTtlMs: number;
  private readonly now: () => number;

  constructor(opts: RemoteContentCacheOptions) {
    this.port = opts.port;
    this.fetcher = opts.fetcher;
    this.defaultTtlMs = opts.defaultTtlMs;
    this.maxTtlMs = opts.maxTtlMs ?? 24 * 3_600_000;
    this.now = opts.now ?? Date.now;
  }

  /** The content at `url`: from the cache when fresh, else revalidated or fetched. */
  get(url: string): Promise<RemoteContent> {
    const key = url.trim();
    return this.inflight.run(key, () => this.load(key));
  }

  private async load(url: string): Promise<RemoteContent> {
    const entry = await this.port.get(url);
    const stored = entry ? await this.storedBody(entry) : undefined;
    if (entry && stored && entry.freshUntil > this.now()) {
      return { ...pick(entry), bytes: stored, source: 'cache' };
    }
    const conditional = entry && stored ? revalidationHeaders(entry) : {};
    const res = await this.fetcher.fetch(url, { headers: conditional });
    const now = this.now();
    if (res.status === 304 && entry && stored) {
      // RFC 9111 §4.3.4: a 304 refreshes the stored response's freshness and validators. Header fields the 304
      // does not carry keep their stored values, so a 304 without Cache-Control/Expires keeps the stored lifetime
      // (we keep the lifetime, not the headers) instead of falling back to the default TTL.
      const statesFreshness = res.headers['cache-control'] !== undefined || res.headers['expires'] !== undefined;
      const freshUntil = statesFreshness
        ? freshnessOf(res.headers, now, this.defaultTtlMs).freshUntil
        : now + Math.max(0, entry.freshUntil - entry.fetchedAt);
      const updated: CachedUrl = {
        ...entry,
        etag: res.headers['etag'] ?? entry.etag,
        lastModified: res.headers['last-modified'] ?? entry.lastModified,
        fetchedAt: now,
        freshUntil: this.cap(freshUntil, now),
      };
      await this.port.put(updated);
      return { ...pick(updated), bytes: stored, source: 'revalidated' };
    }
    const sha256 = sha256Hex(res.body);
    const content: RemoteContent = { sha256, contentType: res.contentType, size: res.body.length, bytes: res.body, source: 'network' };
    const fresh = freshnessOf(res.headers, now, this.defaultTtlMs);
    if (!fresh.storable && entry) {
      // no-store (RFC 9111 §5.2.2.5): nothing of this answer is kept, and the older entry must not outlive it either -
      // its validators would let a later 304 bring back a body the origin has since replaced. Stale and without
      // validators, it only ever leads to a full fetch.
      await this.port.put({ ...entry, etag: undefined, lastModified: undefined, fetchedAt: now, freshUntil: now });
    }
    if (fresh.storable) {
      await this.port.putBlob(sha256, res.body);
      await this.port.put({
        url,
        sha256,
        contentType: res.contentType,
        size: res.body.length,
        etag: res.headers['etag'],
        lastModified: res.headers['last-modified'],
        fetchedAt: now,
        freshUntil: this.cap(fresh.freshUntil, now),
      });
    }
    return content;
  }

  /** The stored body, when present and intact (a lost or corrupted blob means a full fetch). */
  private async storedBody(entry: CachedUrl): Promise<Buffer | undefined> {
    const b = await this.port.getBlob(entry.sha256);
    return b && sha256Hex(b) === entry.sha256 ? b : undefined;
  }

  private cap(freshUntil: number, now: number): number {
    return Math.min(freshUntil, now + this.maxTtlMs);
  }
}

function pick(e: CachedUrl): Omit<RemoteContent, 'bytes' | 'source'> {
  return { sha256: e.sha256, contentType: e.contentType, size: e.size };
}

/** In-memory UrlCachePort (tests, and a single-process deployment without a database). Unbounded: tests only. */
export class MemoryUrlCachePort implements UrlCachePort {
  readonly rows = new Map<string, CachedUrl>();
  readonly blobs = new Map<string, Buffer>();
  async get(url: string): Promise<CachedUrl | undefined> {
    const r = this.rows.get(url);
    return r ? { ...r } : undefined;
  }
  async put(entry: CachedUrl): Promise<void> {
    this.rows.set(entry.url, { ...entry });
  }
  async getBlob(sha256: string): Promise<Buffer | undefined> {
    return this.blobs.get(sha256);
  }
  async putBlob(sha256: string, bytes: Buffer): Promise<void> {
    if (!this.blobs.has(sha256)) this.blobs.set(sha256, Buffer.from(bytes));
  }
}
