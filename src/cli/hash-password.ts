/**
 * `mmsgate hash-password`: print the scrypt hash of a password, for `passwordHash` (accounts) and MM7 inbound
 * credentials in the configuration.
 *
 * At a terminal it asks twice without echoing what is typed (the password never shows on screen or in a scrollback);
 * from a pipe it reads standard input to its end (`printf %s "$PW" | mmsgate hash-password`), one trailing line break
 * dropped. Either way the password is never a command-line argument, which other users of the machine could read
 * in the process list.
 */
import { hashSecret } from '../core/secrets.ts';
import type { CliIo } from './args.ts';

/** Longest password taken, in bytes of UTF-8 (a bound on what is read and hashed). */
export const MAX_PASSWORD_BYTES = 1024;

/** Standard input as this command uses it: a terminal has isTTY and setRawMode. */
export type PasswordInput = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };

const CTRL_C = '\u0003';
const CTRL_D = '\u0004';
const BACKSPACE = ['\u007f', '\b'];

/** Runs the command; returns the exit code (0 printed, 1 mismatch or interrupted, 2 nothing usable given). */
export async function runHashPassword(args: string[], io: CliIo & { stdin: PasswordInput }): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write('usage: mmsgate hash-password   (asks at a terminal; else reads the password from standard input)\n');
    return 0;
  }
  if (args.length > 0) {
    io.stderr.write('hash-password: takes no arguments (a password on the command line shows in the process list)\n');
    return 2;
  }
  let password: string;
  if (io.stdin.isTTY && io.stdin.setRawMode) {
    const first = await promptHidden(io.stdin, io.stderr, 'Password: ');
    if (first === null) return interrupted(io);
    if (first === '') return empty(io);
    if (Buffer.byteLength(first) > MAX_PASSWORD_BYTES) return tooLong(io);
    const again = await promptHidden(io.stdin, io.stderr, 'Again: ');
    if (again === null) return interrupted(io);
    if (again !== first) {
      io.stderr.write('hash-password: the two passwords differ; nothing printed\n');
      return 1;
    }
    password = first;
  } else {
    const read = await readAll(io.stdin);
    if (read === null) return tooLong(io);
    password = read.replace(/\r?\n$/, '');
    if (password === '') return empty(io);
  }
  io.stdout.write(`${hashSecret(password)}\n`);
  return 0;
}

function empty(io: CliIo): number {
  io.stderr.write('hash-password: no password given (type it at the prompt, or pipe it on standard input)\n');
  return 2;
}

function tooLong(io: CliIo): number {
  io.stderr.write(`hash-password: the password is longer than ${MAX_PASSWORD_BYTES} bytes\n`);
  return 2;
}

function interrupted(io: CliIo): number {
  io.stderr.write('hash-password: interrupted; nothing printed\n');
  return 1;
}

/** Standard input to its end, or null once it passes MAX_PASSWORD_BYTES (plus a line break). */
async function readAll(input: NodeJS.ReadableStream): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of input) {
    const b = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
    size += b.length;
    if (size > MAX_PASSWORD_BYTES + 2) return null;
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Ask for one line at a terminal with echo off (raw mode: the terminal shows nothing typed). Enter ends it,
 * Backspace deletes the last character, Ctrl-C (and Ctrl-D on an empty line) cancels: null.
 */
function promptHidden(input: PasswordInput, output: NodeJS.WritableStream, prompt: string): Promise<string | null> {
  output.write(prompt);
  input.setRawMode!(true);
  input.setEncoding('utf8');
  input.resume();
  return new Promise((resolve) => {
    let typed: string[] = [];
    const finish = (value: string | null): void => {
      input.removeListener('data', onData);
      input.setRawMode!(false);
      input.pause();
      output.write('\n');
      resolve(value);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish(typed.join(''));
        if (ch === CTRL_C || (ch === CTRL_D && typed.length === 0)) return finish(null);
        if (BACKSPACE.includes(ch)) typed = typed.slice(0, -1);
        else if (ch >= ' ') typed.push(ch);
        // Other control characters (arrows arrive as ESC sequences) are not part of a password.
        if (typed.length > MAX_PASSWORD_BYTES) return finish(typed.join(''));
      }
    };
    input.on('data', onData);
  });
}
