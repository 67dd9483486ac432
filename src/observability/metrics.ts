/**
 * Prometheus metrics (prom-client), one registry per gateway (several gateways can share a process in tests).
 * Every state change is an event in a committed unit, so counting committed events by type measures the whole
 * pipeline (accepted, submitted, submit-retry, report-received, report-delivered, report-attempt-failed, ...) from
 * one place, without instrumenting each step. The job queue's figures (trackJobQueue) are read from the store when
 * /metrics is scraped, never on the request path.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { JOB_KINDS, type JobStats, type PurgeCounts, type WriteUnit } from '../store/store.ts';

/** The `state` label values of mmsgate_jobs: JobKindStats's counts. */
export const JOB_METRIC_STATES = ['due', 'leased', 'blocked', 'scheduled', 'dead'] as const;

/** Options of GatewayMetrics.trackJobQueue. */
export interface JobQueueMetricsOptions {
  /** How long one reading of the queue answers scrapes, in ms (default 5000). */
  cacheMs?: number;
  /** A reading that takes longer leaves the queue's series out of this scrape, in ms (default 5000). */
  timeoutMs?: number;
  /** Where failed readings are reported. */
  log?: (msg: string, extra?: object) => void;
  /** ms since the epoch; tests move it. Default Date.now. */
  clock?: () => number;
}

/** The `what` label values of mmsgate_purged_total (a fixed set), each read from a run's PurgeCounts. */
const PURGED: Readonly<Record<string, (c: PurgeCounts) => number>> = {
  idempotency_keys: (c) => c.idempotencyKeys,
  done_jobs: (c) => c.doneJobs,
  parked_reports: (c) => c.parkedReports,
  mt_messages: (c) => c.retired?.mtMessages ?? 0,
  mo_messages: (c) => c.retired?.moMessages ?? 0,
  sandbox_rows: (c) => c.retired?.sandboxRows ?? 0,
  cached_urls: (c) => c.retired?.cachedUrls ?? 0,
  blobs: (c) => c.retired?.blobs ?? 0,
};

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpDuration: Histogram<'route'>;
  private readonly events: Counter<'type'>;
  /** Per event type, the labelled counter (prom-client hashes a label object on every inc otherwise). */
  private readonly eventChildren = new Map<string, { inc(): void }>();
  private readonly commitBatches: Counter;
  private readonly housekeepingRuns: Counter<'result'>;
  private readonly purgedRows: Counter<'what'>;

  constructor(nodeId: string) {
    this.registry.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.registry, prefix: 'mmsgate_' });
    this.httpRequests = new Counter({
      name: 'mmsgate_http_requests_total',
      help: 'HTTP requests answered, by route and status.',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.httpDuration = new Histogram({
      name: 'mmsgate_http_request_duration_seconds',
      help: 'Time to answer HTTP requests, by route.',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.events = new Counter({
      name: 'mmsgate_message_events_total',
      help: 'Committed message events (state changes and attempts), by type.',
      labelNames: ['type'],
      registers: [this.registry],
    });
    this.commitBatches = new Counter({
      name: 'mmsgate_committed_units_total',
      help: 'Units of work committed to the store.',
      registers: [this.registry],
    });
    this.housekeepingRuns = new Counter({
      name: 'mmsgate_housekeeping_runs_total',
      help: 'Housekeeping runs of this node (expired keys, old jobs, message retention), by result (ok, failed).',
      labelNames: ['result'],
      registers: [this.registry],
    });
    this.purgedRows = new Counter({
      name: 'mmsgate_purged_total',
      help: 'Rows housekeeping deleted on this node, by what they were (mt_messages, mo_messages, blobs, idempotency_keys, ...).',
      labelNames: ['what'],
      registers: [this.registry],
    });
    // Present from the start, so that a rate() over them works before the first run.
    this.housekeepingRuns.labels({ result: 'ok' }).inc(0);
    this.housekeepingRuns.labels({ result: 'failed' }).inc(0);
    for (const what of Object.keys(PURGED)) this.purgedRows.labels({ what }).inc(0);
  }

  /** Label-bound children per (method, route, status): a map lookup per request instead of label hashing. */
  private readonly requestChildren = new Map<string, { count: { inc(): void }; time: { observe(v: number): void } }>();

  /** Record an answered request. `route` is the route pattern (never the raw URL: bounded label values). */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let c = this.requestChildren.get(key);
    if (!c) {
      c = { count: this.httpRequests.labels({ method, route, status: String(status) }), time: this.httpDuration.labels({ route }) };
      this.requestChildren.set(key, c);
    }
    c.count.inc();
    c.time.observe(seconds);
  }

  /** Count a committed unit's events. */
  observeCommitted(unit: WriteUnit): void {
    this.commitBatches.inc();
    if (!unit.events) return;
    for (const e of unit.events) {
      let c = this.eventChildren.get(e.type);
      if (!c) this.eventChildren.set(e.type, (c = this.events.labels({ type: e.type })));
      c.inc();
    }
  }

  /**
   * Export the job queue's figures, read by `read` (Store.jobStats) when /metrics is scraped: `mmsgate_jobs{kind,state}`,
   * `mmsgate_job_oldest_due_age_seconds{kind}` and `mmsgate_job_stats_up`. One reading serves every scrape for
   * `cacheMs` (scrapes meanwhile, and the gauges of one scrape, share it), so frequent scrapes on several nodes do not
   * each read a backlog. A reading that fails or takes longer than `timeoutMs` fails only these series: the scrape
   * answers with everything else, `mmsgate_job_stats_up` 0 and no queue series (never figures older than `cacheMs`).
   * Call once.
   */
  trackJobQueue(read: (now: number) => Promise<JobStats>, opts: JobQueueMetricsOptions = {}): void {
    const cacheMs = opts.cacheMs ?? 5000;
    const reader = new JobQueueReader(read, cacheMs, opts.timeoutMs ?? 5000, opts.log ?? (() => {}), opts.clock ?? Date.now);
    const shared = `Cluster-wide: read from the store all nodes share, so every node reports the same figures (aggregate with max, not sum); read at most once every ${cacheMs / 1000} s per node.`;
    new Gauge({
      name: 'mmsgate_jobs',
      help:
        'Jobs by kind and state: due (waiting for a worker), leased (a worker runs it), blocked (waits for an earlier ' +
        'job of the same message), scheduled (waits for a retry\'s time), dead (given up, kept for replay). ' + shared,
      labelNames: ['kind', 'state'],
      registers: [this.registry],
      async collect() {
        const stats = await reader.current();
        if (!stats) return this.reset();
        for (const kind of JOB_KINDS) for (const state of JOB_METRIC_STATES) this.set({ kind, state }, stats[kind][state]);
      },
    });
    new Gauge({
      name: 'mmsgate_job_oldest_due_age_seconds',
      help: 'How long the longest-waiting due job of each kind has been due, in seconds (0 when none is due). ' + shared,
      labelNames: ['kind'],
      registers: [this.registry],
      async collect() {
        const stats = await reader.current();
        if (!stats) return this.reset();
        for (const kind of JOB_KINDS) this.set({ kind }, stats[kind].oldestDueAgeMs / 1000);
      },
    });
    new Gauge({
      name: 'mmsgate_job_stats_up',
      help:
        `1 when mmsgate_jobs and mmsgate_job_oldest_due_age_seconds are current (read within ${cacheMs / 1000} s), ` +
        '0 when reading them from the store failed or took too long (they are then left out).',
      registers: [this.registry],
      async collect() {
        this.set((await reader.current()) ? 1 : 0);
      },
    });
  }

  /** Count a housekeeping run: what it deleted, or undefined when it failed. */
  observeHousekeeping(counts: PurgeCounts | undefined): void {
    if (!counts) {
      this.housekeepingRuns.labels({ result: 'failed' }).inc();
      return;
    }
    this.housekeepingRuns.labels({ result: 'ok' }).inc();
    for (const [what, of] of Object.entries(PURGED)) {
      const n = of(counts);
      if (n > 0) this.purgedRows.labels({ what }).inc(n);
    }
  }

  /** Prometheus text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** Readings of the job queue for the gauges: cached, shared, bounded in time, failures kept out of the scrape. */
class JobQueueReader {
  /** The last reading that settled: when it started, and its figures (undefined: it failed). */
  private last: { at: number; stats: JobStats | undefined } | undefined;
  /** The store read under way, if any (a slow one is joined by later scrapes, never started twice). */
  private reading: Promise<void> | undefined;
  /** What the scrape under way gets (its gauges collect at the same moment and must agree). */
  private answer: Promise<JobStats | undefined> | undefined;

  constructor(
    private readonly read: (now: number) => Promise<JobStats>,
    private readonly cacheMs: number,
    private readonly timeoutMs: number,
    private readonly log: (msg: string, extra?: object) => void,
    private readonly clock: () => number,
  ) {}

  /** Figures at most cacheMs old, or undefined when the store did not give them (in time). */
  current(): Promise<JobStats | undefined> {
    this.answer ??= this.fresh().finally(() => {
      this.answer = undefined;
    });
    return this.answer;
  }

  private async fresh(): Promise<JobStats | undefined> {
    const now = this.clock();
    if (this.last && now - this.last.at < this.cacheMs) return this.last.stats;
    this.reading ??= this.readAt(now).finally(() => {
      this.reading = undefined;
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), this.timeoutMs);
      timer.unref();
    });
    try {
      if ((await Promise.race([this.reading, late])) === 'late') {
        this.log('job queue metrics: reading the store took too long; left out of this scrape', { timeoutMs: this.timeoutMs });
        return undefined;
      }
    } finally {
      clearTimeout(timer);
    }
    return this.last?.stats;
  }

  private async readAt(now: number): Promise<void> {
    try {
      this.last = { at: now, stats: await this.read(now) };
    } catch (err) {
      // Kept as a failure for cacheMs: a store that is down is not asked again by every scrape.
      this.last = { at: now, stats: undefined };
      this.log('job queue metrics: reading the store failed; left out of this scrape', { error: (err as Error).message });
    }
  }
}
