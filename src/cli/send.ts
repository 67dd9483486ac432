/**
 * `mmsgate send`: send one MT MMS through the customer client and print its mtId (the request id goes to stderr).
 * Content parts keep the order given on the command line: `--text A --file b.jpg --text C` sends text, image, text.
 */
import { MmsApiError, MmsClient, MmsNetworkError, type SendPart } from '../client/index.ts';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { clientOptions, CONNECTION_OPTIONS, intOption, parseCommandLine, printError, usageFailure, UsageError, type CliIo } from './args.ts';
import { printable } from './terminal.ts';

const USAGE = `usage: mmsgate send --to NUMBER --from NUMBER [--subject S] [--text T]... [--file F]... [--url U]...
                    [--mt-config NAME] [--operator ID] [--idempotency-key KEY]
                    [--endpoint URL]... [--account ID] [--password PW] [--timeout MS] [--ca PEMFILE]
  account and password default to $MMSGATE_ACCOUNT / $MMSGATE_PASSWORD, else the sandbox's;
  the endpoint to $MMSGATE_ENDPOINT (comma-separated), else http://127.0.0.1:8080.
`;

/** The one line of usage a wrong command line is answered with. */
const SYNOPSIS = 'usage: mmsgate send --to NUMBER --from NUMBER (--text T | --file F | --url U)... [options]';

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  to: { type: 'string' },
  from: { type: 'string' },
  subject: { type: 'string' },
  text: { type: 'string', multiple: true },
  file: { type: 'string', multiple: true },
  url: { type: 'string', multiple: true },
  'mt-config': { type: 'string' },
  operator: { type: 'string' },
  'idempotency-key': { type: 'string' },
} as const;

/** Runs `mmsgate send`; returns the exit code (0 sent, 1 refused or unreachable, 2 usage). */
export async function runSend(argv: string[], io: CliIo): Promise<number> {
  let client: MmsClient | undefined;
  try {
    const { values, tokens } = parseCommandLine(argv, OPTIONS, false);
    if (values.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    if (!values.to || !values.from) throw new UsageError('--to and --from are required');
    const parts: SendPart[] = [];
    for (const t of tokens ?? []) {
      if (t.kind !== 'option' || t.value === undefined) continue;
      if (t.name === 'text') parts.push({ text: t.value });
      else if (t.name === 'file') parts.push({ file: t.value });
      else if (t.name === 'url') parts.push({ url: t.value });
    }
    if (parts.length === 0) throw new UsageError('give at least one --text, --file or --url');
    // A file or URL named on the command line that cannot be used is a wrong command line (exit 2), found before
    // anything is sent; the client would otherwise fail on it mid-request as if the gateway had refused (exit 1).
    for (const p of parts) {
      if ('file' in p) await checkReadableFile(p.file);
      else if ('url' in p && !isHttpUrl(p.url)) throw new UsageError(`--url must be an absolute http(s) URL, got ${JSON.stringify(p.url)}`);
    }
    const key = values['idempotency-key'];
    if (key !== undefined && !/^[\x21-\x7e]{1,255}$/.test(key)) throw new UsageError('--idempotency-key must be 1 to 255 visible ASCII characters (no spaces)');
    const operator = intOption(values.operator, 'operator');
    client = new MmsClient(clientOptions(values, io.env));
    const res = await client.send({
      source: values.from,
      destination: values.to,
      parts,
      ...(values.subject !== undefined ? { subject: values.subject } : {}),
      ...(values['mt-config'] !== undefined ? { mtConfig: values['mt-config'] } : {}),
      ...(operator !== undefined ? { mobileOperatorId: operator } : {}),
      ...(values['idempotency-key'] !== undefined ? { idempotencyKey: values['idempotency-key'] } : {}),
    });
    // The gateway's words (see terminal.ts): a proxy or a wrong endpoint can answer anything.
    io.stdout.write(`${printable(res.mtId)}\n`);
    io.stderr.write(`request id: ${printable(res.requestId || '(none)')}  via ${printable(res.endpoint)}\n`);
    return 0;
  } catch (e) {
    return reportError(io, 'send', e, SYNOPSIS);
  } finally {
    await client?.close();
  }
}

/** Throws a UsageError saying why `file` cannot be sent, unless it is a regular file this process can read. */
async function checkReadableFile(file: string): Promise<void> {
  // stat + access rather than open: opening a named pipe (`--file <(cmd)`, a FIFO) would block until a writer comes,
  // and reading it here would use up what the send needs. Pipes and /dev/stdin are fine; directories are not.
  try {
    if ((await stat(file)).isDirectory()) throw new UsageError(`--file ${JSON.stringify(file)}: is a directory`);
    await access(file, constants.R_OK);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (e as Error).message;
    throw new UsageError(`--file ${JSON.stringify(file)}: ${why}`);
  }
}

function isHttpUrl(text: string): boolean {
  return URL.canParse(text) && /^https?:$/.test(new URL(text).protocol);
}

/** Prints an error the way every client command does and returns its exit code. */
export function reportError(io: CliIo, command: string, e: unknown, synopsis: string): number {
  if (e instanceof UsageError) return usageFailure(io, command, e.message, synopsis);
  if (e instanceof MmsApiError) {
    printError(io, command, `${e.code} (HTTP ${e.httpStatus}): ${e.description}${e.requestId ? `  [request id ${e.requestId}]` : ''}`);
    return 1;
  }
  if (e instanceof MmsNetworkError) {
    printError(io, command, e.message);
    return 1;
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT' || err?.code === 'EISDIR' || err?.code === 'EACCES') {
    // A --file that went away (or changed) between the check above and the read: still the command line's file.
    printError(io, command, err.message);
    return 2;
  }
  if (err instanceof TypeError) {
    printError(io, command, err.message);
    return 1;
  }
  throw e;
}
