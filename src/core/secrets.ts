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

/** Most memory one verification may take (scrypt's maxmem). */
const MAX_SCRYPT_MEM = 256 * 1024 * 1024;

/** A stored hash's parts. */
export interface ScryptHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/**
 * The parts of a stored hash, or undefined when it is malformed or names parameters scrypt cannot run here: N a power
 * of two above 1 and below 2^(16r) (RFC 7914 §2), and the memory OpenSSL takes for them (128·N·r plus 128·r·(p+2)
 * bytes) within what verification allows; a hash of at least 16 bytes.
 */
export function parseScryptHash(stored: string): ScryptHash | undefined {
  const m = /^scrypt\$(\d{1,10})\$(\d{1,4})\$(\d{1,4})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/.exec(stored);
  if (!m) return undefined;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (!(N > 1 && (N & (N - 1)) === 0 && r >= 1 && p >= 1 && Math.log2(N) < 16 * r)) return undefined;
  if (128 * N * r + 128 * r * (p + 2) > MAX_SCRYPT_MEM) return undefined;
  const hash = Buffer.from(m[5]!, 'base64');
  if (hash.length < 16) return undefined;
  return { N, r, p, salt: Buffer.from(m[4]!, 'base64'), hash };
}

/** Verify a secret against a stored hash, in constant time. Resolves false on a malformed or unusable hash. */
export function verifySecret(plain: string, stored: string): Promise<boolean> {
  const h = parseScryptHash(stored);
  if (!h) return Promise.resolve(false);
  return new Promise((resolve) => {
    try {
      scryptCb(plain, h.salt, h.hash.length, { N: h.N, r: h.r, p: h.p, maxmem: MAX_SCRYPT_MEM }, (err, got) => {
        resolve(!err && got.length === h.hash.length && timingSafeEqual(got, h.hash));
      });
    } catch {
      // Parameters node:crypto refuses synchronously (parseScryptHash should have caught them): not a match.
      resolve(false);
    }
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

/**
 * A bound on the key derivations in flight. One verifySecret is one scrypt (16 MB, about 40 ms of CPU) on libuv's
 * thread pool, 4 threads by default, which dns.lookup, file reads and image work share; without a bound, every caller
 * presenting a new wrong password queued one more derivation, and 64 of them at once made a right password wait
 * 3.6 s instead of 38 ms. Work past `maxRunning` waits in order; past `maxWaiting` too it is not started at all and
 * the caller answers at once (a retryable refusal), which costs the attacker as much as us.
 */
export class DerivationGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly maxRunning: number,
    readonly maxWaiting: number,
  ) {}

  /** Derivations running and waiting now. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Runs `work` now, or once those before it are done; undefined, with nothing run, when the gate is full. */
  tryRun<T>(work: () => Promise<T>): Promise<T> | undefined {
    if (this.running < this.maxRunning) {
      this.running++;
      return this.holding(work);
    }
    if (this.waiting.length >= this.maxWaiting) return undefined;
    return new Promise<void>((admit) => this.waiting.push(admit)).then(() => this.holding(work));
  }

  private async holding<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } finally {
      // Hand the slot straight to the next in line (running stays the same), else free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

/**
 * The gate of the customer API's password checks. Half of libuv's default pool: the other two threads stay free for
 * DNS and file and image work even while wrong passwords pour in; 32 waiting is under a second of derivations.
 */
export const passwordChecks = new DerivationGate(2, 32);

/**
 * The MM7 inbound endpoints' own gate: a flood of wrong customer passwords (passwordChecks full) must not keep an
 * operator's MMSC from logging in, nor the other way round. One derivation at a time is plenty for the few credentials
 * MMSCs use; with the customers' two, one of libuv's four threads stays free for DNS, files and images.
 */
export const operatorPasswordChecks = new DerivationGate(1, 16);

/** A keyed digest of a credential, for the verified-credential cache (never the plain text). */
export function credentialDigest(user: string, pass: string): Buffer {
  return createHmac('sha256', PROCESS_KEY).update(user).update('\0').update(pass).digest();
}
