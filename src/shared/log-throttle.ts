/**
 * At most one log line per key and window for an error that repeats for every request or job while it lasts (a full
 * disk, a database down): at thousands of sends per second, a line with a stack for each would bury everything else
 * in the log and cost the node the time it has least. The first occurrence is logged in full; then one per window,
 * saying how many were left out since the last.
 */
export class LogThrottle {
  private readonly state = new Map<string, { until: number; suppressed: number }>();

  constructor(
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Whether to log this occurrence of `key` (a fixed text per call site, so the map stays small): undefined to leave
   * it out, else how many were left out since the last one logged.
   */
  take(key: string): number | undefined {
    const t = this.now();
    const s = this.state.get(key);
    if (s && t < s.until) {
      s.suppressed++;
      return undefined;
    }
    const suppressed = s?.suppressed ?? 0;
    this.state.set(key, { until: t + this.windowMs, suppressed: 0 });
    return suppressed;
  }
}
