/**
 * `mmsgate <command>`: serve | send | status | listen | jobs | hash-password. Apart from main.ts (which only runs it
 * on the process's arguments) so that tests can run a command line the way a user types it.
 */
import { printable } from './terminal.ts';
import type { CliIo } from './args.ts';

export const USAGE = `usage: mmsgate <command> [options]

commands:
  serve [--config FILE] [--port N] [--host H] [--data-dir DIR]   run the gateway (default: sandbox on 127.0.0.1:8080)
  send --to NUMBER --from NUMBER [--subject S] [--text T]... [--file F]... [--url U]... [--mt-config NAME]
       [--operator ID] [--idempotency-key K]                     send one MMS; prints its mtId
  status MTID [--json]                                           a message's state, outcome and events
  listen [--port 9100] [--host H] [--save-dir DIR] [--secret whsec_...]   print incoming reports and MO (a webhook sink)
  jobs [list] [--state dead|ready|done] [--kind K] [--limit N] [--json]   the queue (default: given-up jobs, state dead)
  jobs replay (ID... | --all [--kind K])                         put given-up jobs back in the queue
  jobs discard (ID... | --all [--kind K])                        give given-up jobs up for good (done, not sent again)
  hash-password                                                  print the scrypt hash of a password (asked at a terminal, else read from stdin)

send and status also take [--endpoint URL]... [--account ID] [--password PW] [--timeout MS] [--ca PEMFILE]
(or MMSGATE_ENDPOINT, comma-separated, MMSGATE_ACCOUNT, MMSGATE_PASSWORD, MMSGATE_CA; default: the sandbox on 127.0.0.1:8080).
jobs also takes [--config FILE] [--data-dir DIR] (or MMSGATE_CONFIG): the store \`serve\` uses with the same options.
Every command takes --help. Exit codes: 0 done, 1 refused, unreachable or failed, 2 wrong command line.
`;

/** Runs one command line; returns the exit code, or -1 when the command (serve) ends the process itself. */
export async function runCommand(argv: string[], io: CliIo & { stdin: NodeJS.ReadableStream }): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'serve':
      return (await import('./serve.ts')).runServe(rest, io);
    case 'send':
      return (await import('./send.ts')).runSend(rest, io);
    case 'status':
      return (await import('./status.ts')).runStatus(rest, io);
    case 'listen':
      return (await import('./listen.ts')).runListen(rest, io);
    case 'jobs':
      return (await import('./jobs.ts')).runJobs(rest, io);
    case 'hash-password':
      return (await import('./hash-password.ts')).runHashPassword(rest, io);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      io.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      io.stderr.write(`mmsgate: unknown command "${printable(cmd)}"\n${USAGE}`);
      return 2;
  }
}
