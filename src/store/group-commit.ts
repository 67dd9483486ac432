/**
 * Group commit: many concurrent callers, one transaction (and one fsync) per batch.
 *
 * While the allowed number of write()s are in flight (see maxInFlight), new units queue up; when one finishes,
 * everything queued goes out in the next write(). There is no timer: under light load a unit goes out on the next turn of the event loop, under heavy load
 * batches grow by themselves. Each caller's promise settles only when its own unit is committed (or failed).
 */
import type { Store, WriteResult, WriteUnit } from './store.ts';

interface Pending {
  unit: WriteUnit;
  resolve: (r: WriteResult) => void;
  reject: (err: unknown) => void;
}

/** Options for GroupCommitter. */
export interface GroupCommitOptions {
  /** Most units per transaction (default 500). */
  maxBatch?: number;
  /**
   * Transactions in flight at once (default: the store's writesInFlight, else 1). On PostgreSQL a transaction is
   * several round trips plus a WAL flush; with one at a time the commits of a whole node queue behind it, while
   * concurrent transactions overlap their round trips and share WAL flushes. SQLite's writer thread merges the
   * batches waiting in its queue into its next transaction; SQLite on the event loop takes one at a time. Units of
   * one batch still commit together; callers await their own unit, so no caller depends on the order of batches.
   */
  maxInFlight?: number;
}

/** Merges units from concurrent callers into batched Store.write() calls. */
export class GroupCommitter {
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private queue: Pending[] = [];
  private inFlight = 0;
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly store: Store,
    opts: GroupCommitOptions = {},
  ) {
    this.maxBatch = Math.max(1, Math.min(10_000, Math.floor(opts.maxBatch ?? 500)));
    this.maxInFlight = Math.max(1, Math.min(64, Math.floor(opts.maxInFlight ?? store.writesInFlight ?? 1)));
  }

  /** Queue a unit; resolves once it is committed (applied or skipped for a lost lease), rejects if it failed. */
  submit(unit: WriteUnit): Promise<WriteResult> {
    // Batches that committed meanwhile are answered now rather than after this turn of the event loop; a freed slot
    // then lets this unit's batch go out sooner.
    this.store.pollWrites?.();
    return new Promise<WriteResult>((resolve, reject) => {
      this.queue.push({ unit, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves when every unit submitted so far has been written (or failed). */
  flush(): Promise<void> {
    if (this.inFlight === 0 && !this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.inFlight >= this.maxInFlight || this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    // setImmediate rather than a microtask: requests whose bytes arrived in the same event-loop turn share a batch.
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    if (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      void this.writeBatch(batch).finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.schedule();
        else if (this.inFlight === 0 && !this.scheduled) this.wakeIdle();
      });
    }
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    let results: WriteResult[];
    try {
      results = await this.store.write(batch.map((p) => p.unit));
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err);
        return;
      }
      // One bad unit must not sink the others: retry them one by one, each in its own transaction.
      for (const p of batch) {
        try {
          const [r] = await this.store.write([p.unit]);
          p.resolve(r ?? { applied: false });
        } catch (e) {
          p.reject(e);
        }
      }
      return;
    }
    batch.forEach((p, i) => p.resolve(results[i] ?? { applied: false }));
  }
}
