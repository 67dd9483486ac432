/**
 * `mmsgate <command>`: serve | send | status | listen | jobs | hash-password.
 */
import { runServe } from './serve.ts';

const USAGE = `usage: mmsgate <command> [options]

commands:
  serve [--config FILE] [--port N] [--host H] [--data-dir DIR]   run the gateway (default: sandbox on 127.0.0.1:8080)
  send --to NUMBER --from NUMBER [--subject S] [--text T]... [--file F]... [--url U]... [--mt-config NAME]
       [--operator ID] [--idempotency-key K]                     send one MMS; prints its mtId
  status MTID [--json]                                           a message's state, outcome and events
  listen [--port 9100] [--host H] [--save-dir DIR] [--secret whsec_...]   print incoming reports and MO (a webhook sink)
  jobs [list] [--state dead] [--kind K] | jobs replay (ID... | --all)   the queue: given-up jobs, and putting them back
  hash-password                                                  print the scrypt hash of a password (asked at a terminal, else read from stdin)

send and status also take [--endpoint URL]... [--account ID] [--password PW] [--timeout MS] [--ca PEMFILE]
(or MMSGATE_ENDPOINT, comma-separated, MMSGATE_ACCOUNT, MMSGATE_PASSWORD, MMSGATE_CA; default: the sandbox on 127.0.0.1:8080).
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const io = { stdout: process.stdout, stderr: process.stderr, env: process.env };
  switch (cmd) {
    case 'serve':
      return runServe(rest, io);
    case 'send':
      return (await import('./send.ts')).runSend(rest, io);
    case 'status':
      return (await import('./status.ts')).runStatus(rest, io);
    case 'listen':
      return (await import('./listen.ts')).runListen(rest, io);
    case 'jobs':
      return (await import('./jobs.ts')).runJobs(rest, io);
    case 'hash-password':
      return (await import('./hash-password.ts')).runHashPassword(rest, { ...io, stdin: process.stdin });
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      io.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      io.stderr.write(`mmsgate: unknown command "${cmd}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`mmsgate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
