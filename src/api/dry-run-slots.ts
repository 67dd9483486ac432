/**
 * Dry runs in progress on this node (`X-Dry-Run: true`, `api.maxConcurrentDryRuns`). A dry run holds the request's
 * body (up to api.maxBodyBytes), the remote content it fetches (up to remoteContent.maxMessageBytes) and the image
 * work of adaptation, about 15 MB with the defaults, and sharp decodes on libuv's thread pool, which the SQLite WAL
 * sync, DNS lookups and file reads share: two dozen concurrent dry runs of large photos held a plain text send's
 * acceptance for about 10 s and added 500 MB to the process. Nothing else bounds them (the account send rate is
 * optional), so past the cap a dry run is refused before its body is read, like a send over its account's rate.
 */
import { ApiError } from '../core/errors.ts';
import type { BodyGate } from './multipart-request.ts';

/** Seconds a refused dry run is told to wait (dry runs of large content take seconds each). */
export const DRY_RUN_RETRY_AFTER_S = 2;

export class DryRunSlots {
  private running = 0;
  constructor(private readonly max: number) {}

  /**
   * A gate that takes a slot when the send reaches its body (after `inner`, the account's send rate, admits it), or
   * refuses with 429 RATE_LIMITED. `release` gives the slot back; it is a no-op when none was taken.
   */
  gate(inner: BodyGate | undefined): { gate: BodyGate; release(): void } {
    let taken = false;
    return {
      gate: {
        admit: () => {
          if (inner !== undefined) inner.admit();
          if (this.running >= this.max) {
            throw new ApiError('RATE_LIMITED', { cause: `${this.max} dry runs are in progress on this node`, retryAfter: DRY_RUN_RETRY_AFTER_S });
          }
          this.running++;
          taken = true;
        },
      },
      release: () => {
        if (!taken) return;
        taken = false;
        this.running--;
      },
    };
  }

  /** Dry runs in progress (tests, diagnostics). */
  get inProgress(): number {
    return this.running;
  }
}
