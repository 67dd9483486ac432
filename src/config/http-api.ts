/**
 * The HTTP side of a node: where it listens (and with which certificate), the customer API's limits and request
 * deadlines, the sandbox endpoints and the metrics endpoint.
 */
import { z } from 'zod';
import { parseDuration } from '../core/retry-policy.ts';
import { durationAtLeast, durationOffOrAtLeast } from './durations.ts';

export const listenSchema = z
  .object({
    // `127.0.0.1:8080` fails only at listen, as getaddrinfo's ENOTFOUND naming no key.
    host: z
      .string()
      .refine((h) => !/^[^:]*:\d+$/.test(h) && !/^\[.*\]:\d+$/.test(h), 'a host without port: the port goes in listen.port')
      .default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    /**
     * Serve HTTPS (customer API, MM7 inbound, sandbox) with this certificate chain and key (PEM files). Without
     * it the gateway speaks plain HTTP, for a TLS-terminating proxy or load balancer in front.
     */
    tls: z
      .object({
        cert: z.string().min(1),
        key: z.string().min(1),
        /** Oldest TLS version accepted (OpenMarket: TLS 1.2 or later). */
        minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
      })
      .strict()
      .optional(),
  })
  .strict()
  .default({ host: '127.0.0.1', port: 8080 });

export const apiSchema = z
  .object({
    /** Accept the OpenMarket documentation's examples as printed (see docs/api.md "Lenient multipart"). */
    lenientMultipart: z.boolean().default(true),
    maxBodyBytes: z.number().int().positive().default(5 * 1024 * 1024),
    maxParts: z.number().int().positive().default(50),
    maxPartBytes: z.number().int().positive().default(5 * 1024 * 1024),
    maxHeaderBytes: z.number().int().positive().default(8 * 1024),
    /** Dry runs (X-Dry-Run) in progress at once on a node; more are refused with 429 RATE_LIMITED (api/dry-run-slots.ts). */
    maxConcurrentDryRuns: z.number().int().positive().default(4),
    /**
     * How long a verified password stays cached (avoids a key derivation per request). At least 1 s: without the
     * cache every send costs a key derivation, two at a time per node, and the rest are refused (429).
     */
    authCacheTtl: durationAtLeast('1s').default(parseDuration('5m')),
    /**
     * How long an Idempotency-Key is remembered per account. At least 5 min: a customer retries a send whose answer
     * it missed within minutes, and a bare number meant as seconds (`idempotencyTtl: 86400`, 86 s) is refused.
     */
    idempotencyTtl: durationAtLeast('5m').default(parseDuration('24h')),
    /**
     * A request's line and headers must have arrived this long after its first byte, else 408 REQUEST_TIMEOUT
     * and the connection closes (node:http's headersTimeout). 0: no limit. Not more than requestTimeout.
     */
    headersTimeout: durationOffOrAtLeast('1s').default(parseDuration('20s')),
    /**
     * The whole request, body included, must have arrived this long after its first byte, else 408
     * REQUEST_TIMEOUT and the connection closes (node:http's requestTimeout): a client that stops sending in the
     * middle of its body holds no connection or buffered body longer. Answering may take longer. 0: no limit.
     */
    requestTimeout: durationOffOrAtLeast('1s').default(parseDuration('60s')),
  })
  .strict()
  .superRefine((api, ctx) => {
    // 0 is no limit; a value under the 1s floor already has its own error.
    if (api.headersTimeout < 1000 || api.requestTimeout < 1000 || api.headersTimeout <= api.requestTimeout) return;
    // Either may be the one set by mistake (a bare number is milliseconds): name both values.
    ctx.addIssue({
      code: 'custom',
      path: ['requestTimeout'],
      message: `requestTimeout (${api.requestTimeout} ms) must not be shorter than headersTimeout (${api.headersTimeout} ms; default 20s); durations are written like 60s, a bare number is milliseconds`,
    });
  })
  .prefault({});

export const sandboxSchema = z
  .object({
    /**
     * Serve the sandbox endpoints (/sandbox: the console, virtual handsets, MO injection, the inbox). They take no
     * credentials, so they are on by default only in the sandbox itself (no config file); with a config file only
     * when set true here, and only with a simulator operator.
     */
    enabled: z.boolean().optional(),
    /**
     * Host names the sandbox answers to besides localhost (and *.localhost), IP addresses and listen.host, e.g. a
     * container's service name. Any other Host is refused (403 SANDBOX_HOST_REFUSED): a web page can point a name
     * of its own at 127.0.0.1 (DNS rebinding) and would otherwise read the sandbox's events and inbox as same-origin.
     */
    hosts: z.array(z.string().min(1).max(253)).default([]),
  })
  .strict()
  .prefault({});

export const metricsSchema = z
  .object({
    /** Serve Prometheus metrics at GET /metrics (no authentication: restrict it at the load balancer). */
    enabled: z.boolean().default(true),
  })
  .strict()
  .prefault({});
