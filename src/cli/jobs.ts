/**
 * `mmsgate jobs`: the operator's view of the work queue, straight on the store the gateway uses (the same
 * `--config` / `--data-dir` as `serve`; SQLite may stay open by a running gateway, PostgreSQL is shared by all nodes).
 *
 *   mmsgate jobs [list] [--state dead] [--kind report] [--limit 50] [--json]
 *   mmsgate jobs replay ID...            move given-up (dead) jobs back to the queue, attempts reset
 *   mmsgate jobs replay --all [--kind K] every dead job (of one kind)
 *   mmsgate jobs discard ID... | --all [--kind K]   give dead jobs up for good (done; they stop counting as dead)
 *
 * Why: a delivery that gave up (a customer endpoint down for longer than `webhooks.reports.maxAge`, a 4xx answered
 * `max4xxAttempts` times) stays as a dead job with its last error; once the cause is fixed, replaying it sends it
 * again. A replay wakes the nodes at once on PostgreSQL (NOTIFY); a gateway on the same SQLite file picks it up at
 * its next poll (`queue.pollInterval`).
 */
import { AccountBook } from '../api/account-book.ts';
import type { ApiAccount } from '../api/context.ts';
import { ConfigError, loadConfig } from '../config/load.ts';
import { webhookUrl } from '../pipeline/webhook-steps.ts';
import { openStore } from '../store/open-store.ts';
import { JOB_KINDS, type Job, type JobState, type Store } from '../store/store.ts';
import { intOption, parseCommandLine, usageFailure, UsageError, type CliIo } from './args.ts';
import { printable, safeJson } from './terminal.ts';

const USAGE = `usage: mmsgate jobs [list] [--state dead|ready|done] [--kind K] [--limit N] [--json] [--config FILE] [--data-dir DIR]
       mmsgate jobs replay (ID... | --all [--kind K]) [--config FILE] [--data-dir DIR]
       mmsgate jobs discard (ID... | --all [--kind K]) [--config FILE] [--data-dir DIR]

Lists the gateway's jobs (default: the given-up ones, state dead, newest first), puts dead jobs back in the queue
(replay), or gives them up for good (discard: they become done, marked "discarded", and stop counting as dead).
Kinds: submit (to the operator), report (delivery report to the customer), mo (MO to the customer), sim-deliver.
The store is the one \`mmsgate serve\` with the same --config / --data-dir uses (or MMSGATE_CONFIG).
`;

/** The one line of usage a wrong command line is answered with. */
const SYNOPSIS = 'usage: mmsgate jobs [list] [--state S] [--kind K] [--limit N] [--json] | mmsgate jobs replay|discard (ID... | --all [--kind K])';

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  'data-dir': { type: 'string' },
  state: { type: 'string' },
  kind: { type: 'string' },
  limit: { type: 'string' },
  all: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const STATES: readonly JobState[] = ['ready', 'done', 'dead'];
/** Most jobs `replay --all` or `discard --all` changes in one run (run it again for more). */
const MAX_REPLAY_ALL = 1000;

/** Runs `mmsgate jobs`; returns the exit code (0 done, 1 a job not replayable or a store error, 2 usage). */
export async function runJobs(argv: string[], io: CliIo): Promise<number> {
  let store: Store | undefined;
  try {
    const { values, positionals } = parseCommandLine(argv, OPTIONS, true);
    if (values.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    const [action = 'list', ...ids] = positionals;
    if (action !== 'list' && action !== 'replay' && action !== 'discard') throw new UsageError(`unknown action "${action}" (list, replay or discard)`);
    const kind = oneOf(values.kind, JOB_KINDS, 'kind');
    // Only the store is needed: not the TLS key (which an operator running this may not be allowed to read).
    const config = loadConfig({ file: values.config ?? io.env.MMSGATE_CONFIG, dataDir: values['data-dir'], readPemFiles: false });
    if (action === 'list') {
      if (ids.length > 0) throw new UsageError('list takes no IDs');
      const state = oneOf(values.state, STATES, 'state') ?? 'dead';
      const limit = intOption(values.limit, 'limit', 1, 1000) ?? 50;
      store = await openStore(config.storeUrl, { poolSize: 1 });
      const jobs = await store.listJobs({ state, ...(kind ? { kind } : {}), limit });
      const book = new AccountBook(config.accounts as unknown as ApiAccount[]);
      io.stdout.write(values.json ? `${safeJson(jobs.map((j) => publicJob(j, book)))}\n` : formatJobs(jobs, state, book));
      return 0;
    }
    if (values.state !== undefined || values.limit !== undefined || values.json) throw new UsageError(`${action} takes IDs or --all [--kind K]`);
    if (Boolean(values.all) === (ids.length > 0)) throw new UsageError('give job IDs or --all, not both or neither');
    const jobIds = [...new Set(ids.map((id) => jobId(id)))];
    if (kind && !values.all) throw new UsageError('--kind goes with --all');
    store = await openStore(config.storeUrl, { poolSize: 1 });
    const targets = values.all
      ? (await store.listJobs({ state: 'dead', ...(kind ? { kind } : {}), limit: MAX_REPLAY_ALL })).map((j) => j.id)
      : jobIds;
    const apply = action === 'replay' ? (id: number) => store!.replayJob(id, Date.now()) : (id: number) => store!.discardJob(id, Date.now());
    const done = action === 'replay' ? 'replayed' : 'discarded';
    let changed = 0;
    const refused: number[] = [];
    const failed: string[] = [];
    for (const id of targets) {
      // One job that cannot be changed now (the store busy, a lock conflict) must not hide what happened to the others.
      try {
        if (await apply(id)) changed++;
        else refused.push(id);
      } catch (err) {
        failed.push(`${id} (${printable((err as Error).message)})`);
      }
    }
    io.stdout.write(`${done} ${changed} job${changed === 1 ? '' : 's'}\n`);
    const why = action === 'replay' ? 'not dead, no such job, or its message was deleted (retention)' : 'not dead, or no such job';
    if (refused.length > 0) io.stderr.write(`mmsgate jobs: ${why}; left as they are: ${refused.join(', ')}\n`);
    if (failed.length > 0) io.stderr.write(`mmsgate jobs: could not ${action} now, try again: ${failed.join(', ')}\n`);
    if (values.all && targets.length === MAX_REPLAY_ALL) io.stdout.write(`(at most ${MAX_REPLAY_ALL} per run: run it again for more)\n`);
    return refused.length > 0 || failed.length > 0 ? 1 : 0;
  } catch (e) {
    if (e instanceof UsageError) return usageFailure(io, 'jobs', e.message, SYNOPSIS);
    if (e instanceof ConfigError) {
      io.stderr.write(`mmsgate jobs: ${e.message}\n`);
      return 2;
    }
    io.stderr.write(`mmsgate jobs: ${printable(e instanceof Error ? e.message : String(e))}\n`);
    return 1;
  } finally {
    await store?.close();
  }
}

function jobId(text: string): number {
  if (!/^\d{1,15}$/.test(text) || Number(text) < 1) throw new UsageError(`job IDs are positive integers, got ${JSON.stringify(text)}`);
  return Number(text);
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], name: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

/**
 * A job as `--json` prints it: the queue's fields, times as ISO strings, without the payload's message bodies. `url`:
 * where a report or MO job posts when it runs, with the accounts of the configuration given (webhookUrl).
 */
function publicJob(j: Job, book: AccountBook) {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  const url = webhookUrl(j, book);
  return {
    id: j.id,
    kind: j.kind,
    refId: j.refId,
    state: j.state,
    attempts: j.attempts,
    firstAttemptAt: iso(j.firstAttemptAt),
    // Only a ready job runs again; a dead one's runAt is its last lease's end, which would read as a retry to come.
    runAt: j.state === 'ready' ? iso(j.runAt) : null,
    updatedAt: iso(j.updatedAt),
    lastError: j.lastError,
    ...(url !== undefined ? { url } : {}),
  };
}

function formatJobs(jobs: Job[], state: JobState, book: AccountBook): string {
  if (jobs.length === 0) return `no ${state} jobs\n`;
  const rows = jobs.map((j) => {
    const p = publicJob(j, book);
    const err = printable((j.lastError ?? '').replace(/[ \t\r\n]+/g, ' '));
    return [String(j.id), j.kind, String(j.refId), String(j.attempts), p.updatedAt ?? '', (p.url ? `${printable(p.url)} ` : '') + (err.length > 80 ? `${err.slice(0, 77)}...` : err)];
  });
  const head = ['ID', 'KIND', 'REF', 'ATTEMPTS', 'UPDATED', 'TARGET / LAST ERROR'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}
