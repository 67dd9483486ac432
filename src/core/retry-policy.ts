/**
 * Retry policy: schedules as data, and the error types that steer retry versus give-up (after BullMQ's
 * UnrecoverableError: the worker decides from the error's type, not from string matching).
 */

/** A retry schedule: delays between attempts, and how long to keep trying in total. */
export interface RetrySchedule {
  /** Delay before retry n (1-based) is `delaysMs[min(n, len) - 1]`; the last entry repeats. */
  readonly delaysMs: readonly number[];
  /** Give up once the first attempt lies this far in the past. */
  readonly maxAgeMs: number;
  /** Give up after this many attempts even if maxAge is not reached (0 = no count limit). */
  readonly maxAttempts: number;
  /** Jitter as a fraction of the delay (0.2 = +/-20 %), so that retries of many jobs spread out. */
  readonly jitter: number;
}

/**
 * Default schedules. First retries come within seconds (a blip), then spread out to hours (an outage).
 * Customer webhooks: OpenMarket retries delivery receipts for up to 24 h and MO for up to 72 h (SMS products).
 */
export const DEFAULT_SCHEDULES = {
  //                 1st   2nd   3rd    4th     5th      6th      then every hour
  webhook: schedule(['1s', '5s', '30s', '2m', '10m', '1h'], '24h'),
  mo: schedule(['1s', '5s', '30s', '2m', '10m', '1h'], '72h'),
  // Operator submissions: an MMSC outage is usually short; messages older than 24 h are stale for the user.
  submit: schedule(['2s', '10s', '30s', '2m', '10m', '30m'], '24h'),
} as const;

export function schedule(delays: readonly string[], maxAge: string, maxAttempts = 0, jitter = 0.2): RetrySchedule {
  return Object.freeze({
    delaysMs: Object.freeze(delays.map(parseDuration)),
    maxAgeMs: parseDuration(maxAge),
    maxAttempts,
    jitter,
  });
}

/** Parse "250ms", "5s", "2m", "1h", "3d" (or a bare number of milliseconds) into milliseconds. */
export function parseDuration(s: string | number): number {
  if (typeof s === 'number') return s;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(s);
  if (!m) throw new Error(`invalid duration "${s}" (use e.g. 500ms, 5s, 2m, 1h, 3d)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit]!;
  return Math.round(n * mult);
}

/**
 * When to try again after `attempts` failed attempts, or null to give up. The last attempt is at most maxAge after
 * the first.
 * `firstAttemptAt` anchors maxAge; `minDelayMs` (e.g. from Retry-After) raises the delay; `random` is injectable.
 */
export function nextAttemptAt(
  policy: RetrySchedule,
  attempts: number,
  firstAttemptAt: number,
  now: number,
  minDelayMs = 0,
  random: () => number = Math.random,
): number | null {
  if (policy.maxAttempts > 0 && attempts >= policy.maxAttempts) return null;
  const base = policy.delaysMs[Math.min(Math.max(attempts, 1), policy.delaysMs.length) - 1] ?? 1000;
  const jittered = base * (1 + policy.jitter * (2 * random() - 1));
  const deadline = firstAttemptAt + policy.maxAgeMs;
  if (now >= deadline) return null;
  const at = now + Math.max(jittered, minDelayMs);
  if (at <= deadline) return Math.round(at);
  // The schedule's next step lies past maxAge: one last attempt at the deadline rather than giving up up to a whole
  // step early (with a 1 h step, reports stopped after 23 h of a 24 h maxAge), unless the other side asked
  // (Retry-After) to wait beyond it.
  return now + minDelayMs > deadline ? null : Math.round(deadline);
}

/** A failure worth retrying (timeouts, connection errors, 5xx, 429, MM7 3xxx and 4006). */
export class TemporaryError extends Error {
  /** Lower bound for the next delay (e.g. from Retry-After), in ms. */
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs = 0) {
    super(message);
    this.name = 'TemporaryError';
    this.retryAfterMs = retryAfterMs;
  }
}

/** A failure that retrying cannot fix: the job gives up at once (BullMQ's UnrecoverableError). */
export class PermanentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentError';
  }
}

/** Unknown errors (bugs, unexpected exceptions) are retried: losing a message is worse than a late one. */
export function isPermanent(err: unknown): boolean {
  return err instanceof PermanentError;
}
