/**
 * The configuration schema: every setting, its default and its unit. `loadConfig` (load.ts) validates a YAML file
 * against it at start, names the bad key on error, and freezes the result; it is passed down, never global.
 * docs/configuration.md documents the same keys. The sections are defined in files of their own (accounts.ts,
 * operators.ts, http-api.ts, outbound-http.ts, queue-and-nodes.ts, storage.ts; durations.ts and common-fields.ts for
 * the field types they share); this file puts them together and checks what spans two sections.
 */
import { z } from 'zod';
import { accountSchema } from './accounts.ts';
import { durationText } from './durations.ts';
import { apiSchema, listenSchema, metricsSchema, sandboxSchema } from './http-api.ts';
import { operatorSchema } from './operators.ts';
import { remoteContentSchema, webhooksSchema } from './outbound-http.ts';
import { nodeSchema, queueSchema, submitScheduleSchema } from './queue-and-nodes.ts';
import { MIN_RETENTION_MS, retentionSchema, storeUrlSchema } from './storage.ts';

export const configSchema = z
  .object({
    listen: listenSchema,
    /** Folder for the embedded database and other files. */
    dataDir: z.string().default('./data'),
    store: storeUrlSchema,
    /** PostgreSQL connection pool size per node. */
    storePoolSize: z.number().int().positive().default(10),
    node: nodeSchema,
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
    api: apiSchema,
    sandbox: sandboxSchema,
    metrics: metricsSchema,
    retention: retentionSchema,
    accounts: z.array(accountSchema).default([]),
    operators: z.array(operatorSchema).default([]),
    webhooks: webhooksSchema,
    remoteContent: remoteContentSchema,
    submit: submitScheduleSchema,
    queue: queueSchema,
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
