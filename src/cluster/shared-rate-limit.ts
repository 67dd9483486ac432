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
import { SharedTokenBucket } from './shared-token-bucket.ts';

export { nodeShare } from './shared-token-bucket.ts';

/** Re-read the live-node count at least this often while waiting, so a long wait follows rebalancing. */
const MAX_WAIT_SLICE_MS = 1000;
/** Default bucket size in seconds of this node's rate: a small burst keeps the cluster's sum close to the limit. */
const DEFAULT_BURST_SECONDS = 0.1;
/** Stands for a burst of 0 s (the bucket refuses a burst of 0; its one-message floor gives the same). */
const MIN_BURST_SECONDS = 1e-9;

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

/** Token bucket refilled at this node's share (shared-token-bucket.ts). take() waits in FIFO order and never fails. */
export class SharedRateLimiter {
  /** Undefined when unlimited. */
  private readonly bucket: SharedTokenBucket | undefined;
  private tail: Promise<void> = Promise.resolve();

  constructor(opts: SharedRateLimitOptions) {
    if (!Number.isFinite(opts.limit) || opts.limit < 0) throw new RangeError('rate limit must be a finite number >= 0');
    const burstSeconds = Math.max(0, opts.burstSeconds ?? DEFAULT_BURST_SECONDS);
    this.bucket =
      opts.limit > 0
        ? new SharedTokenBucket({
            limit: opts.limit,
            // The bucket's burst is for the whole cluster and split like the rate: limit x seconds gives each node its
            // share x seconds. It holds at least one message however small (a burst of 0 s means just that one).
            burst: opts.limit * Math.max(burstSeconds, MIN_BURST_SECONDS),
            liveNodes: opts.liveNodes,
            ...(opts.now ? { now: opts.now } : {}),
          })
        : undefined;
  }

  /**
   * Wait for one message's token, in turn (FIFO). `signal` ends the wait at once (rejecting with its reason); the
   * stopped taker's turn then passes without taking a token.
   */
  take(signal?: AbortSignal): Promise<void> {
    const bucket = this.bucket;
    if (!bucket) return Promise.resolve();
    const turn = this.tail.then(() => this.acquire(bucket, signal));
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

  private async acquire(bucket: SharedTokenBucket, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      signal?.throwIfAborted(); // stopped before (or while) waiting: no token taken
      const waitMs = bucket.tryTake();
      if (waitMs === 0) return;
      await new Promise((r) => setTimeout(r, Math.max(1, Math.min(MAX_WAIT_SLICE_MS, Math.ceil(waitMs)))));
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
