/**
 * The configuration example in README.md is what new users copy: it must load as printed, and mean what its
 * comments say.
 */
import { readdirSync, readFileSync } from 'node:fs';
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

describe('YAML examples in the documentation', () => {
  const files = ['README.md', ...readdirSync(new URL('../../docs/', import.meta.url)).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const examples = files.flatMap((file) => {
    const text = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
    return [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m, i) => [`${file} #${i + 1}`, m[1]!] as const);
  });

  it('there are some (README, deployment, client)', () => {
    expect(examples.length).toBeGreaterThanOrEqual(4);
  });

  // A fragment (deployment.md's cluster settings) must load by itself too: every key in it known, every value valid.
  // PEM files are not read: the TLS example names paths on a server.
  it.each(examples)('%s loads as printed', (_name, yaml) => {
    expect(() => loadConfig({ raw: parse(yaml) as Record<string, unknown>, readPemFiles: false })).not.toThrow();
  });
});
