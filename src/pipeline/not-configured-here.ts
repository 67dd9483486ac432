/**
 * A job naming what this node's configuration does not know: an operator, an account, an account's mtConfig.
 * The nodes of a cluster are meant to share one configuration, but during a rolling change (an operator or account
 * added on some nodes first), or with a node started from another file, they differ for a while, and any node claims
 * any job. Deciding such a job with this node's configuration would fail the message for good (no operator: outcome
 * 20), drop its delivery report (no reportUrl here) or post a webhook unsigned (no secrets here). The job is passed on
 * instead: due again at once for the other nodes, which the commit wakes, and held back from this one until the
 * schedule's first delay has passed (store/job-passing.ts says how, and why not more simply), so a node that knows it
 * takes it now rather than after that delay, however often this node would have won the claim. If no other node
 * takes it meanwhile (a single node, or none knows it yet), this node claims it again then and passes it on again;
 * once the schedule has run out, the caller decides with what it has, as for any other message.
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
 * The outcome passing on a job that names `what`, unknown here (runAt: when this node may claim it again); null when
 * the job's schedule has run out (its maxAge).
 */
export function retryElsewhere(job: Job, schedule: RetrySchedule, what: string, now: number): Extract<StepOutcome, { type: 'retry' }> | null {
  // Always the schedule's first delay, as after a first attempt: the job did not fail, it was left to other nodes,
  // and a few claims by this node must not push it toward the long delays (a report waiting an hour for nothing).
  const at = nextAttemptAt(schedule, 1, job.firstAttemptAt ?? now, now);
  if (at === null) return null;
  return { type: 'retry', runAt: at, error: `${what} is not in this node's configuration`, passOn: true };
}

/** The first of the MT's operator, account and mtConfig that this node does not know, named; undefined if none. */
export function unknownForMt(known: ConfiguredHere, mt: { accountId: string; mtConfig: string; operatorId: number }, withOperator: boolean): string | undefined {
  if (!known.account(mt.accountId)) return `account ${mt.accountId}`;
  if (!known.mtConfig(mt.accountId, mt.mtConfig)) return `mtConfig ${mt.mtConfig} of account ${mt.accountId}`;
  if (withOperator && !known.operator(mt.operatorId)) return `operator ${mt.operatorId}`;
  return undefined;
}
