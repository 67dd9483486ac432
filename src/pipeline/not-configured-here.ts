/**
 * A job naming what this node's configuration does not know: an operator, an account, an account's mtConfig.
 * The nodes of a cluster are meant to share one configuration, but during a rolling change (an operator or account
 * added on some nodes first), or with a node started from another file, they differ for a while, and any node claims
 * any job. Deciding such a job with this node's configuration would fail the message for good (no operator: outcome
 * 20), drop its delivery report (no reportUrl here) or post a webhook unsigned (no secrets here). The job is passed on
 * instead: due again at once for the other nodes, which the commit wakes, and held back from this one for a while
 * (the schedule's first delay at first, longer as the job ages) (store/job-passing.ts says how, and why not more simply), so a node that knows it
 * takes it now rather than after that delay, however often this node would have won the claim. If no other node
 * takes it meanwhile (a single node, or none knows it yet), this node claims it again then and passes it on again;
 * once the schedule has run out, the caller decides with what it has (the submit step: unknown operator, outcome 20;
 * unknown account or mtConfig, expired in the queue).
 */
import { nextAttemptAt, type RetrySchedule } from '../core/retry-policy.ts';
import type { Job } from '../store/store.ts';
import type { StepOutcome } from './job-runner.ts';

/** What a node knows of the configuration that the jobs it claims refer to. */
export interface ConfiguredHere {
  operator(operatorId: number): boolean;
  account(accountId: string): boolean;
  mtConfig(accountId: string, mtConfig: string): boolean;
}

/**
 * The longest a node holds back from a job it passed on. The hold grows with the job's age (below); capped, so that a
 * node restarted with the configuration it lacked (same node id, so still named in the job's hold) takes such jobs up
 * within minutes.
 */
export const MAX_PASS_HOLD_MS = 5 * 60_000;

/**
 * The outcome passing on a job that names `what`, unknown here (runAt: when this node may claim it again); null when
 * the job's schedule has run out (its maxAge).
 */
export function retryElsewhere(job: Job, schedule: RetrySchedule, what: string, now: number): Extract<StepOutcome, { type: 'retry' }> | null {
  // Passing on is no attempt (store/job-passing.ts), so the hold follows the schedule by the job's age instead: the
  // delay of the retry a job of this age would be at, at most MAX_PASS_HOLD_MS. Other nodes may take the job at once
  // whatever the hold, so in a cluster it costs nothing; a single node lacking the configuration passes a job on a
  // few hundred times over a 24 h maxAge instead of every first delay (43,200 events per message at 2 s).
  const first = job.firstAttemptAt ?? now;
  // Never the schedule's maxAttempts: those count attempts, and none was made (only maxAge ends the passing on).
  const reached = retryReachedAt(schedule, now - first);
  const at = nextAttemptAt(schedule, schedule.maxAttempts > 0 ? Math.min(reached, schedule.maxAttempts - 1) : reached, first, now);
  if (at === null) return null;
  return { type: 'retry', runAt: Math.min(at, now + MAX_PASS_HOLD_MS), error: `${what} is not in this node's configuration`, passOn: true };
}

/** The retry (1-based) a job retried on `schedule` since its first attempt would be at after `ageMs`. */
export function retryReachedAt(schedule: RetrySchedule, ageMs: number): number {
  let n = 1;
  let elapsed = 0;
  for (const d of schedule.delaysMs) {
    elapsed += d;
    if (elapsed > ageMs) return n;
    n++;
  }
  return schedule.delaysMs.length; // the last delay repeats
}

/** The first of the MT's operator, account and mtConfig that this node does not know, named; undefined if none. */
export function unknownForMt(known: ConfiguredHere, mt: { accountId: string; mtConfig: string; operatorId: number }, withOperator: boolean): string | undefined {
  if (!known.account(mt.accountId)) return `account ${mt.accountId}`;
  if (!known.mtConfig(mt.accountId, mt.mtConfig)) return `mtConfig ${mt.mtConfig} of account ${mt.accountId}`;
  if (withOperator && !known.operator(mt.operatorId)) return `operator ${mt.operatorId}`;
  return undefined;
}
