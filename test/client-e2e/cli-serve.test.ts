/**
 * `mmsgate serve` as a new user runs it: a start that cannot listen (the port is taken, e.g. by a second
 * `npm start`) says what to do and exits, instead of keeping the process alive with its store open.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/gateway.ts';

const run = promisify(execFile);

describe('mmsgate serve', () => {
  it('exits with status 1 and names the remedy when its port is already in use', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as AddressInfo).port;
    const dataDir = await mkdtemp(path.join(tmpdir(), 'mmsgate-serve-'));
    try {
      const failure = await run(process.execPath, ['bin/mmsgate.js', 'serve', '--port', String(port), '--data-dir', dataDir], {
        cwd: REPO_ROOT,
        timeout: 60_000,
      }).then(
        () => undefined,
        (err: { code?: number; killed?: boolean; stderr?: string }) => err,
      );
      expect(failure?.killed).toBe(false); // it ended by itself; the timeout did not have to kill it
      expect(failure?.code).toBe(1);
      expect(failure?.stderr).toContain(`127.0.0.1:${port} is already in use`);
      expect(failure?.stderr).toMatch(/--port/);
    } finally {
      holder.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('warns that --data-dir does not move a store the configuration names', async () => {
    const holder = createServer(); // a taken port makes the start fail right after the configuration is read
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as AddressInfo).port;
    const dir = await mkdtemp(path.join(tmpdir(), 'mmsgate-serve-'));
    try {
      const config = path.join(dir, 'mmsgate.yaml');
      await writeFile(config, `store: "sqlite:${path.join(dir, 'named.db')}"\n`);
      const failure = await run(
        process.execPath,
        ['bin/mmsgate.js', 'serve', '--config', config, '--port', String(port), '--data-dir', path.join(dir, 'other')],
        { cwd: REPO_ROOT, timeout: 60_000 },
      ).then(
        () => undefined,
        (err: { stderr?: string }) => err,
      );
      expect(failure?.stderr).toContain(`--data-dir sets dataDir, but the configuration names store sqlite:${path.join(dir, 'named.db')}`);
    } finally {
      holder.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
