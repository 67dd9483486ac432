/**
 * HTTP Basic authentication (RFC 7617) against the configured accounts.
 * Passwords are held only as scrypt hashes; a verified credential is cached so a correct password costs one key
 * derivation per cache lifetime, not one per request.
 *
 * The caches and why they are safe:
 * - Key: SHA-256 over (a random per-process salt, the decoded user and password). Decoded, not the header as presented:
 *   `basic`, extra spaces, missing padding and trailing characters the base64 decoder ignores all name the same
 *   credential, and keying on the raw header let one account fill the cache with spellings of its own password. The
 *   pair is what the derivation decides on, so two headers with one key always get the same answer. The header holds
 *   the password (base64 is an encoding, not a secret), so neither it nor any reversible form of it is kept; only this
 *   salted digest is. A one-shot `crypto.hash` costs ~0.4 us against ~3 us for `createHmac`, which mattered at 10k
 *   requests/s (profile in docs/benchmarks.md).
 * - A hit needs a credential whose digest equals a stored one, i.e. (SHA-256 second-preimage resistance) the very
 *   credential that was verified with scrypt. The salt, unknown outside the process, makes stored digests useless for
 *   an offline dictionary unless the process memory is read, which would expose the same salt an HMAC key would.
 * - Timing: the Map lookups compare digests, not passwords; an attacker controls the header but not the salt, so the
 *   lookup time tells nothing about a stored credential. The miss path runs scrypt, whose final comparison is
 *   constant-time (core/secrets.ts), against a dummy hash for an unknown account.
 * - Refused credentials are remembered too, for `failureTtlMs`: the same wrong header sent again (a misconfigured
 *   client retrying, or an attacker replaying one guess) is answered 401 without another derivation. An unknown
 *   account and a wrong password are remembered alike, so a repeat answers equally fast for both.
 * - Both caches are bounded and drop their least recently used entry when full; clearing everything at the bound let
 *   anyone who could fill it force every client back through scrypt at once.
 *
 * Key derivations go through a shared gate (core/secrets.ts, passwordChecks): a few run at once, a few dozen wait,
 * and beyond that a new credential is refused with RATE_LIMITED (429, Retry-After) without deriving, so a flood of
 * guesses cannot take over libuv's thread pool. Cached credentials are never held up by it.
 */
import { hash, randomBytes } from 'node:crypto';
import { passwordChecks, verifySecret as verifySecretScrypt, type DerivationGate } from '../core/secrets.ts';
import { ApiError } from '../core/errors.ts';
import { ExpiringLru } from '../shared/expiring-lru.ts';
import { SingleFlight } from '../shared/single-flight.ts';

/** Longest Authorization header considered (a bound on what we hash and parse). */
const MAX_AUTH_HEADER = 4096;

/** Seconds a client refused for lack of derivation capacity is told to wait (Retry-After). */
const BUSY_RETRY_AFTER_S = 1;

export interface AuthAccount {
  id: string;
  passwordHash: string;
}

export interface Credentials {
  user: string;
  pass: string;
}

/** Bounds of an {@link Authenticator}; every field has a default. */
export interface AuthLimits {
  /** Verified credentials kept (default 10 000); the least recently used goes first. */
  maxVerified?: number;
  /** Refused credentials kept (default 10 000); the least recently used goes first. */
  maxRefused?: number;
  /** How long a refused credential is answered 401 from memory, ms (default 60 000). */
  failureTtlMs?: number;
  /** The gate of key derivations (default: the process-wide passwordChecks). */
  gate?: DerivationGate;
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
  /** salted digest of a verified credential -> its account */
  private readonly verified: ExpiringLru<A>;
  /** salted digests of credentials refused within failureTtlMs */
  private readonly refused: ExpiringLru<true>;
  /**
   * Verifications running now, by cache key, so that concurrent requests with the same credential share one. Bounded
   * by the requests in flight (each entry has at least one waiting).
   */
  private readonly verifying = new SingleFlight<string, A>();
  /** Per-process salt of the cache keys (see the file comment). */
  private readonly salt = randomBytes(32).toString('base64');
  private readonly failureTtlMs: number;
  private readonly gate: DerivationGate;
  /** Raised by replaceAccounts: a verification that began before it does not remember its answer. */
  private generation = 0;

  constructor(
    accounts: readonly A[],
    private readonly cacheTtlMs: number,
    now: () => number = Date.now,
    /** The key derivation and comparison (core/secrets.ts); a parameter so tests can count derivations. */
    private readonly verifySecret: (plain: string, stored: string) => Promise<boolean> = verifySecretScrypt,
    limits: AuthLimits = {},
  ) {
    for (const a of accounts) this.accounts.set(a.id, a);
    this.verified = new ExpiringLru(limits.maxVerified ?? 10_000, now);
    this.refused = new ExpiringLru(limits.maxRefused ?? 10_000, now);
    this.failureTtlMs = limits.failureTtlMs ?? 60_000;
    this.gate = limits.gate ?? passwordChecks;
  }

  /**
   * Authenticate against these accounts from now on (a configuration reload): a changed password or a removed
   * account holds from the next request, and a credential refused a moment ago for an account that did not exist yet
   * is checked again. Credentials verified against a stored hash the account still has stay verified.
   */
  replaceAccounts(accounts: readonly A[]): void {
    this.generation++;
    this.accounts.clear();
    for (const a of accounts) this.accounts.set(a.id, a);
    // A credential verified against a stored hash that is still the account's stays verified (now for the reloaded
    // account): a reload costs no key derivations for unchanged passwords (a plain `password` keeps its hash across
    // reloads, config/load.ts LoadOptions.previous), and many clients do not all queue for the derivation gate at once.
    // A changed hash or a removed account drops the entry.
    this.verified.update((account) => {
      const now = this.accounts.get(account.id);
      return now !== undefined && now.passwordHash === account.passwordHash ? now : undefined;
    });
    this.refused.update(() => undefined);
  }

  /**
   * The account served under `accountId` now, if any: a request authenticated before a replaceAccounts call checks
   * with it, once its body is read, that its account has not been removed or changed meanwhile.
   */
  current(accountId: string): A | undefined {
    return this.accounts.get(accountId);
  }

  /** The account for a credential verified within the cache lifetime, without any key derivation; else undefined. */
  cached(header: string | undefined): A | undefined {
    if (header === undefined || header.length > MAX_AUTH_HEADER) return undefined;
    const cred = parseBasicAuth(header);
    return cred && this.verified.get(this.cacheKey(cred));
  }

  /** The account for this Authorization header, or an ApiError (AUTH_REQUIRED / AUTH_INVALID / RATE_LIMITED). */
  async authenticate(header: string | undefined): Promise<A> {
    if (header === undefined || header.length > MAX_AUTH_HEADER) throw new ApiError('AUTH_REQUIRED');
    const cred = parseBasicAuth(header);
    if (!cred) throw new ApiError('AUTH_REQUIRED');
    const key = this.cacheKey(cred);
    const hit = this.verified.get(key);
    if (hit !== undefined) return hit;
    if (this.refused.get(key)) throw new ApiError('AUTH_INVALID');
    // Requests that arrive together with the same credential (a client opening its connections after a restart, or
    // when the cached entry expires under load) share one key derivation instead of each running its own: 64
    // connections once cost 64 scrypt runs (~3.5 s of CPU) before the first answer.
    return this.verifying.run(key, () => this.verify(cred, key));
  }

  /** The key derivation behind a cache miss; remembers the answer either way. */
  private async verify(cred: Credentials, key: string): Promise<A> {
    const generation = this.generation;
    const account = this.accounts.get(cred.user); // account IDs are case-sensitive
    // An unknown account costs the same derivation as a real one, so timing does not reveal which account IDs exist.
    const running = this.gate.tryRun(() => this.verifySecret(cred.pass, account?.passwordHash ?? DUMMY_HASH));
    if (running === undefined) throw new ApiError('RATE_LIMITED', { cause: 'new credentials are being checked', retryAfter: BUSY_RETRY_AFTER_S });
    const ok = await running;
    // The accounts were replaced while this derivation ran: its answer is about accounts no longer served.
    if (generation !== this.generation) return this.verify(cred, key);
    if (!ok || account === undefined) {
      this.refused.set(key, true, this.failureTtlMs);
      throw new ApiError('AUTH_INVALID');
    }
    this.verified.set(key, account, this.cacheTtlMs);
    return account;
  }

  /** The salted digest a credential is cached under (see the file comment). The user holds no ':', so this is unambiguous. */
  private cacheKey(cred: Credentials): string {
    return hash('sha256', `${this.salt}${cred.user}:${cred.pass}`, 'base64');
  }
}

// A fixed hash of a random string, for the unknown-account path.
const DUMMY_HASH =
  'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$q3Wc7gq6n0JZo0s6kq0b0m7m1l8sF3o0q3Wc7gq6n0I=';
