/**
 * Latency recording and summary for the benchmark: every sample is kept (no bucketing), so percentiles are exact.
 */

/** A growable Float64Array of latency samples in milliseconds. */
export class LatencyRecorder {
  private buf: Float64Array;
  private n = 0;

  constructor(initialCapacity = 1 << 16) {
    this.buf = new Float64Array(Math.max(16, initialCapacity));
  }

  /** Add one sample (ms). */
  record(ms: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = ms;
  }

  /** Number of samples. */
  get count(): number {
    return this.n;
  }

  /** A compact copy of the samples (transferable over IPC). */
  toArray(): Float64Array {
    return this.buf.slice(0, this.n);
  }
}

/** Summary of a latency distribution, in milliseconds. */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Sort a copy and summarise. */
export function summarize(samples: Float64Array): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    mean: sorted.length ? sum / sorted.length : NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
  };
}

/** Wall-clock time in ms with sub-ms resolution, comparable across processes on one machine. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}
