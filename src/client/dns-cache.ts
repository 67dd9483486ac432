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
}

/** Caches resolver answers per host for at most the TTL; concurrent look-ups of one host share one query. */
export class DnsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<ResolvedAddress[]>>();
  private rr = 0;

  /**
   * @param resolver where answers come from.
   * @param ttlMs cache time, clamped by {@link clampDnsTtl}.
   * @param now clock in ms (tests move it).
   */
  constructor(
    private readonly resolver: Resolver,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.ttlMs = clampDnsTtl(ttlMs);
  }

  /** True when `host` has an answer younger than the TTL (IP literals are always fresh). */
  isFresh(host: string): boolean {
    if (isIP(host)) return true;
    const e = this.entries.get(host);
    return e !== undefined && e.expires > this.now();
  }

  /** The addresses of `host`, from the cache while fresh, else from the resolver. */
  async resolve(host: string): Promise<ResolvedAddress[]> {
    const family = isIP(host);
    if (family) return [{ address: host, family: family === 6 ? 6 : 4 }];
    const e = this.entries.get(host);
    if (e && e.expires > this.now()) return e.addresses;
    let p = this.pending.get(host);
    if (!p) {
      p = this.resolver(host)
        .then((addresses) => {
          if (addresses.length === 0) throw Object.assign(new Error(`no address for ${host}`), { code: 'ENOTFOUND' });
          this.entries.set(host, { addresses, expires: this.now() + this.ttlMs });
          return addresses;
        })
        .finally(() => this.pending.delete(host));
      this.pending.set(host, p);
    }
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

/** A stable key for an answer, to notice when a name starts pointing elsewhere. */
export function addressKey(list: ResolvedAddress[]): string {
  return list
    .map((a) => a.address)
    .sort()
    .join(',');
}
