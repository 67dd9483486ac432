/**
 * HTTP Basic authentication (RFC 7617) against the configured accounts.
 * Passwords are held only as scrypt hashes; a verified credential is cached (keyed by an HMAC of the pair, never the
 * plain text) so a correct password costs one key derivation per cache lifetime, not one per request. Wrong
 * passwords are never cached, and every comparison is constant-time.
 */
import { credentialDigest, verifySecret } from '../core/secrets.ts';
import { ApiError } from '../core/errors.ts';

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
  /** digest (hex) -> expiry (ms) */
  private readonly verified = new Map<string, number>();
  private readonly maxCacheEntries = 10_000;

  constructor(
    accounts: readonly A[],
    private readonly cacheTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    for (const a of accounts) this.accounts.set(a.id, a);
  }

  /** The account for this Authorization header, or an ApiError (AUTH_REQUIRED / AUTH_INVALID). */
  async authenticate(header: string | undefined): Promise<A> {
    const cred = parseBasicAuth(header);
    if (!cred) throw new ApiError('AUTH_REQUIRED');
    const account = this.accounts.get(cred.user); // account IDs are case-sensitive
    if (!account) {
      // Spend the same work as for a real account so that timing does not reveal which account IDs exist.
      await verifySecret(cred.pass, DUMMY_HASH);
      throw new ApiError('AUTH_INVALID');
    }
    const key = credentialDigest(cred.user, cred.pass).toString('hex');
    const exp = this.verified.get(key);
    const t = this.now();
    if (exp !== undefined && exp > t) return account;
    if (!(await verifySecret(cred.pass, account.passwordHash))) throw new ApiError('AUTH_INVALID');
    if (this.verified.size >= this.maxCacheEntries) this.verified.clear();
    this.verified.set(key, t + this.cacheTtlMs);
    return account;
  }
}

// A fixed hash of a random string, for the unknown-account path.
const DUMMY_HASH =
  'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$q3Wc7gq6n0JZo0s6kq0b0m7m1l8sF3o0q3Wc7gq6n0I=';
