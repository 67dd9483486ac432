/**
 * The job queue (leases, polling, claims), the submit retry schedule its jobs follow, and the node's identity and
 * heartbeat in the cluster.
 */
import { z } from 'zod';
import { parseDuration } from '../core/retry-policy.ts';
import { durationAtLeast, retryDelay, scheduleSchema } from './durations.ts';

/** What node.id may hold; the default (`<hostname>-<port>`, config/load.ts) is made to fit. */
export const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

export const nodeSchema = z
  .object({
    /**
     * Letters, digits and `. _ : -`: the id is written into leases, event rows, log lines, a metrics label and the
     * claim query's JSON list of nodes that passed a job on (store/job-passing.ts), where a quote or a backslash in
     * one id could match inside another.
     */
    id: z
      .string()
      .max(64)
      .regex(NODE_ID, { message: 'letters, digits and . _ : - only (1 to 64), starting with a letter or digit' })
      .optional(),
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
  .prefault({});

export const queueSchema = z
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
  .prefault({});

export const submitScheduleSchema = scheduleSchema
  .extend({ retrySchedule: z.array(retryDelay).min(1).default(['2s', '10s', '30s', '2m', '10m', '30m'].map(parseDuration)) })
  .prefault({});
