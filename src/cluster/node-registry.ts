/**
 * Node registry: each gateway node writes a heartbeat row every interval and counts the nodes whose heartbeat is
 * younger than three intervals. The count is cached, so callers on the hot path (the shared rate limit) read it
 * without a database round trip; it follows joins and departures within about one interval (a node that dies is
 * dropped after three missed heartbeats).
 */
import type { NodeInfo, Store } from '../store/store.ts';

/** A node counts as alive while its last heartbeat is younger than this many intervals. */
export const LIVE_INTERVALS = 3;
const MIN_INTERVAL_MS = 50;
const MAX_INTERVAL_MS = 10 * 60_000;

/** Options for startHeartbeat. */
export interface HeartbeatOptions {
  /** Time between heartbeats (ms), 50 ms .. 10 min. */
  intervalMs: number;
  /** Where failures are reported (a database outage must not stop the node). */
  log?: (msg: string, extra?: object) => void;
  now?: () => number;
}

/** A running heartbeat. */
export interface Heartbeat {
  /** Live nodes (including this one) as of the last successful round; at least 1. */
  liveNodes(): number;
  /**
   * Why the last heartbeat could not be written, while no later one has been (undefined when the last one was): the
   * node's periodic write probe. The health check reports a node whose store takes reads but refuses writes (a full
   * disk, a read-only database) as unavailable, which reads alone would not show.
   */
  writeFailure(): string | undefined;
  /**
   * A write elsewhere failed (a send's or a job's commit): run a round now rather than at the next interval, so that
   * writeFailure, and with it /healthz, learns within milliseconds whether the store refuses writes. The round's own
   * write decides, not the failed commit: a unit that failed for a reason of its own leaves the node healthy. At most
   * one such round per PROBE_GAP_MS; none while a round runs or after stop().
   */
  probeSoon(): void;
  /** Resolves after the first round (successful or not): liveNodes() is meaningful from then on. */
  readonly ready: Promise<void>;
  /**
   * Stop the timer, wait for a round in flight, and announce the departure (a heartbeat dated 0), so the other
   * nodes rebalance at their next round instead of after three missed intervals.
   */
  stop(): Promise<void>;
}

/** Least time between the starts of two rounds that probeSoon asks for, ms (every failing send asks). */
export const PROBE_GAP_MS = 1000;

/** Live nodes among heartbeats, never below 1: this node is alive even if its own heartbeat failed (pure). */
export function countLive(heartbeats: readonly { id: string; heartbeatAt: number }[], selfId: string, aliveSince: number): number {
  const ids = new Set(heartbeats.filter((n) => n.heartbeatAt >= aliveSince).map((n) => n.id));
  ids.add(selfId);
  return ids.size;
}

/** Heartbeat now and every `intervalMs`; keep the live-node count up to date. */
export function startHeartbeat(store: Pick<Store, 'heartbeat' | 'listNodes'>, node: NodeInfo, opts: HeartbeatOptions): Heartbeat {
  const interval = Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, Math.floor(opts.intervalMs)));
  const now = opts.now ?? Date.now;
  const log = opts.log ?? (() => {});
  let live = 1;
  let stopped = false;
  let failing = false;
  let writeFailure: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let inflight: Promise<void> = Promise.resolve();
  let running = false;
  let lastRoundAt = -Infinity;

  async function round(): Promise<void> {
    const t = now();
    lastRoundAt = t;
    try {
      try {
        await store.heartbeat(node, t);
        writeFailure = undefined;
      } catch (err) {
        writeFailure = (err as Error).message;
        throw err;
      }
      const nodes = await store.listNodes(t - LIVE_INTERVALS * interval);
      const n = countLive(nodes, node.id, t - LIVE_INTERVALS * interval);
      if (n !== live) log('live nodes changed', { node: node.id, from: live, to: n });
      live = n;
      if (failing) log('node heartbeat recovered', { node: node.id });
      failing = false;
    } catch (err) {
      // Keep the last count: forgetting the others would let this node alone use the whole shared budget.
      if (!failing) log('node heartbeat failed', { node: node.id, error: (err as Error).message });
      failing = true;
    }
  }

  function tick(): void {
    running = true;
    inflight = round().finally(() => {
      running = false;
      if (!stopped) {
        timer = setTimeout(tick, interval);
        timer.unref();
      }
    });
  }

  tick();
  const ready = inflight;
  return {
    liveNodes: () => live,
    writeFailure: () => writeFailure,
    probeSoon() {
      if (stopped || running || now() - lastRoundAt < PROBE_GAP_MS) return;
      if (timer) clearTimeout(timer);
      tick();
    },
    ready,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      await inflight;
      try {
        await store.heartbeat(node, 0);
      } catch (err) {
        log('node departure not recorded', { node: node.id, error: (err as Error).message });
      }
    },
  };
}
