/**
 * The `mmsgate` executable (bin/mmsgate.js): runs the command line (dispatch.ts) and sets the exit code.
 */
import { UsageError } from './args.ts';
import { runCommand } from './dispatch.ts';
import { printable } from './terminal.ts';

runCommand(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, stdin: process.stdin }).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`mmsgate: ${printable(err instanceof Error ? err.message : String(err))}\n`);
    // Every command reports its own usage errors; one that still gets here is a wrong command line all the same.
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
