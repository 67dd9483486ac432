/**
 * Periodic housekeeping on every node: delete expired idempotency keys, old done jobs and, with a retention, the
 * messages past it and the blobs nothing references any more (Store.purgeExpired, store/retention.ts).
 * Running it on all nodes at once is safe (each DELETE is a short statement over rows nobody else needs); the
 * random start offset spreads the nodes' rounds over the interval.
 */
import { startPeriodic } from '../shared/periodic.ts';
import type { PurgeCounts, Store } from '../store/store.ts';

/** Default time between purges. */
export const DEFAULT_PURGE_INTERVAL_MS = 10 * 60_000;

/** Options for startHousekeeping. */
export interface HousekeepingOptions {
  /** Time between purges (ms, at least 1 s unless `minIntervalMs` lowers it for tests); default 10 min. */
  intervalMs?: number;
  log?: (msg: string, extra?: object) => void;
  now?: () => number;
  /** Lower bound of the interval (default 1000 ms). */
  minIntervalMs?: number;
  /** Messages older than this are deleted (config `retention.messages`); 0 or absent keeps them. */
  retentionMs?: number;
  /** Where a failed purge is reported (default: `log`): a purge that keeps failing lets the store grow without bound. */
  warn?: (msg: string, extra?: object) => void;
  /** Told the outcome of every run: what it deleted, or undefined when it failed (the gateway counts both in metrics). */
  onRun?: (counts: PurgeCounts | undefined) => void;
}

/** A running housekeeping timer. */
export interface Housekeeping {
  /** Purge now (also what the timer calls); failures are logged and resolve to undefined. */
  runOnce(): Promise<PurgeCounts | undefined>;
  /** Stop the timer and wait for a purge in flight. */
  stop(): Promise<void>;
}

/** Purge every interval, first after a random fraction of it. */
export function startHousekeeping(store: Pick<Store, 'purgeExpired'>, opts: HousekeepingOptions = {}): Housekeeping {
  const interval = Math.max(opts.minIntervalMs ?? 1000, Math.floor(opts.intervalMs ?? DEFAULT_PURGE_INTERVAL_MS));
  const log = opts.log ?? (() => {});
  const warn = opts.warn ?? log;
  const onRun = opts.onRun ?? (() => {});
  const now = opts.now ?? Date.now;
  // Runs (the timer's and runOnce's) go one after another.
  let inflight: Promise<PurgeCounts | undefined> = Promise.resolve(undefined);

  /** A callback that throws must not stop housekeeping: the chain of runs below would stay rejected for good. */
  const report = (fn: () => void): void => {
    try {
      fn();
    } catch {
      // The log or the metrics failed; the next run is what matters.
    }
  };

  const runOnce = (): Promise<PurgeCounts | undefined> => {
    inflight = inflight.then(async () => {
      let counts: PurgeCounts;
      try {
        counts = await store.purgeExpired(now(), opts.retentionMs || undefined);
      } catch (err) {
        report(() => warn('purge failed', { error: (err as Error).message }));
        report(() => onRun(undefined));
        return undefined;
      }
      const retired = counts.retired ? Object.values(counts.retired).some((n) => n > 0) : false;
      if (counts.idempotencyKeys > 0 || counts.doneJobs > 0 || counts.parkedReports > 0 || retired) {
        report(() => log('purged expired rows', counts));
      }
      report(() => onRun(counts));
      return counts;
    });
    return inflight;
  };

  const timer = startPeriodic(runOnce, interval, Math.floor(Math.random() * interval));

  return {
    runOnce,
    async stop() {
      await timer.stop();
      await inflight;
    },
  };
}
