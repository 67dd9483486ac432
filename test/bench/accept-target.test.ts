/**
 * How `npm run bench` judges the accept target (issue #2: >= 10,000 MT/s and >= 0.4 of the bare node:http baseline in
 * the same run). A run without the baseline (BENCH_ONLY=accept) cannot judge the ratio and must not print "met".
 */
import { describe, expect, it } from 'vitest';
import { acceptTarget, type ScenarioResult } from '../../bench/scenarios.ts';

function row(throughput: number, ratioToBaseline?: number): ScenarioResult {
  return {
    id: 'accept',
    title: 'accept',
    unit: 'MT/s',
    throughput,
    latency: { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 },
    errors: 0,
    ...(ratioToBaseline === undefined ? {} : { ratioToBaseline }),
    details: {},
  };
}

describe('accept target', () => {
  it('is met only with both halves: 10,000 MT/s and 0.4 of the baseline', () => {
    expect(acceptTarget(row(12_000, 0.41)).target?.met).toBe(true);
    expect(acceptTarget(row(12_000, 0.39)).target?.met).toBe(false);
    expect(acceptTarget(row(9_999, 0.5)).target?.met).toBe(false);
  });

  it('says the ratio was not judged when the run had no baseline', () => {
    const t = acceptTarget(row(12_000)).target!;
    expect(t.description).toContain('not judged');
    expect(acceptTarget(row(9_000)).target?.met).toBe(false);
  });
});
