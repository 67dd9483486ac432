/**
 * mtId / moId allocation. Ids come from the store in reserved blocks (one atomic update per block), so they are unique
 * across nodes and restarts without a round trip per message; a block left unused when a node stops is a gap, which
 * is harmless. All ids are positive integers below 2^53 (they travel as JSON numbers).
 */
import { randomBytes } from 'node:crypto';

/** A fresh request id (X-Request-Id): 22 characters, 128 random bits, unique across nodes without coordination. */
export function newRequestId(): string {
  return randomBytes(16).toString('base64url');
}

export class IdAllocator {
  private next = 0;
  private end = 0;
  private pending: Promise<void> | null = null;

  constructor(
    private readonly reserve: (count: number) => Promise<number>,
    private readonly blockSize = 1000,
  ) {}

  /** The next id. */
  async take(): Promise<number> {
    while (this.next >= this.end) {
      if (!this.pending) {
        this.pending = this.reserve(this.blockSize).then(
          (first) => {
            if (!Number.isSafeInteger(first) || first <= 0) throw new Error(`bad id block start ${first}`);
            this.next = first;
            this.end = first + this.blockSize;
            this.pending = null;
          },
          (e) => {
            this.pending = null;
            throw e;
          },
        );
      }
      await this.pending;
    }
    return this.next++;
  }
}
