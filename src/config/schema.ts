/**
 * The configuration schema: every setting, its default and its unit. `loadConfig` (load.ts) validates a YAML file
 * against it at start, names the bad key on error, and freezes the result; it is passed down, never global.
 * docs/configuration.md documents the same keys.
 */
import { z } from 'zod';
import { parseDuration } from '../core/retry-policy.ts';
import { parseScryptHash } from '../core/secrets.ts';
import { secretKey } from '../shared/standard-webhooks.ts';
import { hostNameList, inboundAllowIps, privateAddressPolicy } from './addresses.ts';

/**
 * The shortest message retention accepted: longer than idempotency keys live (24 h) and, many times over, than the
 * store's content de-duplication window (store/blob-cache.ts BLOB_SKIP_WINDOW_MS).
 */
export const MIN_RETENTION_MS = 24 * 60 * 60 * 1000;

/** A duration in ms written back the way a config file writes it (3d, 36h, 90s, 250ms). */
function durationText(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration: "500ms", "5s", "2m", "1h", "3d" or a number of milliseconds. Parsed to ms. */
const duration = z
  .union([z.string(), z.number().nonnegative()], { error: 'must be a duration (500ms, 5s, 2m, 1h, 3d) or a number of milliseconds' })
  .transform((v, ctx) => {
  try {
    return parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

/**
 * A duration that is meaningless below `floor`: most often a bare number meant as seconds (`timeout: 10`), which is
 * read as milliseconds and would time out every request, or let a running job's lease lapse (another node runs it too).
 */
const durationAtLeast = (floor: string) =>
  duration.refine((ms) => ms >= parseDuration(floor), {
    message: `must be at least ${floor} (a bare number is milliseconds: write 10s for ten seconds)`,
  });

/** The same for a duration whose 0 means "no limit". */
const durationOffOrAtLeast = (floor: string) =>
  duration.refine((ms) => ms === 0 || ms >= parseDuration(floor), {
    message: `must be 0 (no limit) or at least ${floor} (a bare number is milliseconds: write 10s for ten seconds)`,
  });

/**
 * A retry delay: 0 (or a few ms) would retry a failing MMSC or customer endpoint in a loop until the schedule's maxAge,
 * hours of requests as fast as the other side refuses them. 50 ms: the shortest a test setup uses.
 */
const retryDelay = durationAtLeast('50ms');

const httpUrl = z
  .string()
  .url({ message: 'must be an http:// or https:// URL', abort: true })
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http:// or https:// URL')
  // undici drops a URL's user:password@ without a word, so such credentials never reached the customer's endpoint or
  // the MMSC (whose answer, 401, failed every attempt), while the URL, password and all, went into job payloads, event
  // details (the status API) and `mmsgate jobs`.
  .refine((u) => {
    const url = URL.canParse(u) ? new URL(u) : undefined;
    return url === undefined || (url.username === '' && url.password === '');
  }, 'must not carry credentials (user:password@): they are not sent, and the URL is shown in events and logs; sign webhooks with webhookSecrets, give an MMSC operators[].mm7.username and password');

/**
 * A stored password hash as `mmsgate hash-password` prints it: `scrypt$N$r$p$salt$hash` (core/secrets.ts). Checked in
 * full at start: a mistyped hash would otherwise only show as every login of the account failing (401).
 */
const scryptHash = z
  .string()
  .regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/, {
    message: 'must be a hash printed by `mmsgate hash-password` (scrypt$N$r$p$salt$hash)',
    abort: true, // the range check below means nothing for a string of another form
  })
  .refine((h) => parseScryptHash(h) !== undefined, 'scrypt parameters or hash length out of range: make it again with `mmsgate hash-password`');

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

const scheduleSchema = z
  .object({
    retrySchedule: z.array(retryDelay).min(1).default(['1s', '5s', '30s', '2m', '10m', '1h'].map(parseDuration)),
    maxAge: duration.default(parseDuration('24h')),
  })
  .strict();

/**
 * MO webhooks: the same schedule, given up after 72 h instead of 24 h. The default lives in the schema itself, not in
 * a prefault of the `mo` key, so that it still applies when `mo` is given with only some of its keys.
 */
const moScheduleSchema = scheduleSchema.extend({ maxAge: duration.default(parseDuration('72h')) });

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

const accountSchema = z
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

const operatorSchema = z
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

export const configSchema = z
  .object({
    listen: z
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
      .default({ host: '127.0.0.1', port: 8080 }),
    /** Folder for the embedded database and other files. */
    dataDir: z.string().default('./data'),
    /** "sqlite:./data/mmsgate.db" (default, under dataDir) or "postgres://user:pass@host:port/db". */
    store: z
      .string()
      .regex(/^(sqlite:|postgres(ql)?:\/\/)/, { message: 'store must start with sqlite: or postgres://', abort: true })
      // The path is what follows `sqlite:`, so `sqlite://./data/x.db` is the absolute /data/x.db, not ./data/x.db.
      .refine((s) => !/^sqlite:\/\/(?!\/)/.test(s), 'sqlite:// is not a URL form here: write sqlite:./data/mmsgate.db (relative) or sqlite:/var/lib/mmsgate.db')
      .optional(),
    /** PostgreSQL connection pool size per node. */
    storePoolSize: z.number().int().positive().default(10),
    node: z
      .object({
        id: z.string().min(1).max(64).optional(),
        dataCenter: z.string().default('dc1'),
        /**
         * How often the node announces itself; a node silent for 3 intervals no longer counts as live (the count
         * splits the cluster-wide rate limits). 1 s to 10 min: 0 would write a heartbeat row continuously (the node
         * registry would round it up to 50 ms, and anything over 10 min down to it, without a word). Leases do not
         * depend on it: a running job's lease is renewed by its runner (pipeline/job-runner.ts), and a claim looks at
         * the lease's end only, never at heartbeats, so it has no bearing on queue.leaseTime.
         */
        heartbeatInterval: durationAtLeast('1s')
          .refine((ms) => ms <= parseDuration('10m'), { message: 'must be at most 10m (a dead node would count as live, keeping its share of the rate limits, for 3 intervals)' })
          .default(parseDuration('5s')),
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
    api: z
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
         * How long an Idempotency-Key is remembered per account. At least 1 h: below it a customer's retry of a send
         * whose answer it missed is sent a second time (and `idempotencyTtl: 86400` meant as seconds is refused).
         */
        idempotencyTtl: durationAtLeast('1h').default(parseDuration('24h')),
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
      .prefault({}),
    sandbox: z
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
      .prefault({}),
    metrics: z
      .object({
        /** Serve Prometheus metrics at GET /metrics (no authentication: restrict it at the load balancer). */
        enabled: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    retention: z
      .object({
        /**
         * Messages (MT and MO) created and last changed longer ago than this are deleted with their events, jobs and
         * parts, and then the content no message references any more (a day later). 0 keeps everything. A message
         * with a job still to run (a report being retried) stays until the job ends. Housekeeping applies it every
         * 10 minutes on every node (store/retention.ts).
         */
        messages: duration
          .default(parseDuration('30d'))
          .refine((ms) => ms === 0 || ms >= MIN_RETENTION_MS, {
            message: 'must be 0 (keep everything) or at least 1d (the store keeps stored content for reuse for hours past its last use)',
          }),
      })
      .strict()
      .prefault({}),
    accounts: z.array(accountSchema).default([]),
    operators: z.array(operatorSchema).default([]),
    webhooks: z
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
      .prefault({}),
    remoteContent: z
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
      .prefault({}),
    submit: scheduleSchema
      .extend({ retrySchedule: z.array(retryDelay).min(1).default(['2s', '10s', '30s', '2m', '10m', '30m'].map(parseDuration)) })
      .prefault({}),
    queue: z
      .object({
        /** A claimed job is leased for this long; a dead node's jobs are taken over after it. */
        leaseTime: durationAtLeast('1s').default(parseDuration('60s')),
        /**
         * Idle workers look for due jobs at least this often (they are woken at once for jobs this node or, on
         * PostgreSQL, another one enqueues). At least 50 ms: at 0 an idle worker would claim in a loop, one database
         * round trip after another.
         */
        pollInterval: durationAtLeast('50ms').default(parseDuration('1s')),
        /** Jobs claimed per round. */
        batchSize: z.number().int().positive().max(1000).default(200),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    // A retried send with its Idempotency-Key must find the message it replays; the retention must not delete it first.
    // (A retention under the 1d floor already has its own error.)
    if (c.retention.messages >= MIN_RETENTION_MS && c.api.idempotencyTtl > c.retention.messages) {
      ctx.addIssue({
        code: 'custom',
        path: ['retention', 'messages'],
        message: `must not be shorter than api.idempotencyTtl (${durationText(c.api.idempotencyTtl)}): a retried send would replay an mtId already deleted`,
      });
    }
  });

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type AccountConfig = Config['accounts'][number];
export type OperatorConfig = Config['operators'][number];
