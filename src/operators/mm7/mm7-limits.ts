/**
 * Per-operator throttles for MM7 submissions: a concurrency cap and a token bucket (messages per second).
 * Operators contract a throughput and refuse (or blacklist) VASPs that exceed it, so callers WAIT for capacity
 * rather than fail. Both throttles are FIFO and can be closed, which rejects the waiters.
 */

/** Raised to waiters when a throttle is closed. */
export class ThrottleClosedError extends Error {
  constructor() {
    super('throttle closed');
    this.name = 'ThrottleClosedError';
  }
}

/** A counting semaphore: at most `max` holders at a time. */
export class Semaphore {
  private active = 0;
  private readonly waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private closed = false;

  constructor(private readonly max: number) {
    if (!(max >= 1)) throw new Error('Semaphore max must be >= 1');
  }

  /** Wait for a slot; call the returned function exactly once to release it. */
  async acquire(): Promise<() => void> {
    if (this.closed) throw new ThrottleClosedError();
    if (this.active < this.max) {
      this.active++;
    } else {
      await new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next.resolve(); // the slot passes straight to the next waiter
      else this.active--;
    };
  }

  /** Holders right now (for tests and metrics). */
  get inUse(): number {
    return this.active;
  }

  /** Reject every waiter and refuse new ones. */
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new ThrottleClosedError());
  }
}

/**
 * A token bucket: `rate` tokens per second, holding at most `burst` (default: max(1, rate)). `take()` resolves when
 * a token is available, in FIFO order.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly burst: number;
  private readonly queue: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly rate: number,
    burst?: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(rate > 0)) throw new Error('TokenBucket rate must be > 0');
    this.burst = Math.max(1, burst ?? Math.max(1, Math.floor(rate)));
    this.tokens = this.burst;
    this.last = this.now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }

  /** Wait for one token. */
  take(): Promise<void> {
    if (this.closed) return Promise.reject(new ThrottleClosedError());
    this.refill();
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    const p = new Promise<void>((resolve, reject) => this.queue.push({ resolve, reject }));
    this.schedule();
    return p;
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    const waitMs = Math.max(1, Math.ceil(((1 - this.tokens) / this.rate) * 1000));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.refill();
      while (this.queue.length > 0 && this.tokens >= 1) {
        this.tokens -= 1;
        this.queue.shift()!.resolve();
      }
      this.schedule();
    }, waitMs);
    this.timer.unref?.();
  }

  /** Reject every waiter, stop the timer, refuse new takers. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const w of this.queue.splice(0)) w.reject(new ThrottleClosedError());
  }
}
