/**
 * LiveEvents: an in-process fan-out of committed message events to the sandbox console's live view
 * (GET /sandbox/events). The gateway publishes every unit after it is durable; subscribers receive small JSON
 * summaries, never message content.
 *
 * Publishing must never slow down or break a commit: `publish` only copies summaries into each subscriber's small
 * bounded queue and returns; delivery happens later (setImmediate), and a subscriber that falls behind loses its
 * oldest entries (and is told how many) instead of growing memory.
 */
import type { WriteUnit } from '../store/store.ts';

/** Default bound on concurrent subscribers (each is one open console tab). */
export const DEFAULT_MAX_SUBSCRIBERS = 32;
/** Default per-subscriber queue length; older entries are dropped beyond it. */
export const DEFAULT_QUEUE_LENGTH = 64;

/** A message event as the console shows it. */
export interface LiveMessageEvent {
  kind: 'event';
  /** ISO time of the event. */
  at: string;
  mtId?: number;
  moId?: number;
  /** accepted, submitted, report-received, handset-received, ... */
  type: string;
  node: string;
  status?: string;
  outcomeId?: number;
  outcomeDescription?: string;
  /** Why it happened (reason / error), shortened. */
  reason?: string;
}

/** A request recorded by the sandbox inbox (reports or MO), without its body. */
export interface LiveInboxEntry {
  kind: 'inbox';
  at: string;
  box: string;
  contentType: string;
  size: number;
}

/** What subscribers receive. */
export type LiveSummary = LiveMessageEvent | LiveInboxEntry;

/** Delivered to a subscriber: a summary, or a note that `count` summaries were dropped because it fell behind. */
export type LiveDelivery = { summary: LiveSummary } | { dropped: number };

/** Thrown by subscribe() when the subscriber bound is reached. */
export class TooManySubscribersError extends Error {
  constructor(limit: number) {
    super(`at most ${limit} live subscribers`);
    this.name = 'TooManySubscribersError';
  }
}

const MAX_TEXT = 200;

function shortText(v: unknown): string | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  return v.length > MAX_TEXT ? `${v.slice(0, MAX_TEXT)}…` : v;
}

function isoOf(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString();
}

/** The summaries of a committed unit: one per event, then one per inbox entry (pure). */
export function summarise(unit: WriteUnit): LiveSummary[] {
  const out: LiveSummary[] = [];
  for (const e of unit.events ?? []) {
    const d = e.detail ?? {};
    const s: LiveMessageEvent = { kind: 'event', at: isoOf(e.at), type: shortText(e.type) ?? '?', node: shortText(e.node) ?? '' };
    if ('mtId' in e && typeof e.mtId === 'number') s.mtId = e.mtId;
    if ('moId' in e && typeof e.moId === 'number') s.moId = e.moId;
    const status = shortText(d.status);
    if (status !== undefined) s.status = status;
    if (typeof d.outcomeId === 'number') s.outcomeId = d.outcomeId;
    const desc = shortText(d.outcomeDescription);
    if (desc !== undefined) s.outcomeDescription = desc;
    const reason = shortText(d.reason) ?? shortText(d.error);
    if (reason !== undefined) s.reason = reason;
    out.push(s);
  }
  for (const i of unit.inbox ?? []) {
    out.push({ kind: 'inbox', at: isoOf(i.receivedAt), box: shortText(i.box) ?? '', contentType: shortText(i.contentType) ?? '', size: i.body.length });
  }
  return out;
}

interface Subscriber {
  fn: (d: LiveDelivery) => void;
  queue: LiveSummary[];
  dropped: number;
  scheduled: boolean;
  closed: boolean;
}

/** In-process fan-out of committed message events (see the file comment). */
export class LiveEvents {
  private readonly subs = new Set<Subscriber>();
  private readonly maxSubscribers: number;
  private readonly queueLength: number;

  constructor(opts: { maxSubscribers?: number; queueLength?: number } = {}) {
    this.maxSubscribers = Math.max(1, opts.maxSubscribers ?? DEFAULT_MAX_SUBSCRIBERS);
    this.queueLength = Math.max(1, opts.queueLength ?? DEFAULT_QUEUE_LENGTH);
  }

  /** Number of current subscribers. */
  get size(): number {
    return this.subs.size;
  }

  /**
   * Queue the unit's events and inbox entries for every subscriber. Cheap and synchronous; never throws and never
   * runs subscriber code in the caller's stack (call it after a successful commit only).
   */
  publish(unit: WriteUnit): void {
    if (this.subs.size === 0) return;
    const summaries = summarise(unit);
    if (summaries.length === 0) return;
    for (const s of this.subs) {
      for (const x of summaries) s.queue.push(x);
      const over = s.queue.length - this.queueLength;
      if (over > 0) {
        s.queue.splice(0, over);
        s.dropped += over;
      }
      this.schedule(s);
    }
  }

  /**
   * Receive summaries (in commit order) until the returned function is called. Throws TooManySubscribersError
   * when the bound is reached. An exception from `fn` is swallowed (it must not affect other subscribers).
   */
  subscribe(fn: (d: LiveDelivery) => void): () => void {
    if (this.subs.size >= this.maxSubscribers) throw new TooManySubscribersError(this.maxSubscribers);
    const s: Subscriber = { fn, queue: [], dropped: 0, scheduled: false, closed: false };
    this.subs.add(s);
    return () => {
      s.closed = true;
      s.queue.length = 0;
      this.subs.delete(s);
    };
  }

  private schedule(s: Subscriber): void {
    if (s.scheduled) return;
    s.scheduled = true;
    setImmediate(() => {
      s.scheduled = false;
      if (s.closed) return;
      const batch = s.queue.splice(0);
      const dropped = s.dropped;
      s.dropped = 0;
      try {
        if (dropped > 0) s.fn({ dropped });
        for (const summary of batch) {
          if (s.closed) return;
          s.fn({ summary });
        }
      } catch {
        /* a failing subscriber only hurts itself */
      }
    });
  }
}
