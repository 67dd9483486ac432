/**
 * Webhook signing and verification after the Standard Webhooks specification (standardwebhooks.com, "Signature
 * scheme"): the sender adds `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, the latter a
 * space-separated list of `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`. Secrets are written
 * `whsec_<base64 key>`. During a secret rotation two secrets are active, so the sender signs with both and the
 * receiver accepts a message when any signature matches any of its secrets.
 *
 * Shared by the gateway (which signs) and the customer-side client (which verifies); node built-ins only.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefix of a Standard Webhooks secret. */
export const SECRET_PREFIX = 'whsec_';
/** Default accepted distance between the `webhook-timestamp` and the receiver's clock (spec: "e.g. 5 minutes"). */
export const DEFAULT_TOLERANCE_SEC = 300;
/** At most this many signatures are looked at in one header (bounds the work an attacker can cause). */
const MAX_SIGNATURES = 16;
/** Bound on each header's length; longer values are refused before any HMAC is computed. */
const MAX_HEADER_CHARS = 4096;

/** Why a verification failed. */
export type WebhookVerificationReason =
  | 'NO_SECRET'
  | 'INVALID_SECRET'
  | 'MISSING_HEADERS'
  | 'INVALID_TIMESTAMP'
  | 'TIMESTAMP_TOO_OLD'
  | 'TIMESTAMP_TOO_NEW'
  | 'NO_MATCHING_SIGNATURE';

/** Thrown by {@link verifyWebhook} when a message must not be trusted. */
export class WebhookVerificationError extends Error {
  /** Machine-readable reason. */
  readonly reason: WebhookVerificationReason;
  constructor(reason: WebhookVerificationReason, message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
    this.reason = reason;
  }
}

/** Headers as node:http gives them, a plain record, or a fetch `Headers`. */
export type HeaderSource =
  | Record<string, string | string[] | number | undefined>
  | { get(name: string): string | null };

/** Decodes a `whsec_...` (or bare base64) secret into its HMAC key. Throws on an empty or undecodable secret. */
export function secretKey(secret: string): Buffer {
  const b64 = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new WebhookVerificationError('INVALID_SECRET', 'A webhook secret must be whsec_ followed by base64.');
  }
  const key = Buffer.from(b64, 'base64');
  if (key.length === 0) throw new WebhookVerificationError('INVALID_SECRET', 'A webhook secret must not be empty.');
  return key;
}

/** Returns a new random secret, `whsec_` + base64 of 32 random bytes (the spec asks for 24 to 64 bytes). */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

function sign1(key: Buffer, id: string, timestampSec: number, body: Buffer | string): Buffer {
  const h = createHmac('sha256', key);
  h.update(`${id}.${timestampSec}.`);
  h.update(body);
  return h.digest();
}

/**
 * Returns the `webhook-signature` header value: one `v1,<base64>` per secret, space-separated.
 * @param secrets the active secrets (one normally, two during a rotation); at least one.
 * @param id the `webhook-id` (stable for redeliveries of the same message).
 * @param timestampSec the `webhook-timestamp`, Unix seconds.
 * @param body the exact bytes sent as the request body.
 */
export function signWebhook(secrets: string[], id: string, timestampSec: number, body: Buffer | string): string {
  if (secrets.length === 0) throw new WebhookVerificationError('NO_SECRET', 'At least one secret is needed to sign.');
  if (!Number.isSafeInteger(timestampSec)) throw new TypeError('timestampSec must be an integer number of seconds');
  return secrets.map((s) => `v1,${sign1(secretKey(s), id, timestampSec, body).toString('base64')}`).join(' ');
}

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  }
  const rec = headers as Record<string, string | string[] | number | undefined>;
  let v = rec[name];
  if (v === undefined) {
    const wanted = name.toLowerCase();
    for (const k of Object.keys(rec)) if (k.toLowerCase() === wanted) v = rec[k];
  }
  if (Array.isArray(v)) v = v.join(' ');
  return v === undefined ? undefined : String(v);
}

/** Options of {@link verifyWebhook}. */
export interface VerifyOptions {
  /** Allowed clock distance in seconds, both ways (default 300). */
  toleranceSec?: number;
  /** The receiver's clock in milliseconds (default `Date.now()`); for tests. */
  now?: number;
}

/**
 * Verifies a signed webhook. Returns true when one of the `v1` signatures matches one of the secrets and the
 * timestamp is within the tolerance; otherwise throws {@link WebhookVerificationError}. Signatures are compared in
 * constant time; unknown versions (anything but `v1`) are ignored, as the spec asks.
 */
export function verifyWebhook(
  secrets: string[],
  headers: HeaderSource,
  body: Buffer | string,
  opts: VerifyOptions = {},
): true {
  if (secrets.length === 0) throw new WebhookVerificationError('NO_SECRET', 'No secret configured to verify with.');
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const sig = header(headers, 'webhook-signature');
  if (!id || !ts || !sig) {
    throw new WebhookVerificationError('MISSING_HEADERS', 'webhook-id, webhook-timestamp and webhook-signature are required.');
  }
  if (id.length > MAX_HEADER_CHARS || sig.length > MAX_HEADER_CHARS) {
    throw new WebhookVerificationError('MISSING_HEADERS', 'A webhook signature header is too long.');
  }
  if (!/^\d{1,15}$/.test(ts.trim())) throw new WebhookVerificationError('INVALID_TIMESTAMP', 'webhook-timestamp is not a number.');
  const timestamp = Number(ts.trim());
  const nowSec = Math.floor((opts.now ?? Date.now()) / 1000);
  const tolerance = opts.toleranceSec ?? DEFAULT_TOLERANCE_SEC;
  if (timestamp < nowSec - tolerance) throw new WebhookVerificationError('TIMESTAMP_TOO_OLD', 'webhook-timestamp is too old.');
  if (timestamp > nowSec + tolerance) throw new WebhookVerificationError('TIMESTAMP_TOO_NEW', 'webhook-timestamp is in the future.');

  const given: Buffer[] = [];
  for (const entry of sig.split(' ').slice(0, MAX_SIGNATURES)) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    given.push(Buffer.from(entry.slice(comma + 1), 'base64'));
  }
  let ok = false;
  for (const s of secrets) {
    const expected = sign1(secretKey(s), id, timestamp, body);
    for (const g of given) {
      // No early exit: every pair is compared so the time taken does not depend on which one matched.
      if (g.length === expected.length && timingSafeEqual(g, expected)) ok = true;
    }
  }
  if (!ok) throw new WebhookVerificationError('NO_MATCHING_SIGNATURE', 'No webhook signature matches.');
  return true;
}
