/**
 * The job runner: claims due jobs of some kinds from the store (one atomic conditional update taking a lease, as in
 * zone-mta's mail queue), runs a step on each with bounded concurrency, and commits each job's resolution together
 * with its effects in one unit (group-committed). Idle runners sleep until the next due job, a wake-up, or the poll
 * interval, whichever comes first. A node that dies leaves leases that expire; other nodes then claim those jobs.
 *
 * A node that cannot renew the lease of a job it is running (the database unreachable for most of a lease time) stops
 * that job's outside work before the lease can run out (the step's AbortSignal), so that no other node's attempt
 * overlaps it; the stopped attempt ends as a failed one (retried on the step's schedule) if its lease still holds when
 * the result commits. While its renewals fail, a node claims nothing new (healthy nodes take the work).
 */
import type { Logger } from 'pino';
import { isPermanent, nextAttemptAt, type RetrySchedule, TemporaryError } from '../core/retry-policy.ts';
import type { Job, JobKind, JobResolution, PassedOn, Store, WriteResult, WriteUnit } from '../store/store.ts';
import { LogThrottle } from '../shared/log-throttle.ts';

/** What a step decided for one job. Effects commit atomically with the resolution. */
export type StepOutcome =
  | { type: 'done'; effects?: WriteUnit }
  | {
      type: 'retry';
      runAt: number;
      error: string;
      effects?: WriteUnit;
      /**
       * Leave the job to the other claimers (not-configured-here.ts): due for them at once, for this one only at runAt
       * (store/job-passing.ts).
       */
      passOn?: true;
    }
  | { type: 'dead'; error: string; effects?: WriteUnit };

/** One kind of work. */
export interface Step {
  /** Name for logs. */
  readonly name: string;
  readonly kinds: readonly JobKind[];
  /** Jobs of this step run at most this many at once on this node. */
  readonly concurrency: number;
  /**
   * Run one job; throwing counts as a temporary failure retried on `retrySchedule`. `signal` aborts (reason: a
   * LeaseLostError) when this node can no longer be sure it holds the job's lease: stop outside work (HTTP requests
   * not yet sent, waits for a slot) and return or throw as for any failed attempt; the result commits only if the
   * lease still holds. Absent when the caller never aborts (tests calling a step directly).
   */
  run(job: Job, signal?: AbortSignal): Promise<StepOutcome>;
  /** Schedule for unexpected errors thrown by run(). */
  readonly retrySchedule: RetrySchedule;
}

/** The most a job is stopped before its lease's end when renewals fail (a quarter of the lease when that is less). */
const LEASE_MARGIN_MS = 5_000;

export interface RunnerOptions {
  store: Store;
  commit: (unit: WriteUnit) => Promise<WriteResult>;
  owner: string;
  leaseMs: number;
  pollMs: number;
  batchSize: number;
  log: Logger;
  now?: () => number;
}

/**
 * Why a running job's signal aborted: its lease could not be renewed in time (or was taken over), so another node
 * may claim the job soon. Steps turn it into a temporary failure, which commits (and is retried on the step's
 * schedule) only if the lease still holds.
 */
export class LeaseLostError extends Error {
  constructor(jobId: number, why: string) {
    super(`job ${jobId}: ${why}; stopped so that only one node works on it`);
    this.name = 'LeaseLostError';
  }
}

/** A job this runner is running: how long its lease is known to last, and how to stop it before that. */
interface RunningJob {
  /** The lease's end as this node last set it (a time taken before the claim or renewal was sent). */
  leaseUntil: number;
  readonly abort: AbortController;
  /** Fires `margin` before leaseUntil. */
  timer: NodeJS.Timeout | undefined;
  /** The step has returned and its result is being committed: the commit, not a renewal, tells whether it held. */
  committing: boolean;
  /**
   * This node's claim took the job again while its result was being committed: the result committed first (a retry
   * due already) and the claim is a new attempt, to start once the commit has answered (launch()).
   */
  reclaimed?: Job;
}

export class JobRunner {
  private running = 0;
  /** While the store refuses writes, every job's commit fails: logged once per window, not once per job. */
  private readonly logThrottle = new LogThrottle();
  private stopped = false;
  private wakeUp: (() => void) | null = null;
  private woken = false;
  private loopDone: Promise<void> | null = null;
  private readonly inflight = new Set<Promise<void>>();
  /** The jobs running now, by id, whose leases the keeper extends. */
  private readonly runningJobs = new Map<number, RunningJob>();
  private leaseKeeper: NodeJS.Timeout | null = null;
  /** The last lease renewal failed (the database unreachable or too slow): claim nothing new until one succeeds. */
  private renewalsFailing = false;
  private readonly now: () => number;

  constructor(
    private readonly step: Step,
    private readonly opts: RunnerOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    this.loopDone = this.loop();
    // A job may run longer than its lease (a slow MMSC, a slow customer endpoint): renew the leases of running jobs
    // every third of the lease time, in one statement, so no other node takes over a job that is still alive.
    const every = Math.max(Math.floor(this.opts.leaseMs / 3), 50);
    this.leaseKeeper = setInterval(() => void this.extendRunning(), every);
    this.leaseKeeper.unref();
  }

  private async extendRunning(): Promise<void> {
    if (this.runningJobs.size === 0) {
      this.renewalsFailing = false; // nothing to renew: let the next claim find out whether the database answers
      return;
    }
    // The runs as they are now: an answer that comes back after a run ended (and its job was claimed and started
    // again) concerns the old run only.
    const runs = [...this.runningJobs];
    const until = this.now() + this.opts.leaseMs;
    try {
      const held = new Set(await this.opts.store.extendLeases(runs.map(([id]) => id), this.opts.owner, until));
      this.renewalsFailing = false;
      const lost: [number, RunningJob][] = [];
      for (const [id, r] of runs) {
        if (this.runningJobs.get(id) !== r) continue; // finished meanwhile
        if (held.has(id)) this.armDeadline(id, r, until);
        // Not renewed because its result committed first (the job is no longer ready), before the commit's answer
        // reached us: not lost. A result committed on a lease that really was lost is refused by the commit's own
        // lease check, which says so; there is no outside work left to stop.
        else if (!r.committing) lost.push([id, r]);
      }
      // A lease not renewed ran out and may have been taken over (the renewals failed for longer than the lease): stop
      // the job's outside work now; the holder's result is the one that commits.
      if (lost.length > 0) {
        this.opts.log.warn({ jobIds: lost.map(([id]) => id), step: this.step.name }, 'lease lost while the job was running; stopping it');
        for (const [id, r] of lost) r.abort.abort(new LeaseLostError(id, 'its lease was lost'));
      }
    } catch (err) {
      this.renewalsFailing = true;
      this.opts.log.warn({ err, step: this.step.name }, 'extending job leases failed; claiming nothing new until it works again');
    }
  }

  /**
   * Abort job `id` a margin before `until`, unless a renewal moves it first. The margin covers the clock difference
   * between nodes and the time an aborted request takes to stop: another node may claim the job once its own clock
   * passes the lease's end.
   */
  private armDeadline(id: number, r: RunningJob, until: number): void {
    if (until < r.leaseUntil || r.abort.signal.aborted) return; // a late answer to an older renewal
    r.leaseUntil = until;
    if (r.timer) clearTimeout(r.timer);
    const margin = Math.min(this.opts.leaseMs / 4, LEASE_MARGIN_MS);
    r.timer = setTimeout(() => {
      r.timer = undefined;
      if (r.committing) return; // nothing left to stop; the commit's lease check decides
      this.opts.log.warn({ jobId: id, step: this.step.name }, 'could not renew the lease of a running job in time; stopping it');
      r.abort.abort(new LeaseLostError(id, 'its lease could not be renewed before it ran out'));
    }, Math.max(0, until - margin - this.now()));
    r.timer.unref();
  }

  /** New jobs may be due: stop sleeping. */
  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    // A wake-up while the loop is busy (claiming) must not be lost: the next sleep returns at once.
    if (w) w();
    else this.woken = true;
  }

  /** The job kinds this runner claims (to wake only the runners that new jobs concern). */
  get kinds(): readonly JobKind[] {
    return this.step.kinds;
  }

  /** Stop claiming; wait for jobs in flight to finish (their results are committed). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loopDone;
    await Promise.allSettled([...this.inflight]);
    if (this.leaseKeeper) clearInterval(this.leaseKeeper); // only now: jobs still running keep their leases
  }

  private async loop(): Promise<void> {
    const { store, owner, leaseMs, batchSize, log } = this.opts;
    while (!this.stopped) {
      // While renewals fail, claims would take work this node may not be able to hold: leave it to healthy nodes.
      const free = this.renewalsFailing ? 0 : this.step.concurrency - this.running;
      let claimed: Job[] = [];
      let claimedAt = 0;
      if (free > 0) {
        try {
          claimedAt = this.now();
          claimed = await store.claimJobs({ kinds: this.step.kinds, owner, leaseMs, limit: Math.min(free, batchSize), now: claimedAt });
        } catch (err) {
          log.error({ err, step: this.step.name }, 'claiming jobs failed; retrying');
          await this.sleep(this.opts.pollMs);
          continue;
        }
      }
      for (const job of claimed) {
        // Our own lease on a job we are still running ran out (renewals failed meanwhile) and this claim took it
        // again: the run in progress holds it now, renewed; a second copy here would run it twice (the owner is the
        // same, so the lease check could not tell the two results apart).
        const running = this.runningJobs.get(job.id);
        if (running?.committing) {
          // Not a second copy: the run has ended, and a claim of its job while its lease held can only follow its
          // result's commit (a retry due before the commit's answer came back: a short first delay, the end of a
          // round of passes). Started when that answer is in; until then the renewals keep this lease too.
          running.reclaimed = job;
          this.armDeadline(job.id, running, claimedAt + leaseMs);
          continue;
        }
        if (running) {
          log.warn({ jobId: job.id, step: this.step.name }, 'reclaimed a job still running here after its lease ran out; not started again');
          this.armDeadline(job.id, running, claimedAt + leaseMs); // the claim renewed the lease the run holds
          continue;
        }
        this.launch(job, claimedAt + leaseMs);
      }
      if (claimed.length > 0 && claimed.length === Math.min(free, batchSize)) continue; // more may be waiting
      if (this.stopped) break;
      // Sleep until a slot frees, a wake-up, the next due job or the poll interval.
      let delay = this.opts.pollMs;
      if (free > 0 && claimed.length === 0) {
        try {
          const next = await store.nextRunAt(this.step.kinds, owner);
          if (next !== null) delay = Math.max(0, Math.min(delay, next - this.now()));
        } catch {
          /* keep poll interval */
        }
      }
      if (delay > 0 || free <= 0) await this.sleep(delay);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wakeUp = null;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private launch(job: Job, leaseUntil: number): void {
    this.running++;
    const r: RunningJob = { leaseUntil: 0, abort: new AbortController(), timer: undefined, committing: false };
    this.runningJobs.set(job.id, r);
    this.armDeadline(job.id, r, leaseUntil);
    const p = this.runOne(job, r)
      .then(() => this.reclaimedLease(r), () => undefined)
      .then((until) => {
        this.running--;
        if (r.timer) clearTimeout(r.timer);
        this.runningJobs.delete(job.id);
        if (this.runningJobs.size === 0) this.renewalsFailing = false; // no lease left to lose: claims may probe again
        this.inflight.delete(p);
        // In the same turn as the slot freed: the loop cannot fill it first.
        if (until !== undefined && r.reclaimed && !this.stopped) this.launch(r.reclaimed, until);
        this.wake();
      });
    this.inflight.add(p);
  }

  /**
   * For a run whose job this node claimed again while the result was being committed (RunningJob.reclaimed): the end
   * of that claim's lease, renewed, if this node still holds it; else undefined. A result committed after that claim
   * (this node's lease had lapsed before the commit) cleared the lease and stands; starting the job again would repeat
   * its outside work. Undefined when no claim came meanwhile, or the renewal fails (the lease then runs out and the
   * job is claimed again).
   */
  private async reclaimedLease(r: RunningJob): Promise<number | undefined> {
    if (!r.reclaimed || this.stopped) return undefined;
    const until = this.now() + this.opts.leaseMs;
    try {
      const held = await this.opts.store.extendLeases([r.reclaimed.id], this.opts.owner, until);
      return held.includes(r.reclaimed.id) ? until : undefined;
    } catch {
      return undefined;
    }
  }

  /** A job passed on: due now for the other claimers, for this one from `until` (store/job-passing.ts). */
  private passOn(job: Job, until: number, error: string): JobResolution {
    const now = this.now();
    return { jobId: job.id, owner: this.opts.owner, outcome: 'retry', runAt: now, error, passOn: passedOnAgain(job, this.opts.owner, until, now) };
  }

  private async runOne(job: Job, r: RunningJob): Promise<void> {
    const signal = r.abort.signal;
    const { owner, log } = this.opts;
    let outcome: StepOutcome;
    try {
      outcome = await this.step.run(job, signal);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (isPermanent(err)) outcome = { type: 'dead', error: msg };
      else {
        const retryAfter = err instanceof TemporaryError ? err.retryAfterMs : 0;
        const at = nextAttemptAt(this.step.retrySchedule, job.attempts, job.firstAttemptAt ?? this.now(), this.now(), retryAfter);
        outcome = at === null ? { type: 'dead', error: msg } : { type: 'retry', runAt: at, error: msg };
        if (!(err instanceof TemporaryError)) log.error({ err, jobId: job.id, step: this.step.name }, 'step failed unexpectedly');
      }
    }
    const resolution: JobResolution =
      outcome.type === 'done'
        ? { jobId: job.id, owner, outcome: 'done' }
        : outcome.type === 'retry'
          ? outcome.passOn
            ? this.passOn(job, outcome.runAt, outcome.error)
            : { jobId: job.id, owner, outcome: 'retry', runAt: outcome.runAt, error: outcome.error }
          : { jobId: job.id, owner, outcome: 'dead', error: outcome.error };
    r.committing = true;
    try {
      const res = await this.opts.commit({ ...(outcome.effects ?? {}), job: resolution });
      if (!res.applied) log.warn({ jobId: job.id, step: this.step.name }, 'lease lost before commit; another worker owns the job');
    } catch (err) {
      // Not committed: the lease will expire and the job runs again (at-least-once).
      const leftOut = this.logThrottle.take('commit failed');
      if (leftOut !== undefined) log.error({ err, jobId: job.id, step: this.step.name, ...(leftOut > 0 ? { leftOut } : {}) }, 'committing a job result failed');
    }
  }
}

/**
 * The hold of a job `owner` passes on at `now`, for it to claim again no sooner than `until`: joined to the current
 * round of passes if one is still on (another claimer passed it on first; its end stays), else a round of its own.
 */
export function passedOnAgain(job: Job, owner: string, until: number, now: number): PassedOn {
  const round = job.passedOn && job.passedOn.until > now ? job.passedOn : undefined;
  if (!round) return { owners: [owner], until };
  return { owners: round.owners.includes(owner) ? round.owners : [...round.owners, owner], until: round.until };
}
