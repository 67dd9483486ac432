/**
 * `mmsgate serve` as a new user runs it: a start that cannot listen (the port is taken, e.g. by a second
 * `npm start`) says what to do and exits, instead of keeping the process alive with its store open.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
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
});
