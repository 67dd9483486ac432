import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorTable, outcomeTable } from '../../src/core/registry-tables.ts';

function tableIn(file: string): string {
  const text = readFileSync(file, 'utf8');
  const m = /<!-- table:start -->\n([\s\S]*?)\n<!-- table:end -->/.exec(text);
  if (!m) throw new Error(`${file} has no generated table`);
  return m[1]!;
}

describe('published registries', () => {
  it('docs/errors.md lists exactly the error registry (regenerate with npx tsx scripts/gen-docs.ts)', () => {
    expect(tableIn('docs/errors.md')).toBe(errorTable());
  });
  it('docs/outcomes.md lists exactly the outcome table', () => {
    expect(tableIn('docs/outcomes.md')).toBe(outcomeTable());
  });
});
