/**
 * A DNS cache with a hard ceiling on how long an answer is kept. OpenMarket's global name moves to another data
 * center on failure, and customers "must ensure that their systems only cache the DNS lookup for up to one minute";
 * so answers live at most 60 s here whatever the caller configures.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';

/** One resolved address. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to its addresses (injectable for tests; the default uses the system resolver). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** The longest time an answer may be cached: one minute, per OpenMarket's connection guidance. */
export const MAX_DNS_TTL_MS = 60_000;
/** Default cache time. */
export const DEFAULT_DNS_TTL_MS = 30_000;
/** Default longest wait for an answer when the caller sets no limit of its own. */
export const DEFAULT_LOOKUP_TIMEOUT_MS = 10_000;

/** Clamps a configured TTL into [0, 60 000] ms; undefined gives the default. */
export function clampDnsTtl(ms: number | undefined): number {
  if (ms === undefined || !Number.isFinite(ms)) return DEFAULT_DNS_TTL_MS;
  return Math.min(MAX_DNS_TTL_MS, Math.max(0, Math.floor(ms)));
}

/** The system resolver: every address, in the order the system prefers. */
export const systemResolver: Resolver = async (hostname) => {
  const all = await dnsLookup(hostname, { all: true });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

interface Entry {
  addresses: ResolvedAddress[];
  expires: number;
  /** Which query produced it: a slow query that answers after a newer one must not overwrite the newer answer. */
  seq: number;
}

/** An answer and the clock time at which it stops being fresh. */
export interface CachedAnswer {
  addresses: ResolvedAddress[];
  /** In the cache's clock; Infinity for IP literals. */
  expires: number;
}

/**
 * Caches resolver answers per host for at most the TTL; concurrent look-ups of one host share one query. A query
 * is shared for at most `lookupTimeoutMs`: a resolver that never answers would otherwise hold every later caller
 * of that host forever, so after that time the next caller starts a fresh query.
 */
export class DnsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<CachedAnswer>>();
  private rr = 0;
  private seq = 0;
  /** How long one query is shared, and how long a caller without its own limit waits (ms). */
  readonly lookupTimeoutMs: number;

  /**
   * @param resolver where answers come from.
   * @param ttlMs cache time, clamped by {@link clampDnsTtl}.
   * @param now clock in ms (tests move it).
   * @param lookupTimeoutMs how long one query is shared, and the wait limit of callers that give no signal.
   */
  constructor(
    private readonly resolver: Resolver,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    lookupTimeoutMs: number = DEFAULT_LOOKUP_TIMEOUT_MS,
  ) {
    this.ttlMs = clampDnsTtl(ttlMs);
    this.lookupTimeoutMs = Number.isFinite(lookupTimeoutMs) ? Math.max(1, Math.floor(lookupTimeoutMs)) : DEFAULT_LOOKUP_TIMEOUT_MS;
  }

  /** True when `host` has an answer younger than the TTL (IP literals are always fresh). */
  isFresh(host: string): boolean {
    if (isIP(host)) return true;
    const e = this.entries.get(host);
    return e !== undefined && e.expires > this.now();
  }

  /**
   * The addresses of `host`, from the cache while fresh, else from the resolver. Waits until `signal` aborts
   * (default: `lookupTimeoutMs`), then rejects with an `ETIMEOUT` error.
   */
  async resolve(host: string, signal?: AbortSignal): Promise<ResolvedAddress[]> {
    return (await this.answer(host, signal)).addresses;
  }

  /** Like {@link resolve}, with the time the answer stops being fresh. */
  async answer(host: string, signal?: AbortSignal): Promise<CachedAnswer> {
    const family = isIP(host);
    if (family) return { addresses: [{ address: host, family: family === 6 ? 6 : 4 }], expires: Infinity };
    const e = this.entries.get(host);
    if (e && e.expires > this.now()) return { addresses: e.addresses, expires: e.expires };
    const p = this.pending.get(host) ?? this.query(host);
    return waitFor(p, signal ?? AbortSignal.timeout(this.lookupTimeoutMs), host);
  }

  private query(host: string): Promise<CachedAnswer> {
    const seq = ++this.seq;
    const p = new Promise<ResolvedAddress[]>((resolve) => resolve(this.resolver(host))).then((addresses) => {
      if (addresses.length === 0) throw Object.assign(new Error(`no address for ${host}`), { code: 'ENOTFOUND' });
      const expires = this.now() + this.ttlMs;
      const current = this.entries.get(host);
      if (!current || current.seq < seq) this.entries.set(host, { addresses, expires, seq });
      return { addresses, expires };
    });
    this.pending.set(host, p);
    // Only this query's own entry is removed: once it was given up, a fresh query may be pending under the name.
    const forget = () => {
      if (this.pending.get(host) === p) this.pending.delete(host);
    };
    const timer = setTimeout(forget, this.lookupTimeoutMs);
    timer.unref();
    p.finally(() => {
      clearTimeout(timer);
      forget();
    }).catch(() => undefined);
    return p;
  }

  /**
   * A `lookup` for net.connect / tls.connect (undici's `connect.lookup`): answers from this cache. With
   * `all: true` (Node's happy-eyeballs path) every address is given; otherwise they are handed out in turn so that
   * parallel connections spread over the addresses.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.resolve(hostname).then(
      (list) => {
        const wanted = options.family === 4 || options.family === 6 ? list.filter((a) => a.family === options.family) : list;
        if (wanted.length === 0) {
          callback(Object.assign(new Error(`no IPv${options.family} address for ${hostname}`), { code: 'ENOTFOUND' }), '', 4);
        } else if (options.all) {
          (callback as unknown as (e: null, a: ResolvedAddress[]) => void)(null, wanted);
        } else {
          const a = wanted[this.rr++ % wanted.length]!;
          callback(null, a.address, a.family);
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 4),
    );
  };
}

/** `p`, or an `ETIMEOUT` rejection when `signal` aborts first (the query itself goes on for other callers). */
function waitFor<T>(p: Promise<T>, signal: AbortSignal, host: string): Promise<T> {
  const abortError = () => {
    const reason: unknown = signal.reason;
    if (reason instanceof Error && reason.name === 'TimeoutError') {
      return Object.assign(new Error(`DNS lookup of ${host} timed out`), { code: 'ETIMEOUT', cause: reason });
    }
    return reason instanceof Error ? reason : new Error(`DNS lookup of ${host} aborted`, { cause: reason });
  };
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** A stable key for an answer, to notice when a name starts pointing elsewhere. */
export function addressKey(list: ResolvedAddress[]): string {
  return list
    .map((a) => a.address)
    .sort()
    .join(',');
}
