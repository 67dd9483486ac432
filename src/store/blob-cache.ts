/**
 * A bounded in-memory cache of blob bytes by sha256.
 *
 * Blobs are content-addressed and never rewritten or deleted (a digest names one byte string forever), so a copy
 * read once stays right on every node; the pipeline reads the same parts for each of a message's jobs, and on
 * PostgreSQL each read holds a pooled connection the claims and group commits are waiting for.
 */

/** Limits of a BlobCache. */
export interface BlobCacheOptions {
  /** Total bytes held (default 32 MiB). */
  maxBytes?: number;
  /** Larger blobs are not cached (default 1 MiB). */
  maxEntryBytes?: number;
}

/** Least-recently-used cache of immutable blob bytes. Callers get copies, so no caller can alter another's bytes. */
export class BlobCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;
  private readonly maxBytes: number;
  private readonly maxEntryBytes: number;

  constructor(opts: BlobCacheOptions = {}) {
    this.maxBytes = Math.max(0, Math.floor(opts.maxBytes ?? 32 * 1024 * 1024));
    this.maxEntryBytes = Math.min(this.maxBytes, Math.max(0, Math.floor(opts.maxEntryBytes ?? 1024 * 1024)));
  }

  /** A copy of the cached bytes, or undefined. */
  get(sha256: string): Buffer | undefined {
    const b = this.entries.get(sha256);
    if (!b) return undefined;
    // Re-insert: Map iteration order is insertion order, so the front is the least recently used.
    this.entries.delete(sha256);
    this.entries.set(sha256, b);
    return Buffer.from(b);
  }

  /** Remember a copy of `bytes` under `sha256` (if small enough), evicting the least recently used. */
  set(sha256: string, bytes: Uint8Array): void {
    if (bytes.length > this.maxEntryBytes || this.entries.has(sha256)) return;
    this.entries.set(sha256, Buffer.from(bytes));
    this.bytes += bytes.length;
    for (const [key, b] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(key);
      this.bytes -= b.length;
    }
  }
}

/**
 * Digests of blobs known to be stored (committed by this process, or read back). A write skips those blobs: the
 * row is there for good (blobs are never deleted), so re-sending the bytes only cost an INSERT that finds the
 * conflict after copying the whole blob into a record (a campaign sends one content to many numbers). Bounded:
 * the oldest digests are forgotten first, which only means one more no-op insert.
 */
export class StoredDigests {
  private readonly digests = new Set<string>();

  constructor(private readonly max = 20_000) {}

  has(sha256: string): boolean {
    return this.digests.has(sha256);
  }

  add(sha256: string): void {
    if (this.digests.has(sha256)) return;
    if (this.digests.size >= this.max) this.digests.delete(this.digests.values().next().value as string);
    this.digests.add(sha256);
  }
}
