/**
 * Summarise a V8 CPU profile (.cpuprofile, as written by `node --cpu-prof`, e.g. by `BENCH_PROFILE=1 npm run bench`):
 * the functions with the most self time, and self time per source file.
 *
 *   npx tsx bench/profile-top.ts bench/results/profiles/accept/<file>.cpuprofile [count] [--skip <ms>]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** One line of the summary: self time in ms and share of all samples. */
export interface Hotspot {
  name: string;
  selfMs: number;
  percent: number;
}

function shortUrl(url: string): string {
  const i = url.indexOf('/node_modules/');
  if (i >= 0) return url.slice(i + 1);
  const s = url.indexOf('/src/');
  if (s >= 0) return url.slice(s + 1);
  return url.replace(/^file:\/\//, '') || '(native)';
}

function frameKey(cf: ProfileNode['callFrame']): string {
  return `${cf.functionName || '(anonymous)'} ${shortUrl(cf.url)}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
}

/**
 * Self time per function and per file, and inclusive time (self + callees) per function, biggest first.
 * Samples in the first `skipMs` (process start-up, module loading, warm-up) are left out.
 */
export function hotspots(
  profile: CpuProfile,
  skipMs = 0,
): { functions: Hotspot[]; files: Hotspot[]; inclusive: Hotspot[]; totalMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  let t = 0;
  profile.samples.forEach((id, i) => {
    const d = profile.timeDeltas[i] ?? 0;
    t += d;
    if (t / 1000 >= skipMs) self.set(id, (self.get(id) ?? 0) + d);
  });
  const totalUs = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, us] of self) {
    const cf = byId.get(id)!.callFrame;
    const key = frameKey(cf);
    fn.set(key, (fn.get(key) ?? 0) + us);
    file.set(shortUrl(cf.url), (file.get(shortUrl(cf.url)) ?? 0) + us);
    // Inclusive: every distinct function on the stack (recursion counted once).
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const k = frameKey(byId.get(n)!.callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + us);
    }
  }
  const list = (m: Map<string, number>) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, selfMs: us / 1000, percent: (us / totalUs) * 100 }));
  return { functions: list(fn), files: list(file), inclusive: list(incl), totalMs: totalUs / 1000 };
}

function main(): void {
  const args = process.argv.slice(2);
  const skipAt = args.indexOf('--skip');
  const skipMs = skipAt >= 0 ? Number(args.splice(skipAt, 2)[1]) : 0;
  const [file, countArg] = args;
  if (!file) {
    console.error('usage: tsx bench/profile-top.ts <file.cpuprofile> [count] [--skip <ms>]');
    process.exit(2);
  }
  const count = Number(countArg ?? 25);
  const h = hotspots(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, skipMs);
  const show = (title: string, xs: Hotspot[]) => {
    console.log(`\n${title}:`);
    for (const f of xs.slice(0, count)) console.log(`${f.percent.toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.name}`);
  };
  console.log(`total sampled: ${h.totalMs.toFixed(0)} ms${skipMs ? ` (first ${skipMs} ms skipped)` : ''}`);
  show('self time by function', h.functions);
  show('self time by file', h.files);
  show('inclusive time (self + callees) by function', h.inclusive);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
