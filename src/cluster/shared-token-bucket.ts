/**
 * A cluster-wide rate that refuses instead of waiting: the per-account send limit (api/account-rate-limit.ts).
 *
 * Same split as the per-operator limit (shared-rate-limit.ts, whose file comment gives the trade-offs): each node
 * refills a local bucket at `limit / liveNodes`, with the live-node count the heartbeat keeps in memory, so taking a
 * token is arithmetic, never a database round trip. Unlike SharedRateLimiter nobody queues here: a customer's HTTP
 * request must not be held open while its account is over its rate, so tryTake() answers at once.
 *
 * The burst is a figure for the whole cluster too, split the same way (a node's bucket holds `burst / liveNodes`,
 * never less than one message): with the default burst of one second's worth of the limit the cluster as a whole
 * can take about `limit` messages at once after an idle period, however many nodes serve it.
 */

/** This node's share of a cluster-wide rate (pure). `liveNodes` below 1 counts as 1: this node is alive. */
export function nodeShare(limit: number, liveNodes: number): number {
  if (!(limit > 0)) return Infinity;
  return limit / Math.max(1, Math.floor(liveNodes) || 1);
}

/** Options for SharedTokenBucket. */
export interface SharedTokenBucketOptions {
  /** Tokens per second across all nodes; finite and above 0. */
  limit: number;
  /** Tokens the cluster's buckets hold together (default `limit`: one second's worth); a node's holds at least 1. */
  burst?: number;
  /** Current number of live nodes (node-registry.ts Heartbeat.liveNodes). */
  liveNodes: () => number;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
}

export class SharedTokenBucket {
  private readonly limit: number;
  private readonly burst: number;
  private readonly liveNodes: () => number;
  private readonly now: () => number;
  private tokens: number;
  private last: number;

  constructor(opts: SharedTokenBucketOptions) {
    if (!Number.isFinite(opts.limit) || opts.limit <= 0) throw new RangeError('limit must be a finite number > 0');
    const burst = opts.burst ?? opts.limit;
    if (!Number.isFinite(burst) || burst <= 0) throw new RangeError('burst must be a finite number > 0');
    this.limit = opts.limit;
    this.burst = burst;
    this.liveNodes = opts.liveNodes;
    this.now = opts.now ?? (() => performance.now());
    this.last = this.now();
    this.tokens = this.capacity(this.liveNodes());
  }

  /** Tokens this node's bucket holds at most with `live` nodes. */
  private capacity(live: number): number {
    // nodeShare: the same rounding and "at least this node" rule as the operator limit.
    return Math.max(1, nodeShare(this.burst, live));
  }

  /**
   * Take one token if there is one: 0. Otherwise take nothing (a refused request costs the caller nothing, so a
   * client retrying too early does not push its own next chance further away) and answer the milliseconds until a
   * token will be there at the current rate (> 0).
   */
  tryTake(): number {
    const live = this.liveNodes();
    const rate = nodeShare(this.limit, live);
    const t = this.now();
    // A clock that went backwards (it should not: monotonic) adds nothing rather than removing tokens.
    const elapsed = Math.max(0, t - this.last);
    this.last = t;
    this.tokens = Math.min(this.capacity(live), this.tokens + (elapsed / 1000) * rate);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return ((1 - this.tokens) / rate) * 1000;
  }
}
