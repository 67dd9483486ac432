/**
 * Durations in the configuration: how they are written ("500ms", "5s", "2m", "1h", "3d" or a number of milliseconds),
 * the floors below which a duration means nothing, and the retry schedules made of them.
 */
import { z } from 'zod';
import { parseDuration } from '../core/retry-policy.ts';

/** A duration in ms written back the way a config file writes it (3d, 36h, 90s, 250ms). */
export function durationText(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration: "500ms", "5s", "2m", "1h", "3d" or a number of milliseconds. Parsed to ms. */
export const duration = z
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
export const durationAtLeast = (floor: string) =>
  duration.refine((ms) => ms >= parseDuration(floor), {
    message: `must be at least ${floor} (a bare number is milliseconds: write 10s for ten seconds)`,
  });

/** The same for a duration whose 0 means "no limit". */
export const durationOffOrAtLeast = (floor: string) =>
  duration.refine((ms) => ms === 0 || ms >= parseDuration(floor), {
    message: `must be 0 (no limit) or at least ${floor} (a bare number is milliseconds: write 10s for ten seconds)`,
  });

/**
 * A retry delay: 0 (or a few ms) would retry a failing MMSC or customer endpoint in a loop until the schedule's maxAge,
 * hours of requests as fast as the other side refuses them. 50 ms: the shortest a test setup uses.
 */
export const retryDelay = durationAtLeast('50ms');

export const scheduleSchema = z
  .object({
    retrySchedule: z.array(retryDelay).min(1).default(['1s', '5s', '30s', '2m', '10m', '1h'].map(parseDuration)),
    maxAge: duration.default(parseDuration('24h')),
  })
  .strict();

/**
 * MO webhooks: the same schedule, given up after 72 h instead of 24 h. The default lives in the schema itself, not in
 * a prefault of the `mo` key, so that it still applies when `mo` is given with only some of its keys.
 */
export const moScheduleSchema = scheduleSchema.extend({ maxAge: duration.default(parseDuration('72h')) });
