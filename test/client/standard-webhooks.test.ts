import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  generateWebhookSecret,
  signWebhook,
  verifyWebhook,
  WebhookVerificationError,
} from '../../src/shared/standard-webhooks.ts';

// A fixed secret and message; the expected signature is computed here straight from the spec's recipe.
const KEY = Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'utf8');
const SECRET = 'whsec_' + KEY.toString('base64');
const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const TS = 1614265330;
const BODY = '{"test": 2432232314}';
const expected = createHmac('sha256', KEY).update(`${ID}.${TS}.${BODY}`).digest('base64');

function headers(sig: string, ts = TS): Record<string, string> {
  return { 'webhook-id': ID, 'webhook-timestamp': String(ts), 'webhook-signature': sig };
}

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof WebhookVerificationError) return e.reason;
    throw e;
  }
  return 'no error';
}

describe('Standard Webhooks signing', () => {
  it('signs as v1,<base64 HMAC-SHA256 of id.timestamp.body>', () => {
    expect(signWebhook([SECRET], ID, TS, BODY)).toBe(`v1,${expected}`);
    expect(signWebhook([SECRET], ID, TS, Buffer.from(BODY))).toBe(`v1,${expected}`);
  });

  it('signs with every active secret during a rotation', () => {
    const other = generateWebhookSecret();
    const sig = signWebhook([SECRET, other], ID, TS, BODY).split(' ');
    expect(sig).toHaveLength(2);
    expect(sig[0]).toBe(`v1,${expected}`);
    expect(sig[1]).not.toBe(sig[0]);
  });

  it('verifies a good signature within the tolerance', () => {
    expect(verifyWebhook([SECRET], headers(`v1,${expected}`), BODY, { now: TS * 1000 + 60_000 })).toBe(true);
  });

  it('accepts a message signed with either the old or the new secret', () => {
    const oldS = generateWebhookSecret();
    const newS = generateWebhookSecret();
    const now = Date.now();
    const ts = Math.floor(now / 1000);
    const byOld = signWebhook([oldS], 'id1', ts, BODY);
    const byBoth = signWebhook([oldS, newS], 'id1', ts, BODY);
    const hdr = (s: string) => ({ 'Webhook-Id': 'id1', 'Webhook-Timestamp': String(ts), 'Webhook-Signature': s });
    expect(verifyWebhook([newS, oldS], hdr(byOld), BODY, { now })).toBe(true);
    expect(verifyWebhook([newS], hdr(byBoth), BODY, { now })).toBe(true);
    expect(reason(() => verifyWebhook([newS], hdr(byOld), BODY, { now }))).toBe('NO_MATCHING_SIGNATURE');
  });

  it('refuses a changed body, a wrong secret and unknown versions', () => {
    const now = TS * 1000;
    expect(reason(() => verifyWebhook([SECRET], headers(`v1,${expected}`), BODY + ' ', { now }))).toBe('NO_MATCHING_SIGNATURE');
    expect(reason(() => verifyWebhook([generateWebhookSecret()], headers(`v1,${expected}`), BODY, { now }))).toBe(
      'NO_MATCHING_SIGNATURE',
    );
    expect(reason(() => verifyWebhook([SECRET], headers(`v2,${expected}`), BODY, { now }))).toBe('NO_MATCHING_SIGNATURE');
    expect(verifyWebhook([SECRET], headers(`v1a,x v1,${expected}`), BODY, { now })).toBe(true);
  });

  it('enforces the timestamp tolerance both ways (default 5 minutes)', () => {
    const sig = `v1,${expected}`;
    expect(reason(() => verifyWebhook([SECRET], headers(sig), BODY, { now: (TS + 301) * 1000 }))).toBe('TIMESTAMP_TOO_OLD');
    expect(reason(() => verifyWebhook([SECRET], headers(sig), BODY, { now: (TS - 301) * 1000 }))).toBe('TIMESTAMP_TOO_NEW');
    expect(verifyWebhook([SECRET], headers(sig), BODY, { now: (TS + 299) * 1000 })).toBe(true);
    expect(reason(() => verifyWebhook([SECRET], headers(sig), BODY, { now: (TS + 20) * 1000, toleranceSec: 10 }))).toBe(
      'TIMESTAMP_TOO_OLD',
    );
  });

  it('refuses missing headers and a garbled timestamp', () => {
    expect(reason(() => verifyWebhook([SECRET], { 'webhook-id': ID }, BODY))).toBe('MISSING_HEADERS');
    expect(reason(() => verifyWebhook([SECRET], headers(`v1,${expected}`, NaN), BODY))).toBe('INVALID_TIMESTAMP');
  });

  it('generates whsec_ secrets holding 32 random bytes', () => {
    const a = generateWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(a.slice(6), 'base64')).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(a);
  });
});
