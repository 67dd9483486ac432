/**
 * The configuration example in README.md is what new users copy: it must load as printed, and mean what its
 * comments say.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';

function readmeConfigExample(): unknown {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Configuration'));
  const m = /```yaml\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('no yaml block in the README Configuration section');
  return parse(m[1]!);
}

describe('README configuration example', () => {
  it('loads as printed, with its account, mtConfigs (one a test mtConfig) and operator', () => {
    const config = loadConfig({ raw: readmeConfigExample() as Record<string, unknown> });
    const acme = config.accounts.find((a) => a.id === 'acme');
    expect(Object.keys(acme!.mtConfigs).sort()).toEqual(['config1', 'default', 'testing']);
    expect(acme!.mtConfigs.testing!.simulate).toBe(true);
    expect(acme!.mtConfigs.default!.simulate ?? false).toBe(false);
    expect(config.operators.map((o) => [o.id, o.type])).toEqual([[77, 'simulator']]);
    expect(config.webhooks.mo.maxAge).toBe(72 * 3_600_000);
  });
});
