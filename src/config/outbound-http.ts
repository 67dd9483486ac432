/**
 * The gateway's own requests to others' servers: webhooks to customer endpoints (delivery reports, MO) and the
 * fetching of remote content, with their schedules, timeouts and address guards.
 */
import { z } from 'zod';
import { parseDuration } from '../core/retry-policy.ts';
import { hostNameList, privateAddressPolicy } from './addresses.ts';
import { duration, durationAtLeast, moScheduleSchema, scheduleSchema } from './durations.ts';

export const webhooksSchema = z
  .object({
    reports: scheduleSchema.prefault({}),
    mo: moScheduleSchema.prefault({}),
    /** Per-request timeout. */
    timeout: durationAtLeast('1s').default(parseDuration('10s')),
    /** Other 4xx answers (not 408/429) give up after this many attempts. */
    max4xxAttempts: z.number().int().positive().default(3),
    /** Concurrent webhook requests per node (each kind: reports, MO). */
    concurrency: z.number().int().positive().default(128),
    /**
     * Address guard for customer endpoints (same rules as remoteContent). Webhook URLs come from this config
     * file, written by the gateway's operator, so private addresses are allowed by default; set false (or a CIDR
     * list) when account configuration comes from less trusted hands.
     */
    allowPrivateAddresses: privateAddressPolicy.default(true),
  })
  .strict()
  .prefault({});

export const remoteContentSchema = z
  .object({
    /**
     * SSRF guard: by default loopback, private, link-local, unique-local, multicast and metadata addresses are
     * refused (checked on every resolved address of every redirect hop). `true` allows all; a list of CIDRs
     * allows those ranges (development, self-hosting).
     */
    allowPrivateAddresses: privateAddressPolicy.default(false),
    /** Only fetch from these hosts (exact or `*.example.com`); any other host is refused before DNS. Default: any. */
    allowedHosts: hostNameList.optional(),
    timeout: durationAtLeast('1s').default(parseDuration('30s')),
    maxBytes: z.number().int().positive().default(5 * 1024 * 1024),
    /**
     * The remote content fetched for one message, all its parts together: a message naming many large remote
     * parts is refused (outcome 22) once past it, instead of being held in memory whole.
     */
    maxMessageBytes: z.number().int().positive().default(10 * 1024 * 1024),
    maxRedirects: z.number().int().min(0).max(20).default(5),
    /** Freshness when the origin gives no Cache-Control/Expires. */
    defaultTtl: duration.default(parseDuration('1h')),
    /** Cap on any freshness lifetime. */
    maxTtl: duration.default(parseDuration('24h')),
  })
  .strict()
  .prefault({});
