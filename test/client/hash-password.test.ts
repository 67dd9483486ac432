/**
 * `mmsgate hash-password`: from a pipe and at a terminal. The terminal cases run twice: against a stand-in stream
 * with isTTY/setRawMode (every key path, fast), and through a real pseudo-terminal (`script` from util-linux) with
 * the command as a user starts it, checking that nothing typed is echoed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MAX_PASSWORD_BYTES, runHashPassword, type PasswordInput } from '../../src/cli/hash-password.ts';
import { verifySecret } from '../../src/core/secrets.ts';
import { cliIo } from '../client-e2e/helpers.ts';

/** Keys arriving one write at a time at a terminal that records its raw-mode switches. */
function terminal(keys: string[]): { input: PasswordInput; rawModes: boolean[] } {
  const rawModes: boolean[] = [];
  const input = new PassThrough() as PassThrough & PasswordInput;
  input.isTTY = true;
  input.setRawMode = (raw: boolean) => rawModes.push(raw);
  // Each key once the command has asked (after its prompt, like a person typing).
  let i = 0;
  const typeNext = (): void => {
    if (i < keys.length) setTimeout(() => (input.write(keys[i++]!), typeNext()), 5);
  };
  typeNext();
  return { input, rawModes };
}

const hashLine = /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+\n$/;

describe('hash-password from a pipe', () => {
  it('hashes standard input without its trailing line break', async () => {
    const io = cliIo();
    expect(await runHashPassword([], { ...io, stdin: Readable.from([Buffer.from('s3cr et\n')]) })).toBe(0);
    expect(io.stdout.text).toMatch(hashLine);
    expect(await verifySecret('s3cr et', io.stdout.text.trim())).toBe(true);
  });

  it('refuses empty input, an over-long password and a password as an argument (exit 2, nothing printed)', async () => {
    for (const [args, input, says] of [
      [[], '\n', 'no password given'],
      [[], 'x'.repeat(MAX_PASSWORD_BYTES + 10), `longer than ${MAX_PASSWORD_BYTES} bytes`],
      [['hunter2'], 'x', 'takes no arguments'],
    ] as const) {
      const io = cliIo();
      expect(await runHashPassword([...args], { ...io, stdin: Readable.from([Buffer.from(input)]) })).toBe(2);
      expect(io.stdout.text).toBe('');
      expect(io.stderr.text).toContain(says);
    }
  });
});

describe('hash-password at a terminal (stand-in)', () => {
  it('asks twice with echo off and prints the hash of what was typed, Backspace applied', async () => {
    const { input, rawModes } = terminal(['pa', 'sx', '\u007f', 's\r', 'pass\r']);
    const io = cliIo();
    expect(await runHashPassword([], { ...io, stdin: input })).toBe(0);
    expect(await verifySecret('pass', io.stdout.text.trim())).toBe(true);
    expect(io.stderr.text).toBe('Password: \nAgain: \n'); // prompts only: nothing typed is written back
    expect(rawModes).toEqual([true, false, true, false]);
  });

  it('prints nothing when the two differ or on Ctrl-C, and leaves the terminal in normal mode', async () => {
    for (const [keys, code, says] of [
      [['one\r', 'two\r'], 1, 'differ'],
      [['on', '\u0003'], 1, 'interrupted'],
      [['\r'], 2, 'no password given'],
    ] as const) {
      const { input, rawModes } = terminal([...keys]);
      const io = cliIo();
      expect(await runHashPassword([], { ...io, stdin: input })).toBe(code);
      expect(io.stdout.text).toBe('');
      expect(io.stderr.text).toContain(says);
      expect(rawModes.at(-1)).toBe(false);
    }
  });
});

const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasScript)('hash-password at a real terminal (pseudo-terminal via script)', () => {
  it('prompts, echoes nothing typed, and prints a hash that verifies', async () => {
    const bin = fileURLToPath(new URL('../../bin/mmsgate.js', import.meta.url));
    // script gives the command a pseudo-terminal as stdin/stdout/stderr; what we write goes in as typed keys.
    const child = spawn('script', ['-qec', `"${process.execPath}" "${bin}" hash-password`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const seen = async (text: string): Promise<void> => {
      for (const end = Date.now() + 20_000; !out.includes(text); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() > end) throw new Error(`no "${text}" in: ${JSON.stringify(out)}`);
      }
    };
    await seen('Password: ');
    child.stdin.write('tty-pw-7\r');
    await seen('Again: ');
    child.stdin.write('tty-pw-7\r');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(out).not.toContain('tty-pw-7');
    const hash = /scrypt\$[^\s]+/.exec(out)?.[0];
    expect(hash).toBeDefined();
    expect(await verifySecret('tty-pw-7', hash!)).toBe(true);
  }, 30_000);
});
