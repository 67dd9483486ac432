/**
 * Regenerates the tables in docs/errors.md and docs/outcomes.md from the registries (src/core/errors.ts,
 * src/core/outcomes.ts). test/core/registry-docs.test.ts fails when the docs and the registries disagree.
 * Run: npx tsx scripts/gen-docs.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { errorTable, outcomeTable } from '../src/core/registry-tables.ts';

function replaceBetween(file: string, table: string): void {
  const text = readFileSync(file, 'utf8');
  const start = '<!-- table:start -->';
  const end = '<!-- table:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < 0) throw new Error(`${file}: markers missing`);
  writeFileSync(file, `${text.slice(0, a + start.length)}\n${table}\n${text.slice(b)}`);
}

replaceBetween('docs/errors.md', errorTable());
replaceBetween('docs/outcomes.md', outcomeTable());
console.log('docs/errors.md and docs/outcomes.md regenerated');
