/**
 * mtId / moId allocation. Ids come from the store in reserved blocks (one atomic update per block), so they are unique
 * across nodes and restarts without a round trip per message; a block left unused when a node stops is a gap, which
 * is harmless. All ids are positive integers below 2^53 (they travel as JSON numbers).
 */
import { randomFillSync } from 'node:crypto';

/** Ids drawn per refill of the random pool: one CSPRNG call per 256 ids instead of one per request. */
const POOL_IDS = 256;
const ID_BYTES = 16;
const pool = Buffer.alloc(POOL_IDS * ID_BYTES);
let poolOffset = pool.length;

/**
 * A fresh request id (X-Request-Id): 22 URL-safe characters, 128 random bits, unique across nodes without
 * coordination. Bytes come from the CSPRNG in blocks (`randomFillSync` per 256 ids) and each slice is used once,
 * so ids stay independent; a per-request `randomBytes(16)` cost more than the rest of the id handling.
 */
export function newRequestId(): string {
  if (poolOffset >= pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const id = pool.toString('base64url', poolOffset, poolOffset + ID_BYTES);
  poolOffset += ID_BYTES;
  return id;
}

/**
 * Ids from blocks reserved in the store (unique across nodes and restarts). The next block is reserved in the
 * background when a fifth of the current one is left, so takes do not wait for the store at a block boundary; ids
 * of a block that was never used (a restart) are skipped, which is fine: ids are unique, not dense.
 */
export class IdAllocator {
  private next = 0;
  private end = 0;
  /** First id of the block reserved ahead, if any. */
  private spare: number | null = null;
  private pending: Promise<void> | null = null;

  constructor(
    private readonly reserve: (count: number) => Promise<number>,
    private readonly blockSize = 1000,
  ) {}

  /** The next id if a reserved block has one left (no promise turn: the accept path's common case); else undefined. */
  takeNow(): number | undefined {
    if (this.next >= this.end) {
      if (this.spare === null) return undefined;
      this.next = this.spare;
      this.end = this.spare + this.blockSize;
      this.spare = null;
    }
    const id = this.next++;
    if (this.end - this.next <= this.blockSize / 5) void this.reserveAhead().catch(() => {}); // retried on demand
    return id;
  }

  /** The next id. */
  async take(): Promise<number> {
    for (;;) {
      const id = this.takeNow();
      if (id !== undefined) return id;
      await this.reserveAhead();
    }
  }

  /** Reserve the next block unless one is reserved or on its way. */
  private reserveAhead(): Promise<void> {
    if (this.pending) return this.pending;
    if (this.spare !== null) return Promise.resolve();
    this.pending = this.reserve(this.blockSize).then(
      (first) => {
        this.pending = null;
        if (!Number.isSafeInteger(first) || first <= 0) throw new Error(`bad id block start ${first}`);
        this.spare = first;
      },
      (e) => {
        this.pending = null;
        throw e;
      },
    );
    return this.pending;
  }
}
