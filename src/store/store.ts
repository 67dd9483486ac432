/**
 * The Store port: everything mmsgate keeps durably. One interface, one contract test suite
 * (test/store/store-contract.test.ts), one implementation per backend (SQLite embedded, PostgreSQL for several nodes).
 *
 * Writes are batch-first: callers describe a unit of work (`WriteUnit`: rows to insert, jobs to finish, state
 * changes) and `write()` applies many units in ONE transaction. The group committer (group-commit.ts) merges units
 * from concurrent callers, so many messages share one fsync ("group commit") while each caller still learns only
 * after its unit is durable.
 */
import type { MessageEvent, MoMessage, MoState, MtMessage, MtState, Part } from '../core/message.ts';
import type { RetentionCounts } from './retention.ts';

/** Kinds of queued work. Each has a worker in src/pipeline/. */
export type JobKind =
  | 'submit' // hand an MT to its operator
  | 'report' // POST a delivery report to the customer's reportUrl
  | 'mo' // POST an MO to the customer's moUrl
  | 'sim-deliver'; // the simulator delivers to its virtual handset and reports (remote content is fetched by submit)

/**
 * What a job's refId names, per kind: an MT (mtId) or an MO (moId). The two id sequences overlap, so a job's message
 * is known only with its kind (the retention deletes a message's jobs by it; a replay marks the message changed).
 */
export const JOB_REF: Readonly<Record<JobKind, 'mt' | 'mo'>> = { submit: 'mt', report: 'mt', mo: 'mo', 'sim-deliver': 'mt' };

/** Every job kind, in a fixed order (a bounded set: queue metrics label by it). */
export const JOB_KINDS: readonly JobKind[] = Object.keys(JOB_REF) as JobKind[];

export type JobState = 'ready' | 'done' | 'dead';

/** A queued job as stored. Times in ms since the epoch. */
export interface Job {
  id: number;
  kind: JobKind;
  /** The MT or MO this job is about (mtId / moId), or 0. */
  refId: number;
  /** Jobs with the same non-null orderKey run strictly one after another, in id order (e.g. "report:<mtId>"). */
  orderKey: string | null;
  /** Kind-specific JSON data (e.g. the REPORT body). */
  payload: Record<string, unknown>;
  state: JobState;
  /** When the job is due; for a leased job, when its lease ends (it is claimable again then if not resolved). */
  runAt: number;
  /** Attempts started so far, including the current one once claimed. */
  attempts: number;
  /** Time of the first attempt (anchors the retry schedule's maxAge); null before the first claim. */
  firstAttemptAt: number | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  /** The claimers (ClaimOptions.owner) that passed the job on to the others, and until when they may not claim it. */
  passedOn?: PassedOn;
}

/**
 * A job passed on (JobResolution 'retry' with passOn): due for the other claimers at its runAt, for these `owners`
 * only from `until` (store/job-passing.ts). Not an attempt: writing it takes back the claim's `attempts + 1`.
 */
export interface PassedOn {
  owners: readonly string[];
  until: number;
}

/** A job to enqueue. */
export interface NewJob {
  kind: JobKind;
  refId: number;
  orderKey?: string | null;
  payload?: Record<string, unknown>;
  /** Not before this time (ms); default now. */
  runAt?: number;
}

/** A blob to keep (content-addressed; inserting an existing sha256 is a no-op). */
export interface NewBlob {
  sha256: string;
  bytes: Buffer;
}

/**
 * Change of an MT's delivery fields. Applied only if `state` moves forward (see core/message canTransition); a
 * 'reported' patch of a reported message only if it brings another outcomeId (an operator's resend of the same
 * interim report changes nothing).
 */
export interface MtPatch {
  mtId: number;
  state: MtState;
  status?: string | null;
  outcomeId?: number | null;
  outcomeDescription?: string | null;
  userAgent?: string | null;
  operatorMessageId?: string | null;
  /**
   * The whole unit applies only if this patch moves the message forward, judged inside the transaction (a unit may
   * hold one such patch). For effects that must follow a state change exactly once: two copies of one delivery report
   * handled at the same moment both read the message before either committed, and only the copy whose patch lands
   * may queue a customer REPORT. A unit skipped this way answers `applied: false`.
   */
  required?: boolean;
}

/** What happened to the job that produced this unit. The job must still be leased by `owner`. */
export type JobResolution =
  | { jobId: number; owner: string; outcome: 'done' }
  | { jobId: number; owner: string; outcome: 'retry'; runAt: number; error: string; passOn?: PassedOn }
  | { jobId: number; owner: string; outcome: 'dead'; error: string };

/** A message a virtual handset of the simulator received. */
export interface HandsetMessage {
  number: string;
  mtId: number;
  source: string;
  subject: string | null;
  receivedAt: number;
  parts: Part[];
}

/** One request recorded by the sandbox inbox (what a customer endpoint would have received). */
export interface InboxEntry {
  id: number;
  /** "reports" or "mo" (the path it was posted to). */
  box: string;
  receivedAt: number;
  headers: Record<string, string>;
  contentType: string;
  body: Buffer;
}

/**
 * An idempotency key claimed with a unit (the `Idempotency-Key` header of POST /mms/v2/send). The key is scoped to
 * the account; `requestHash` lets the API tell a retry of the same request (answer with the same mtId) from a key
 * reused for a different body (an error).
 */
export interface IdempotencyClaim {
  accountId: string;
  /** The client's key, at most MAX_IDEMPOTENCY_KEY_LENGTH characters. */
  key: string;
  /** Digest of the request as the API sees it. */
  requestHash: string;
  /** The mtId the unit accepts (returned to later requests with the same key). */
  mtId: number;
  /** The key is forgotten after this time (ms); an expired key is claimed afresh. */
  expiresAt: number;
}

/** The request that holds an idempotency key. */
export interface IdempotencyHit {
  mtId: number;
  requestHash: string;
}

/** Longest idempotency key accepted (the client library's bound as well). */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/** A unit of work. Everything in it commits together or not at all. */
export interface WriteUnit {
  /** If set and the job is no longer leased by `owner` (lease expired and taken), the WHOLE unit is skipped. */
  job?: JobResolution;
  /**
   * If set and a non-expired key (accountId, key) already exists, committed or claimed by an earlier unit of the
   * same batch, the WHOLE unit is skipped and its result carries `existing`. Otherwise the key is stored with the
   * unit. Race-safe across nodes: of two concurrent units with one key exactly one is applied.
   */
  idempotency?: IdempotencyClaim;
  /**
   * Parked reports (ParkedReport.id) this unit applies: deleted in its transaction, and if any of them is already gone
   * (another node applied it), the WHOLE unit is skipped. Consumed even when the unit's required patch then skips it
   * (a report for a message already past it is still done with).
   */
  claimParked?: number[];
  blobs?: NewBlob[];
  /** New MT messages, with their parts (parts refer to blobs by sha256). */
  mts?: MtMessage[];
  mos?: MoMessage[];
  mtPatches?: MtPatch[];
  moStates?: { moId: number; state: MoState }[];
  /**
   * Events to append to MT (`mtId`) or MO (`moId`) logs. In a unit that creates no message, resolves no job and holds
   * no required patch (an ignored report, a read reply, an MO resend), an event is written only if its message still
   * exists: the retention may have deleted it since the caller read it (write-plan.ts anchored()).
   */
  events?: ({ mtId: number } & MessageEvent | { moId: number } & MessageEvent)[];
  /**
   * Jobs to enqueue, written as given. A job about a message belongs in a unit that creates the message, resolves one
   * of its jobs or holds its required patch (every caller's does): the message then exists when the job commits, and
   * the retention deletes the job with it.
   */
  jobs?: NewJob[];
  handsetMessages?: HandsetMessage[];
  inbox?: Omit<InboxEntry, 'id'>[];
}

/** Result of applying one unit. */
export interface WriteResult {
  /** False when the unit was skipped because its job lease was lost or its idempotency key was taken. */
  applied: boolean;
  /** Set when the unit was skipped for its idempotency key: the request that holds the key. */
  existing?: IdempotencyHit;
  /** Set when the unit was skipped because a parked report it claimed was already taken (by another node). */
  claimLost?: true;
}

/**
 * A remote-content URL the gateway fetched (src/content/url-cache.ts). The body is a blob (written with
 * `write({ blobs })`), referenced by `sha256`.
 */
export interface CachedUrlRow {
  /** At most MAX_CACHED_URL_BYTES bytes (UTF-8). */
  url: string;
  sha256: string;
  contentType: string;
  size: number;
  /** Validators for conditional requests (RFC 9110 section 8.8). */
  etag: string | null;
  lastModified: string | null;
  /** Fresh until this time (ms); later uses revalidate first (RFC 9111 section 4.2). */
  freshUntil: number;
  fetchedAt: number;
}

/** Longest cacheable URL in UTF-8 bytes (the send API refuses longer remote-content URLs). */
export const MAX_CACHED_URL_BYTES = 2048;

/** A gateway node as it announces itself. */
export interface NodeInfo {
  /** Unique per node (config node.id), at most 64 characters. */
  id: string;
  dataCenter: string;
  /** Where the node can be reached directly (for operations), or null. */
  url: string | null;
}

/** A gateway node as registered. Times in ms. */
export interface NodeRow extends NodeInfo {
  /** First heartbeat under this id. */
  startedAt: number;
  heartbeatAt: number;
}

/** What purgeExpired() deleted. */
export interface PurgeCounts {
  idempotencyKeys: number;
  doneJobs: number;
  /** Parked delivery reports older than PARKED_REPORT_RETENTION_MS (their message ID never appeared). */
  parkedReports: number;
  /** Messages and what hangs off them past the retention, when one was given (retention.ts). */
  retired?: RetentionCounts;
}

/** A delivery report kept until a message carries its operator message ID (pipeline/inbound-sink.ts). */
export interface ParkedReport {
  id: number;
  operatorId: number;
  operatorMessageId: string;
  /** What the inbound sink needs to apply it later, as it gave it. */
  report: unknown;
  receivedAt: number;
}

/**
 * A parked report whose message ID has not appeared after this long is dropped (a report for nothing of ours): a
 * report overtakes our SubmitRsp by the MM7 request time plus our commit, seconds; an hour leaves room for a slow
 * database without keeping reports for recycled IDs.
 */
export const PARKED_REPORT_RETENTION_MS = 60 * 60 * 1000;

/** Parked reports kept per operator at most: past it, unknown IDs are refused again (MM7 2005). */
export const MAX_PARKED_REPORTS_PER_OPERATOR = 1000;

/** Done jobs are kept this long after they finished (for the status API and operations), then purged. */
export const DONE_JOB_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

export interface ClaimOptions {
  kinds: readonly JobKind[];
  /** Lease holder (node id + worker). */
  owner: string;
  leaseMs: number;
  limit: number;
  now: number;
}

/**
 * How the jobs of one kind stand at a moment `now` (Store.jobStats). Every ready job counts in exactly one of `due`,
 * `leased`, `blocked` and `scheduled`, judged in that order of precedence: leased, then blocked, then by runAt.
 * Done jobs are not counted (they are history, kept for DONE_JOB_RETENTION_MS; the committed events count throughput).
 */
export interface JobKindStats {
  /**
   * Waiting for a worker: ready, runAt <= now, no lease running, and not held behind an older job of its order key;
   * what claimJobs would hand out at `now` to some claimer (a job passed on counts here, though held back from the
   * claimers that passed it on). A job whose lease expired (its node died or lost it) counts here again, due since its
   * lease ended.
   */
  due: number;
  /** In progress: ready with a lease that has not expired (leaseExpiresAt >= now; runAt is then the lease's end). */
  leased: number;
  /**
   * Held behind an older ready job with the same order key (a message's later delivery report waits for its earlier
   * one): claimable only once that job is done or dead, whatever its own runAt. Not leased.
   */
  blocked: number;
  /** Waiting for a later time: ready, not leased, runAt > now (a retry's next attempt, or enqueued for later). */
  scheduled: number;
  /** How long the longest-waiting `due` job has been due, in ms: now minus the least runAt among them; 0 if none. */
  oldestDueAgeMs: number;
  /** Given up (state dead), kept until replayed or deleted with their message. */
  dead: number;
}

/** JobKindStats for every kind of JOB_KINDS (a kind without jobs has all zeros). */
export type JobStats = Record<JobKind, JobKindStats>;

/** What Store.getMtStatus returns: one consistent view of an MT. */
export interface MtStatus {
  mt: MtMessage;
  /** Oldest first. */
  events: MessageEvent[];
  /** The MT's jobs (kinds whose refId names an MT: JOB_REF), newest first, at most MT_STATUS_JOB_LIMIT. */
  jobs: Job[];
}

/** Jobs of one MT that getMtStatus returns at most (a message has a few: submit, a report per outcome). */
export const MT_STATUS_JOB_LIMIT = 100;

export interface JobFilter {
  state?: JobState;
  kind?: JobKind;
  refId?: number;
  limit?: number;
}

export interface Store {
  /** Backend name for logs and health: "sqlite" or "postgres". */
  readonly backend: string;
  /**
   * How many write batches are worth having in flight at once (GroupCommitter's default): 1 where one connection
   * runs them back to back anyway, more where a batch's round trip can overlap the next one's.
   */
  readonly writesInFlight?: number;
  /** Settle writes that have completed but whose answer has not been delivered yet (cheap; optional). */
  pollWrites?(): void;
  /**
   * A failure after which every write fails until the node restarts (SQLite: a failed WAL sync), if one happened;
   * the health check reports the node unavailable.
   */
  fatalError?(): Error | undefined;

  /** Create or upgrade the schema. Safe when several nodes call it at once (PostgreSQL: advisory lock). */
  migrate(): Promise<void>;

  /** Apply units in one transaction; results in the same order. A unit whose job lease is lost is skipped. */
  write(units: readonly WriteUnit[]): Promise<WriteResult[]>;

  /**
   * Reserve `count` consecutive ids of a sequence ("mt" or "mo"), atomically and durably, unique across nodes and
   * restarts. Returns the first id of the block. Ids are positive and below 2^53.
   */
  reserveIds(sequence: 'mt' | 'mo', count: number): Promise<number>;

  /**
   * Claim up to `limit` ready jobs of the given kinds whose runAt <= now and that are not leased (or whose lease
   * expired), in one atomic conditional update: sets leaseOwner, leaseExpiresAt = now + leaseMs, attempts + 1,
   * firstAttemptAt (if null). A job whose orderKey has an older ready job is not claimable, nor one held back from
   * `owner` (Job.passedOn: passed on by it, until the hold ends). PostgreSQL: SKIP LOCKED.
   */
  claimJobs(opts: ClaimOptions): Promise<Job[]>;

  /** Extend the lease of jobs still held by `owner`. Returns the ids still held. */
  extendLeases(jobIds: readonly number[], owner: string, leaseExpiresAt: number): Promise<number[]>;

  /** Clear the leases held by `owner` (graceful shutdown) so other workers can claim at once. */
  releaseLeases(owner: string): Promise<number>;

  /**
   * When the next ready job of these kinds becomes claimable (to sleep until then), or null; for `owner`, jobs it
   * passed on count from the end of their hold (PassedOn.until).
   */
  nextRunAt(kinds: readonly JobKind[], owner?: string): Promise<number | null>;

  /**
   * The queue at `now` (ms), per job kind: due, leased, blocked and scheduled ready jobs, the age of the oldest due
   * one, and dead jobs (JobKindStats says precisely what counts where). For monitoring: reads every ready and dead
   * job (through the indexes that hold only those: the live queue, never the done history), so callers cache it.
   * Rows of a kind this version does not know are left out.
   */
  jobStats(now: number): Promise<JobStats>;

  /** List jobs (newest first) for the status API and operations. */
  listJobs(filter: JobFilter): Promise<Job[]>;

  /**
   * Move a dead job back to ready (attempts reset, runAt now) and mark its message changed (updated_at). Returns false
   * if it was not dead, or its message is gone (deleted by the retention).
   */
  replayJob(jobId: number, now: number): Promise<boolean>;

  /**
   * Give up a dead job for good (an operator's decision: the delivery is not wanted any more): it becomes done, its
   * last error prefixed "discarded", and goes with the other done jobs after DONE_JOB_RETENTION_MS. False if it was not
   * dead.
   */
  discardJob(jobId: number, now: number): Promise<boolean>;

  /** An MT with its parts, or undefined. */
  getMt(mtId: number): Promise<MtMessage | undefined>;

  /**
   * Several MTs with their parts, by mtId (a missing id is absent from the map). Two queries per 1000 ids instead of
   * two per message: for workers that handle a claimed batch of jobs.
   */
  getMts(mtIds: readonly number[]): Promise<Map<number, MtMessage>>;

  /** Find an MT by the operator's message ID (MM7 MessageID), scoped to the operator. */
  findMtByOperatorMessageId(operatorId: number, operatorMessageId: string): Promise<MtMessage | undefined>;

  /** An MO with its parts, or undefined. */
  getMo(moId: number): Promise<MoMessage | undefined>;

  /**
   * The id of the newest MO that `operatorId` sent with this operator message ID (MM7 LinkedID) and that was
   * received at or after `since` (ms), or undefined: how an operator's resend of an MO we already took is recognised.
   */
  findMoIdByOperatorMessageId(operatorId: number, operatorMessageId: string, since: number): Promise<number | undefined>;

  /** The event log of an MT or MO, oldest first. */
  getEvents(ref: { mtId: number } | { moId: number }): Promise<MessageEvent[]>;

  /**
   * An MT with its event log and its jobs, all as they stood at one moment (one read snapshot), or undefined: for the
   * status API, where a message, timeline and queue read apart could show a state change half done (a message already
   * submitted whose submit job is still pending, or the reverse).
   */
  getMtStatus(mtId: number): Promise<MtStatus | undefined>;

  /** Bytes of a blob, or undefined. */
  getBlob(sha256: string): Promise<Buffer | undefined>;

  /** Messages a virtual handset received, newest first; with `mtId`, only that message's copies. */
  listHandsetMessages(number: string, limit: number, mtId?: number): Promise<HandsetMessage[]>;

  /** Sandbox inbox entries, newest first; `box` filters. */
  listInbox(box: string | undefined, limit: number): Promise<InboxEntry[]>;

  /**
   * Wake-up hint when jobs become due (new, retried, replayed, released), from this node (in-process) and, on
   * PostgreSQL, from other nodes (LISTEN/NOTIFY). Calls may repeat; empty `kinds` means "check everything".
   * Returns an unsubscribe function.
   */
  onJobsEnqueued?(callback: (kinds: JobKind[]) => void): () => void;

  /** The request holding a non-expired idempotency key (expiresAt > now), or undefined. */
  getIdempotencyKey(accountId: string, key: string, now: number): Promise<IdempotencyHit | undefined>;

  /**
   * Housekeeping, safe to run on every node at once: delete idempotency keys that expired at `now`, done jobs
   * that finished more than DONE_JOB_RETENTION_MS before `now`, and reports parked more than
   * PARKED_REPORT_RETENTION_MS before it. With `retentionMs` also messages created and last changed more than that
   * before `now` and with no job still to run, with their events, jobs and parts, sandbox rows of that age, stale
   * URL-cache rows, and blobs nothing references any more (retention.ts). Deletes in bounded batches (short
   * transactions); a backlog is worked off over several calls.
   */
  purgeExpired(now: number, retentionMs?: number): Promise<PurgeCounts>;

  /**
   * Keep a delivery report whose operator message ID matches no MT yet. False (nothing kept) when the operator already
   * has MAX_PARKED_REPORTS_PER_OPERATOR parked.
   */
  parkReport(report: Omit<ParkedReport, 'id'>): Promise<boolean>;

  /**
   * Parked reports whose operator message ID an MT of that operator now carries, oldest first, at most `limit`, each
   * with that MT (the newest of them, should the operator have given the ID twice). Only an MT created before the
   * report arrived counts (give or take a minute of clock skew between nodes): an operator
   * reusing an ID later never gets an old report applied to a new message.
   */
  matchedParkedReports(limit: number): Promise<(ParkedReport & { mtId: number })[]>;


  /** The cache row of a remote-content URL, or undefined. */
  getCachedUrl(url: string): Promise<CachedUrlRow | undefined>;

  /** Insert or replace the cache row of `row.url`. */
  putCachedUrl(row: CachedUrlRow): Promise<void>;

  /** Record that `node` is alive at `now` (registered on first call; startedAt kept after that). */
  heartbeat(node: NodeInfo, now: number): Promise<void>;

  /** Nodes whose last heartbeat is at or after `aliveSince`, by id. */
  listNodes(aliveSince: number): Promise<NodeRow[]>;

  /** Close connections. */
  close(): Promise<void>;
}
