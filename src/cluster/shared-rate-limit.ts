/**
 * A per-operator submission rate (messages per second) shared by the live gateway nodes.
 *
 * Each node enforces `limit / liveNodes` with a local token bucket. The trade-off, chosen on purpose:
 * - No database round trip per message: a central counter (a row updated per submission, or an advisory lock)
 *   would put a write on every submission and make the database the throttle's bottleneck and single point of
 *   failure. Here the only shared state is the live-node count, which the heartbeat (node-registry.ts) refreshes
 *   once per interval and which is read from memory.
 * - Rebalancing follows the heartbeat: when a node joins, the others slow down within one heartbeat interval;
 *   when a node leaves gracefully (it announces its departure) the others speed up within one interval, and when
 *   one dies within three intervals (until then the survivors stay under the limit, never over it).
 *   For a moment after a join the sum may exceed the limit by at most one interval's worth of the new node's
 *   share (the newcomer counts itself at once, the others only at their next heartbeat).
 * - Uneven load: a node with little traffic does not lend its share to a busy one. With a load balancer spreading
 *   requests evenly and the job queue spreading work (any node claims any job), shares are used about evenly.
 *   An operator whose limit matters more than throughput can be given a lower configured limit.
 * - A bucket holds at least one message (a node must be able to send at all), so after an idle period every node
 *   may send one at once: a limit below the number of live nodes can be exceeded for that first second.
 */
import type { Connector, SubmitAccepted, SubmitRequest } from '../operators/connector.ts';

/** Re-read the live-node count at least this often while waiting, so a long wait follows rebalancing. */
const MAX_WAIT_SLICE_MS = 1000;
/** Default bucket size in seconds of this node's rate: a small burst keeps the cluster's sum close to the limit. */
const DEFAULT_BURST_SECONDS = 0.1;

/** Options for SharedRateLimiter. */
export interface SharedRateLimitOptions {
  /** Messages per second for the operator across all nodes; 0 means unlimited. */
  limit: number;
  /** Current number of live nodes (node-registry.ts Heartbeat.liveNodes). */
  liveNodes: () => number;
  /** Bucket capacity in seconds of this node's share (default 0.1); never below one message. */
  burstSeconds?: number;
  /** Monotonic clock in ms. */
  now?: () => number;
}

/** This node's share of a cluster-wide rate (pure). `liveNodes` below 1 counts as 1: this node is alive. */
export function nodeShare(limit: number, liveNodes: number): number {
  if (!(limit > 0)) return Infinity;
  return limit / Math.max(1, Math.floor(liveNodes) || 1);
}

/** Token bucket refilled at this node's share. take() waits in FIFO order and never fails. */
export class SharedRateLimiter {
  private readonly limit: number;
  private readonly burstSeconds: number;
  private readonly now: () => number;
  private tokens: number;
  private last: number;
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly opts: SharedRateLimitOptions) {
    if (!Number.isFinite(opts.limit) || opts.limit < 0) throw new RangeError('rate limit must be a finite number >= 0');
    this.limit = opts.limit;
    this.burstSeconds = Math.max(0, opts.burstSeconds ?? DEFAULT_BURST_SECONDS);
    this.now = opts.now ?? (() => performance.now());
    this.last = this.now();
    this.tokens = this.capacity(this.rate());
  }

  /** Messages per second this node may send now. Infinity when unlimited. */
  rate(): number {
    return nodeShare(this.limit, this.opts.liveNodes());
  }

  private capacity(rate: number): number {
    return Math.max(1, rate * this.burstSeconds);
  }

  private refill(rate: number): void {
    const t = this.now();
    this.tokens = Math.min(this.capacity(rate), this.tokens + ((t - this.last) / 1000) * rate);
    this.last = t;
  }

  /**
   * Wait for one message's token, in turn (FIFO). `signal` ends the wait at once (rejecting with its reason); the
   * stopped taker's turn then passes without taking a token.
   */
  take(signal?: AbortSignal): Promise<void> {
    if (!(this.limit > 0)) return Promise.resolve();
    const turn = this.tail.then(() => this.acquire(signal));
    this.tail = turn.catch(() => undefined); // a stopped taker must not stop the ones behind it
    if (!signal) return turn;
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      turn.then(
        () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  private async acquire(signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      signal?.throwIfAborted(); // stopped before (or while) waiting: no token taken
      const rate = this.rate();
      this.refill(rate);
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      const waitMs = Math.ceil(((1 - this.tokens) / rate) * 1000);
      await new Promise((r) => setTimeout(r, Math.max(1, Math.min(MAX_WAIT_SLICE_MS, waitMs))));
    }
  }
}

/** A connector whose submissions first take a token from `limiter` (the operator's shared rate). */
export function rateLimitedConnector(inner: Connector, limiter: Pick<SharedRateLimiter, 'take'>): Connector {
  return {
    operatorId: inner.operatorId,
    async submit(req: SubmitRequest): Promise<SubmitAccepted> {
      // The wait for a turn can be long under a low limit: a job stopped meanwhile (job-runner.ts) leaves the queue.
      await limiter.take(req.signal);
      return inner.submit(req);
    },
    ...(inner.check ? { check: (req: SubmitRequest) => inner.check!(req) } : {}),
    close: () => inner.close(),
  };
}
