/**
 * What package.json promises a customer who installs mmsgate: every path its `exports` map names resolves to a file
 * the package ships. Targets under dist/ come from `npm run build` (tsconfig.client.json compiles src/ into dist/),
 * so for those the source they are built from must exist; any other target must exist as it is.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { exports: Record<string, unknown>; files: string[] };

/** Every file path in an exports entry (a string, or a conditions object of strings). */
function targets(entry: unknown): string[] {
  if (typeof entry === 'string') return [entry];
  if (entry && typeof entry === 'object') return Object.values(entry).flatMap(targets);
  return [];
}

/** The file a target is, or for a built one (dist/X.js, dist/X.d.ts) the source it is built from (src/X.ts). */
function sourceOf(target: string): string {
  const m = /^\.\/dist\/(.+?)(?:\.d\.ts|\.js)$/.exec(target);
  return m ? `src/${m[1]}.ts` : target;
}

describe('package.json exports', () => {
  const entries = Object.entries(pkg.exports);

  it('names the client entry point', () => {
    expect(pkg.exports['./client']).toBeDefined();
  });

  it.each(entries)('%s resolves to a file the package has', (_subpath, entry) => {
    for (const t of targets(entry)) {
      expect(t.startsWith('./'), t).toBe(true);
      expect(existsSync(`${root}${sourceOf(t)}`), `${t} (${sourceOf(t)})`).toBe(true);
      const top = t.slice(2).split('/')[0]!;
      expect(pkg.files.some((f) => f.replace(/\/$/, '') === top || f === t.slice(2)), `${t} is not in "files"`).toBe(true);
    }
  });
});
