/**
 * The printed results table (also pasted into docs/benchmarks.md: it is valid Markdown).
 */
import type { ScenarioResult } from './scenarios.ts';

function num(n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A Markdown table, one row per scenario. */
export function formatTable(rows: readonly ScenarioResult[]): string {
  const header = ['scenario', 'throughput', 'p50 ms', 'p99 ms', 'errors', 'vs baseline', 'server CPU', 'load CPU', 'target'];
  const body = rows.map((r) =>
    r.skipped
      ? [r.title, r.skipped, '-', '-', '-', '-', '-', '-', '-']
      : [
          r.title,
          `${num(r.throughput)} ${r.unit}`,
          num(r.latency.p50, 2),
          num(r.latency.p99, 2),
          num(r.errors),
          r.ratioToBaseline === undefined ? '-' : num(r.ratioToBaseline, 2),
          r.serverCpuPercent === undefined ? '-' : `${num(r.serverCpuPercent)}%`,
          typeof r.details.loadGeneratorCpuPercent === 'number' ? `${num(r.details.loadGeneratorCpuPercent)}%` : '-',
          r.target ? `${r.target.met ? 'met' : 'NOT met'} (${r.target.description})` : '-',
        ],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}
