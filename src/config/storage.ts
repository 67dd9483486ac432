/**
 * Where the data lives (the store URL) and how long messages are kept (retention).
 */
import { z } from 'zod';
import { parseDuration } from '../core/retry-policy.ts';
import { duration } from './durations.ts';

/**
 * The shortest message retention accepted: longer than idempotency keys live (24 h) and, many times over, than the
 * store's content de-duplication window (store/blob-cache.ts BLOB_SKIP_WINDOW_MS).
 */
export const MIN_RETENTION_MS = 24 * 60 * 60 * 1000;

/** "sqlite:./data/mmsgate.db" (default, under dataDir) or "postgres://user:pass@host:port/db". */
export const storeUrlSchema = z
  .string()
  .regex(/^(sqlite:|postgres(ql)?:\/\/)/, { message: 'store must start with sqlite: or postgres://', abort: true })
  // The path is what follows `sqlite:`, so `sqlite://./data/x.db` is the absolute /data/x.db, not ./data/x.db.
  .refine((s) => !/^sqlite:\/\/(?!\/)/.test(s), 'sqlite:// is not a URL form here: write sqlite:./data/mmsgate.db (relative) or sqlite:/var/lib/mmsgate.db')
  .optional();

export const retentionSchema = z
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
  .prefault({});
