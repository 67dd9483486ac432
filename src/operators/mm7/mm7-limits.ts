/**
 * The per-operator concurrency cap for MM7 submissions (requests in flight to one MMSC). Operators limit connections
 * per VASP and refuse (or blacklist) those that exceed it, so callers WAIT for a slot rather than fail. FIFO; closing
 * it rejects the waiters. (Messages per second are limited cluster-wide: src/cluster/shared-rate-limit.ts.)
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

  /**
   * Wait for a slot; call the returned function exactly once to release it. `signal` ends the wait (rejecting with
   * its reason) and leaves the queue.
   */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.closed) throw new ThrottleClosedError();
    signal?.throwIfAborted();
    if (this.active < this.max) {
      this.active++;
    } else {
      await new Promise<void>((resolve, reject) => {
        const waiter = {
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          reject: (e: Error) => {
            signal?.removeEventListener('abort', onAbort);
            reject(e);
          },
        };
        const onAbort = (): void => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal!.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiters.push(waiter);
      });
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
