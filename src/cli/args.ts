/**
 * Argument helpers shared by the commands: node:util parseArgs with usage errors turned into exit code 2 and one way
 * of reporting them, and the connection options every client command takes.
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { MmsClientOptions } from '../client/index.ts';
import { printable } from './terminal.ts';

/** Streams and environment a command runs with (process's in production, captured ones in tests). */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Ends a long-running command (listen) like SIGINT would; for tests and embedding. */
  signal?: AbortSignal;
}

/** A wrong command line: the command prints it with its usage and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The sandbox's account (what `mmsgate serve` creates with no config). */
export const DEFAULT_ACCOUNT = 'Aladdin';
export const DEFAULT_PASSWORD = 'open sesame';
export const DEFAULT_ENDPOINT = 'http://127.0.0.1:8080';

/** Options every client command accepts. */
export const CONNECTION_OPTIONS = {
  endpoint: { type: 'string', multiple: true, short: 'e' },
  account: { type: 'string' },
  password: { type: 'string' },
  timeout: { type: 'string' },
  ca: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** parseArgs in strict mode with tokens; its errors become {@link UsageError}. */
export function parseCommandLine<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: O,
  allowPositionals: boolean,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true, tokens: true });
  } catch (e) {
    // parseArgs's first sentence says it ("Unknown option '--bogus'"); the rest is advice about `--` meant for
    // programs taking positional arguments that start with a dash, which only confuses here.
    const message = e instanceof Error ? e.message : String(e);
    throw new UsageError(message.split('. ')[0]!);
  }
}

/**
 * Reports a wrong command line the same way for every command: what is wrong, then one line of usage and where the
 * rest is. Returns the exit code, 2.
 */
export function usageFailure(io: Pick<CliIo, 'stderr'>, command: string, message: string, synopsis: string): number {
  io.stderr.write(`mmsgate ${command}: ${printable(message)}\n${synopsis}   (all options: mmsgate ${command} --help)\n`);
  return 2;
}

/** A positive integer option, or undefined when absent. */
export function intOption(value: string | undefined, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * Client options from the command line, then the environment (MMSGATE_ENDPOINT, comma-separated;
 * MMSGATE_ACCOUNT; MMSGATE_PASSWORD), then the sandbox defaults.
 */
export function clientOptions(
  values: { endpoint?: string[]; account?: string; password?: string; timeout?: string; ca?: string },
  env: NodeJS.ProcessEnv,
): MmsClientOptions {
  const fromEnv = (env.MMSGATE_ENDPOINT ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const endpoints = values.endpoint?.length ? values.endpoint : fromEnv.length ? fromEnv : [DEFAULT_ENDPOINT];
  for (const e of endpoints) {
    if (!URL.canParse(e) || !/^https?:$/.test(new URL(e).protocol)) throw new UsageError(`--endpoint must be an http(s) URL, got ${e}`);
  }
  const timeout = intOption(values.timeout, 'timeout', 1, 600_000);
  // A gateway with a private or self-signed certificate: trust this PEM file (MMSGATE_CA) instead of the system's roots.
  const caFile = values.ca ?? env.MMSGATE_CA;
  let ca: string | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (e) {
      throw new UsageError(`--ca: cannot read ${caFile}: ${(e as Error).message}`);
    }
  }
  return {
    endpoints,
    accountId: values.account ?? env.MMSGATE_ACCOUNT ?? DEFAULT_ACCOUNT,
    password: values.password ?? env.MMSGATE_PASSWORD ?? DEFAULT_PASSWORD,
    ...(timeout !== undefined ? { timeoutMs: timeout } : {}),
    ...(ca !== undefined ? { ca } : {}),
  };
}

/** Writes a one-line error for the command; the message often quotes a gateway's or a server's words, so it is made printable. */
export function printError(io: CliIo, command: string, message: string): void {
  io.stderr.write(`mmsgate ${command}: ${printable(message)}\n`);
}
