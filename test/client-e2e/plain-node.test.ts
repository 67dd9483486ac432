/**
 * The client as a customer's project uses it, without a TypeScript loader: the package's build (`npm run build`, run
 * by `npm ci` through `prepare`) turns src/client into JavaScript and type declarations under dist/, and
 * `mmsgate/client` resolves to them. Plain `node` then sends with it, and a strict TypeScript project type-checks
 * against its declarations (and gets a type error for a misuse).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT, startTestGateway, type TestGateway } from '../support/gateway.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tsc = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url));
const here = 'test/client-e2e/plain-node';

/**
 * Run `node ARGS` in the package root with only the given environment (no loader options leak in from the test run).
 * Asynchronous: the gateway under test runs in this process.
 */
function run(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

/** tsc over one file as a customer's strict NodeNext project. */
function typecheck(file: string) {
  return run([tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', `${here}/${file}`]);
}

describe('mmsgate/client without a TypeScript loader', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    const build = await run(['scripts/build-client.mjs']);
    expect(build.stderr + build.stdout).toBe('');
    expect(build.status).toBe(0);
    gw = await startTestGateway();
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
  });

  it('sends and reads status from plain node through the package name', async () => {
    const r = await run([`${here}/send.mjs`], { GATEWAY_URL: gw.url, GATEWAY_ACCOUNT: ACCOUNT.id, GATEWAY_PASSWORD: ACCOUNT.password });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { mtId: number; state: string };
    expect(Number.isSafeInteger(out.mtId) && out.mtId > 0).toBe(true);
    expect(['accepted', 'submitted', 'delivered']).toContain(out.state);
  });

  it('type-checks a strict TypeScript consumer against the published declarations, and refuses a misuse', async () => {
    const [ok, bad] = await Promise.all([typecheck('consumer.ts'), typecheck('misuse.ts')]);
    expect(ok.stdout + ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/misuse\.ts\(5,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
    // Two tsc processes at once: ~20 s each on a loaded two-core machine, over the suite's default 30 s.
  }, 120_000);
});
