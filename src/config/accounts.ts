/**
 * accounts[]: the customers of the HTTP API, their credentials, mtConfigs, numbers, webhook secrets and send rates.
 */
import { z } from 'zod';
import { secretKey } from '../shared/standard-webhooks.ts';
import { httpUrl, scryptHash } from './common-fields.ts';

/** A Standard Webhooks secret: `whsec_` and the base64 of the key, as the signer reads it (shared/standard-webhooks.ts). */
const webhookSecret = z.string().superRefine((secret, ctx) => {
  let key: Buffer;
  try {
    if (!secret.startsWith('whsec_')) throw new Error('no whsec_ prefix');
    key = secretKey(secret);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be whsec_ followed by base64 (e.g. from `openssl rand -base64 32`)' });
    return;
  }
  if (key.length < 16) ctx.addIssue({ code: 'custom', message: 'the key must be at least 16 bytes (24 to 64 recommended)' });
});

const digits = (what: string) =>
  z.string().regex(/^[0-9]{3,15}$/, `${what} must be 3 to 15 digits, without + or spaces (e.g. 4915112345678)`);

const mtConfigSchema = z
  .object({
    /** Where delivery reports for messages sent with this mtConfig are POSTed. None: reports are kept, not sent. */
    reportUrl: httpUrl.optional(),
    /**
     * A test mtConfig (OpenMarket offers one per account): messages sent with it are validated, routed, fetched and
     * adapted as usual, but never reach an operator: the built-in simulator answers for the routed operator, with
     * the outcome the destination's test number asks for (docs/outcomes.md), and the report comes as usual.
     */
    simulate: z.boolean().optional(),
  })
  .strict();

export const accountSchema = z
  .object({
    id: z.string().min(1).max(64),
    /** Plain password (hashed with scrypt at start; the plain text is not kept). */
    password: z.string().min(1).max(256).optional(),
    /** Or a hash made by `mmsgate hash-password` (scrypt$...). */
    passwordHash: scryptHash.optional(),
    mtConfigs: z.record(z.string().min(1).max(64), mtConfigSchema).default({ default: {} }),
    numbers: z
      .array(z.object({ number: digits('number'), moUrl: httpUrl.optional() }).strict())
      .default([]),
    /** Standard Webhooks secrets ("whsec_..."); when set, reports and MO are signed. Two during rotation. */
    webhookSecrets: z.array(webhookSecret).max(2).default([]),
    /**
     * Sends (POST /mms/v2/send requests) per second for the whole cluster; each live node takes its share. Absent:
     * unlimited. Over it: 429 RATE_LIMITED with Retry-After (api/account-rate-limit.ts).
     */
    maxSendsPerSecond: z.number().positive('must be a number of sends per second above 0 (leave it out for no limit)').optional(),
    /** Sends the account may make at once after an idle period, for the whole cluster. Default: one second's worth. */
    sendBurst: z.number().int('must be a whole number of sends').min(1, 'must be at least 1').optional(),
  })
  .strict()
  .refine((a) => !!a.password !== !!a.passwordHash, { message: 'give exactly one of password or passwordHash' })
  .refine((a) => a.sendBurst === undefined || a.maxSendsPerSecond !== undefined, {
    path: ['sendBurst'],
    message: 'sendBurst needs maxSendsPerSecond (without it the account is unlimited)',
  });
