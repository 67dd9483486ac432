/**
 * Applies parked delivery reports (pipeline/inbound-sink.ts redeliverParked) every few seconds on every node: a report
 * that overtook the commit of our SubmitRsp by more than the sink's short wait reaches the customer a moment after
 * the message gets its operator message ID. Running on every node is safe (see redeliverParked).
 */

/** Default time between sweeps: the delay a parked report adds, at most, once its message has the ID. */
export const PARKED_SWEEP_INTERVAL_MS = 2_000;

export interface ParkedReportSweeper {
  /** Stop the timer and wait for a sweep in flight. */
  stop(): Promise<void>;
}

export function startParkedReportSweeper(
  sink: { redeliverParked(limit?: number): Promise<number> },
  opts: { intervalMs?: number; log?: (msg: string, extra?: object) => void } = {},
): ParkedReportSweeper {
  const interval = Math.max(10, Math.floor(opts.intervalMs ?? PARKED_SWEEP_INTERVAL_MS));
  const log = opts.log ?? (() => {});
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inflight: Promise<void> = Promise.resolve();
  const sweep = async (): Promise<void> => {
    try {
      // A full page means more may be waiting: go on at once rather than one page per interval.
      for (let n = await sink.redeliverParked(); n >= 100 && !stopped; n = await sink.redeliverParked()) {
        log('applied parked delivery reports', { count: n });
      }
    } catch (err) {
      log('applying parked delivery reports failed', { error: (err as Error).message });
    }
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      inflight = sweep().finally(schedule);
    }, interval);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inflight;
    },
  };
}
