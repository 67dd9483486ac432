/**
 * HTTP Basic authentication (RFC 7617) against the configured accounts.
 * Passwords are held only as scrypt hashes; a verified credential is cached so a correct password costs one key
 * derivation per cache lifetime, not one per request. Wrong passwords are never cached.
 *
 * The cache and why it is safe:
 * - Key: SHA-256 over (a random per-process salt, the Authorization header exactly as presented). The header holds the
 *   password (base64 is an encoding, not a secret), so neither it nor any reversible form of it is kept; only this
 *   salted digest is. A one-shot `crypto.hash` costs ~0.4 us against ~3 us for `createHmac` plus the Basic parse,
 *   which mattered at 10k requests/s (profile in docs/benchmarks.md).
 * - A hit needs a header whose digest equals a stored one, i.e. (SHA-256 second-preimage resistance) the very header
 *   that was verified with scrypt. The salt, unknown outside the process, makes stored digests useless for an offline
 *   dictionary unless the process memory is read, which would expose the same salt an HMAC key would.
 * - Timing: the Map lookup compares digests, not passwords; an attacker controls the header but not the salt, so the
 *   lookup time tells nothing about a stored credential. The miss path parses the header and runs scrypt, whose final
 *   comparison is constant-time (core/secrets.ts).
 * - A header that differs only in spelling (e.g. `basic` vs `Basic`) is a separate entry, verified once itself.
 */
import { hash, randomBytes } from 'node:crypto';
import { verifySecret as verifySecretScrypt } from '../core/secrets.ts';
import { ApiError } from '../core/errors.ts';
import { SingleFlight } from '../shared/single-flight.ts';

/** Longest Authorization header considered (a bound on what we hash and parse). */
const MAX_AUTH_HEADER = 4096;

export interface AuthAccount {
  id: string;
  passwordHash: string;
}

export interface Credentials {
  user: string;
  pass: string;
}

/** Parse an Authorization header; undefined when it is not Basic or not decodable. */
export function parseBasicAuth(header: string | undefined): Credentials | undefined {
  if (!header) return undefined;
  const m = /^\s*basic\s+([A-Za-z0-9+/=._~-]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return { user: decoded.slice(0, i), pass: decoded.slice(i + 1) };
}

export class Authenticator<A extends AuthAccount> {
  private readonly accounts = new Map<string, A>();
  /** salted digest of a verified Authorization header (base64) -> its account and expiry (ms) */
  private readonly verified = new Map<string, { account: A; expiresAt: number }>();
  private readonly maxCacheEntries = 10_000;
  /**
   * Verifications running now, by cache key, so that concurrent requests with the same header share one. Bounded by
   * the requests in flight (each entry has at least one waiting), and a wrong password is never cached or reused after.
   */
  private readonly verifying = new SingleFlight<string, A>();
  /** Per-process salt of the cache keys (see the file comment). */
  private readonly salt = randomBytes(32).toString('base64');

  constructor(
    accounts: readonly A[],
    private readonly cacheTtlMs: number,
    private readonly now: () => number = Date.now,
    /** The key derivation and comparison (core/secrets.ts); a parameter so tests can count derivations. */
    private readonly verifySecret: (plain: string, stored: string) => Promise<boolean> = verifySecretScrypt,
  ) {
    for (const a of accounts) this.accounts.set(a.id, a);
  }

  /** The account for a header verified within the cache lifetime, without any key derivation; else undefined. */
  cached(header: string | undefined): A | undefined {
    if (header === undefined || header.length > MAX_AUTH_HEADER) return undefined;
    return this.lookup(this.cacheKey(header));
  }

  /** The account for this Authorization header, or an ApiError (AUTH_REQUIRED / AUTH_INVALID). */
  async authenticate(header: string | undefined): Promise<A> {
    if (header === undefined || header.length > MAX_AUTH_HEADER) throw new ApiError('AUTH_REQUIRED');
    const key = this.cacheKey(header);
    const hit = this.lookup(key);
    if (hit !== undefined) return hit;
    // Requests that arrive together with the same header (a client opening its connections after a restart, or when
    // the cached entry expires under load) share one key derivation instead of each running its own: 64 connections
    // once cost 64 scrypt runs (~3.5 s of CPU) before the first answer.
    return this.verifying.run(key, () => this.verify(header, key));
  }

  /** The key derivation behind a cache miss; caches the account when the password is right. */
  private async verify(header: string, key: string): Promise<A> {
    const t = this.now();
    const cred = parseBasicAuth(header);
    if (!cred) throw new ApiError('AUTH_REQUIRED');
    const account = this.accounts.get(cred.user); // account IDs are case-sensitive
    if (!account) {
      // Spend the same work as for a real account so that timing does not reveal which account IDs exist.
      await this.verifySecret(cred.pass, DUMMY_HASH);
      throw new ApiError('AUTH_INVALID');
    }
    if (!(await this.verifySecret(cred.pass, account.passwordHash))) throw new ApiError('AUTH_INVALID');
    if (this.verified.size >= this.maxCacheEntries) this.verified.clear();
    this.verified.set(key, { account, expiresAt: t + this.cacheTtlMs });
    return account;
  }

  /** The salted digest a verified header is cached under (see the file comment). */
  private cacheKey(header: string): string {
    return hash('sha256', this.salt + header, 'base64');
  }

  /** The account cached under `key` if still fresh; an expired entry is dropped. */
  private lookup(key: string): A | undefined {
    const hit = this.verified.get(key);
    if (hit === undefined) return undefined;
    if (hit.expiresAt > this.now()) return hit.account;
    this.verified.delete(key);
    return undefined;
  }
}

// A fixed hash of a random string, for the unknown-account path.
const DUMMY_HASH =
  'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$q3Wc7gq6n0JZo0s6kq0b0m7m1l8sF3o0q3Wc7gq6n0I=';
