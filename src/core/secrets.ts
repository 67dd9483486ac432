/**
 * Password hashing and constant-time comparison. scrypt (RFC 7914) from node:crypto; format
 * `scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>` so parameters can be raised later without breaking old hashes.
 * Pure computation, no I/O (node:crypto only).
 */
import { randomBytes, scryptSync, scrypt as scryptCb, timingSafeEqual, createHmac } from 'node:crypto';

const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;

/** Hash a secret for storage. */
export function hashSecret(plain: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(plain, salt, KEYLEN, { N, r: R, p: P, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Verify a secret against a stored hash, in constant time. Resolves false on a malformed hash. */
export function verifySecret(plain: string, stored: string): Promise<boolean> {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!m) return Promise.resolve(false);
  const [n, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const salt = Buffer.from(m[4]!, 'base64');
  const expected = Buffer.from(m[5]!, 'base64');
  return new Promise((resolve) => {
    scryptCb(plain, salt, expected.length, { N: n, r, p, maxmem: 256 * 1024 * 1024 }, (err, got) => {
      resolve(!err && got.length === expected.length && timingSafeEqual(got, expected));
    });
  });
}

/** Constant-time equality of two strings (lengths may differ; compared through an HMAC so timing leaks nothing). */
export function safeEqual(a: string, b: string): boolean {
  const key = PROCESS_KEY;
  const ha = createHmac('sha256', key).update(a).digest();
  const hb = createHmac('sha256', key).update(b).digest();
  return timingSafeEqual(ha, hb);
}

const PROCESS_KEY = randomBytes(32);

/** A keyed digest of a credential, for the verified-credential cache (never the plain text). */
export function credentialDigest(user: string, pass: string): Buffer {
  return createHmac('sha256', PROCESS_KEY).update(user).update('\0').update(pass).digest();
}
