/**
 * The command line as a new user meets it: `mmsgate help` lists the options the README uses, and a wrong command line
 * (an unknown option, a file that is not there) exits 2 with what is wrong and one line of usage, the same way in
 * every command; 1 stays for a refusal or an unreachable gateway.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/dispatch.ts';
import { Capture } from '../client-e2e/helpers.ts';
import { accept, startFakeGateway } from '../client/fake-gateway.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function mmsgate(...argv: string[]) {
  const io = { stdout: new Capture(), stderr: new Capture(), env: {}, stdin: process.stdin };
  const code = await runCommand(argv, io);
  return { code, out: io.stdout.text, err: io.stderr.text };
}

describe('mmsgate help', () => {
  it('lists the jobs options the README uses', async () => {
    const r = await mmsgate('help');
    expect(r.code).toBe(0);
    const jobsLines = r.out.split('\n').filter((l) => /^\s*jobs\b/.test(l)).join('\n');
    for (const opt of ['--state', '--kind', '--limit', '--json', 'replay', '--all']) expect(jobsLines, opt).toContain(opt);
    expect(r.out).toMatch(/^jobs also takes \[--config FILE\] \[--data-dir DIR\]/m);
  });
});

describe('a wrong command line', () => {
  it('an unknown option exits 2 with what is wrong and one line of usage, in every command', async () => {
    for (const cmd of ['serve', 'send', 'status', 'listen', 'jobs']) {
      const r = await mmsgate(cmd, '--bogus');
      expect(r.code, cmd).toBe(2);
      expect(r.out, cmd).toBe('');
      const lines = r.err.trimEnd().split('\n');
      expect(lines, cmd).toHaveLength(2);
      expect(lines[0], cmd).toBe(`mmsgate ${cmd}: Unknown option '--bogus'`);
      expect(lines[1], cmd).toMatch(new RegExp(`^usage: mmsgate ${cmd} .*\\(all options: mmsgate ${cmd} --help\\)$`));
    }
  });

  it('every command answers --help with its usage and exit 0', async () => {
    for (const cmd of ['serve', 'send', 'status', 'listen', 'jobs']) {
      const r = await mmsgate(cmd, '--help');
      expect(r.code, cmd).toBe(0);
      expect(r.out, cmd).toMatch(new RegExp(`^usage: mmsgate ${cmd}`));
    }
  });

  it('serve with a port out of range exits 2 without starting', async () => {
    const r = await mmsgate('serve', '--port', '99999');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^mmsgate serve: --port must be an integer from 0 to 65535, got "99999"$/m);
  });

  it('send --file naming a missing file (or a folder) exits 2, says which, and sends nothing', async () => {
    const g = await startFakeGateway(accept());
    cleanups.push(() => g.close());
    const dir = await mkdtemp(join(tmpdir(), 'mmsgate-usage-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const missing = join(dir, 'missing.jpg');
    const r = await mmsgate('send', '--to', '15551230001', '--from', '88600', '--text', 'hi', '--file', missing, '--endpoint', g.url);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`mmsgate send: --file ${JSON.stringify(missing)}: no such file\n`);
    expect(r.err).toMatch(/^usage: mmsgate send /m);
    const folder = await mmsgate('send', '--to', '15551230001', '--from', '88600', '--file', dir, '--endpoint', g.url);
    expect(folder.code).toBe(2);
    expect(folder.err).toContain(`--file ${JSON.stringify(dir)}: is a directory`);
    const url = await mmsgate('send', '--to', '15551230001', '--from', '88600', '--url', 'photo.jpg', '--endpoint', g.url);
    expect(url.code).toBe(2);
    expect(url.err).toContain('--url must be an absolute http(s) URL');
    expect(g.received).toHaveLength(0);
    // The same command with a file that is there is sent (exit 0), so 2 above was the file, not the rest.
    const ok = await mmsgate('send', '--to', '15551230001', '--from', '88600', '--text', 'hi', '--endpoint', g.url);
    expect(ok.code, ok.err).toBe(0);
  });

  it('send --file takes a named pipe (as from `--file <(cmd)` or /dev/stdin) and sends what it carries', async () => {
    const g = await startFakeGateway(accept());
    cleanups.push(() => g.close());
    const dir = await mkdtemp(join(tmpdir(), 'mmsgate-usage-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const fifo = join(dir, 'photo.jpg');
    execFileSync('mkfifo', [fifo]);
    // The writer blocks until the send opens the pipe for reading; the check before it must not.
    const writer = writeFile(fifo, 'bytes from a pipe');
    const r = await mmsgate('send', '--to', '15551230001', '--from', '88600', '--file', fifo, '--endpoint', g.url);
    await writer;
    expect(r.code, r.err).toBe(0);
    expect(g.received[0]!.parts.map((p) => p.bytes.toString())).toContain('bytes from a pipe');
  });
});
