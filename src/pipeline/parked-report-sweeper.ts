/**
 * Applies parked delivery reports (pipeline/inbound-sink.ts redeliverParked) every few seconds on every node: a report
 * that overtook the commit of our SubmitRsp by more than the sink's short wait reaches the customer a moment after
 * the message gets its operator message ID. Running on every node is safe (see redeliverParked).
 */
import { startPeriodic, type Periodic } from '../shared/periodic.ts';

/** Default time between sweeps: the delay a parked report adds, at most, once its message has the ID. */
export const PARKED_SWEEP_INTERVAL_MS = 2_000;

/** Parked reports taken per page; a full page means more may be waiting. */
const PAGE = 100;

/** Start sweeping; `stop()` ends the timer and waits for a sweep in flight. */
export function startParkedReportSweeper(
  sink: { redeliverParked(limit?: number): Promise<number> },
  opts: { intervalMs?: number; log?: (msg: string, extra?: object) => void } = {},
): Periodic {
  const log = opts.log ?? (() => {});
  let stopped = false;
  const sweep = async (): Promise<void> => {
    try {
      // A full page: go on at once rather than one page per interval.
      for (let n = await sink.redeliverParked(PAGE); n >= PAGE && !stopped; n = await sink.redeliverParked(PAGE)) {
        log('applied parked delivery reports', { count: n });
      }
    } catch (err) {
      log('applying parked delivery reports failed', { error: (err as Error).message });
    }
  };
  const timer = startPeriodic(sweep, Math.max(10, Math.floor(opts.intervalMs ?? PARKED_SWEEP_INTERVAL_MS)));
  return {
    async stop() {
      stopped = true;
      await timer.stop();
    },
  };
}
