/**
 * A task run every interval on a timer that never keeps the process alive, one run at a time (the next is scheduled
 * when the last has finished), stopped cleanly: housekeeping, the parked-report sweeper.
 */

export interface Periodic {
  /** Stop the timer and wait for a run in flight. */
  stop(): Promise<void>;
}

/** Run `task` after `firstDelayMs`, then `intervalMs` after each run ends. `task` must not throw (catch and log). */
export function startPeriodic(task: () => Promise<unknown>, intervalMs: number, firstDelayMs = intervalMs): Periodic {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inflight: Promise<unknown> = Promise.resolve();
  const schedule = (delay: number): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      inflight = task().finally(() => schedule(intervalMs));
    }, delay);
    timer.unref();
  };
  schedule(firstDelayMs);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inflight;
    },
  };
}
