/**
 * operators[]: where messages go (the built-in simulator or an MMSC over MM7), what each takes, its rate and
 * concurrency, and the credentials its MMSC uses toward POST /mm7/{id}.
 */
import { z } from 'zod';
import { parseDuration } from '../core/retry-policy.ts';
import { inboundAllowIps } from './addresses.ts';
import { httpUrl, scryptHash } from './common-fields.ts';
import { duration, durationAtLeast } from './durations.ts';

const simulatorSchema = z
  .object({
    /**
     * Time from accepted submission to delivery on the virtual handset. At most 1 h: the handset's copy names the
     * submitted content, which the retention keeps on the assumption that copies follow their submission closely
     * (store/retention.ts).
     */
    deliveryDelay: duration.default(200).refine((ms) => ms <= 3_600_000, { message: 'must be at most 1h' }),
    /** userAgent reported for Retrieved messages. */
    userAgent: z.string().default('SimPhone MMS/1.0'),
    chaos: z
      .object({
        /** Probability (0..1) that a submission fails temporarily (retried by the pipeline). */
        submitTemporaryFailure: z.number().min(0).max(1).default(0),
        /** Probability (0..1) that a submission is rejected for good. */
        submitPermanentFailure: z.number().min(0).max(1).default(0),
        /** Extra latency added to every submission. */
        extraLatency: duration.default(0),
      })
      .strict()
      .default({ submitTemporaryFailure: 0, submitPermanentFailure: 0, extraLatency: 0 }),
  })
  .strict();

const mm7Schema = z
  .object({
    url: httpUrl,
    username: z.string().optional(),
    password: z.string().optional(),
    vaspId: z.string().default('mmsgate'),
    /** Default VASID; the mtConfig name when absent. */
    vasId: z.string().optional(),
    /**
     * MM7Version. No default here: when absent the connector takes the one that goes with `namespace` (5.3.0 for
     * REL-5-*, 6.8.0 for REL-6-*, mm7-status.ts defaultVersionFor), because MMSCs check the pair and refuse a
     * mismatch (4002 Unsupported version, TS 23.140 §8.7); a fixed default would pair 6.8.0 with a REL-5 namespace.
     */
    version: z.string().optional(),
    namespace: z.string().default('REL-6-MM7-1-4'),
    /**
     * ExpiryDate sent with each SubmitReq. At least 1 min: 0 (or `expiry: 48` meant as hours) would have the MMSC
     * expire every message before the handset could fetch it.
     */
    expiry: durationAtLeast('1m').default(parseDuration('2d')),
    /**
     * How ExpiryDate is written. TS 23.140 §8.1.1 allows a relative xs:duration or an absolute xs:dateTime; some
     * MMSCs take only the absolute form (Skycore documents ExpiryDate as "absolute", against "absolute or relative"
     * for EarliestDeliveryTime). `absolute`: the time `expiry` after each submission, in UTC.
     */
    expiryFormat: z.enum(['relative', 'absolute']).default('relative'),
    timeout: durationAtLeast('1s').default(parseDuration('30s')),
    /**
     * An https MMSC whose certificate is not signed by a public CA (common on operator links): a PEM file of the
     * certificates to trust for it instead of the system's roots. Read at start; the loaded config holds its text.
     */
    ca: z.string().min(1).optional(),
  })
  .strict();

export const operatorSchema = z
  .object({
    id: z.number().int().positive(),
    name: z.string().default(''),
    type: z.enum(['simulator', 'mm7']),
    /** Destination prefixes routed here when the send names no mobileOperatorId (longest prefix wins). */
    prefixes: z.array(z.string().regex(/^[0-9]{1,15}$/, 'prefixes are digits')).default([]),
    maxMessageBytes: z.number().int().positive().default(614400),
    maxImageWidth: z.number().int().positive().default(1600),
    maxImageHeight: z.number().int().positive().default(1600),
    /** Add a SMIL presentation when the customer sent none (default: on for mm7 operators, off for the simulator). */
    generateSmil: z.boolean().optional(),
    limits: z
      .object({
        /** Submissions per second to this operator (0 = unlimited). */
        messagesPerSecond: z.number().nonnegative().default(0),
        /**
         * Submissions in flight at once. Default 32 for an mm7 operator (MMSCs limit connections per VASP), 128 for
         * the simulator (in-process: enough jobs in flight to cover the store round trips at 3,000 messages/s).
         */
        concurrency: z.number().int().positive().optional(),
      })
      .strict()
      .default({ messagesPerSecond: 0 }),
    simulator: simulatorSchema.optional(),
    mm7: mm7Schema.optional(),
    /**
     * Credentials and addresses the operator's MMSC uses toward POST /mm7/{id}: Basic auth, an address allow-list, or
     * both. Without this section the endpoint refuses the operator's requests (an open endpoint would let anyone
     * report deliveries or inject MOs).
     */
    inbound: z
      .object({
        username: z.string().min(1).optional(),
        password: z.string().min(1).optional(),
        passwordHash: scryptHash.optional(),
        allowIps: inboundAllowIps.default([]),
      })
      .strict()
      .superRefine((inb, ctx) => {
        const secret = inb.password !== undefined || inb.passwordHash !== undefined;
        if (inb.username !== undefined && !secret) {
          ctx.addIssue({ code: 'custom', path: ['password'], message: 'a username needs a password or passwordHash' });
        }
        if (inb.username === undefined && secret) {
          ctx.addIssue({ code: 'custom', path: ['username'], message: 'a password needs a username' });
        }
        if (inb.username === undefined && inb.allowIps.length === 0) {
          ctx.addIssue({ code: 'custom', path: [], message: 'inbound needs a username and password, a non-empty allowIps, or both' });
        }
      })
      .optional(),
  })
  .strict()
  .superRefine((op, ctx) => {
    if (op.type === 'mm7' && !op.mm7) ctx.addIssue({ code: 'custom', path: ['mm7'], message: 'type mm7 needs an mm7 section' });
  })
  .transform((op) => ({
    ...op,
    limits: { ...op.limits, concurrency: op.limits.concurrency ?? (op.type === 'simulator' ? 128 : 32) },
    // A simulator operator without a simulator section gets its documented defaults (userAgent on MO and reports).
    simulator: op.type === 'simulator' ? (op.simulator ?? simulatorSchema.parse({})) : op.simulator,
  }));
