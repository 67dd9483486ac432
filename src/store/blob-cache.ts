/**
 * A bounded in-memory cache of blob bytes by sha256.
 *
 * Blobs are content-addressed and never rewritten (a digest names one byte string forever; a blob is deleted only
 * when nothing references it any more), so a copy read once stays right on every node; the pipeline reads the same parts for each of a message's jobs, and on
 * PostgreSQL each read holds a pooled connection the claims and group commits are waiting for.
 */

/**
 * Memory an entry costs besides its bytes, counted against `maxBytes`: the digest string, the Map slot and the Buffer's
 * objects (about 300 bytes of heap each, measured on Node 20). Without it, a cache of small blobs (text parts of a few
 * dozen bytes) held hundreds of thousands of entries, several times its budget in heap.
 */
export const BLOB_CACHE_ENTRY_OVERHEAD = 512;

/** Limits of a BlobCache. */
export interface BlobCacheOptions {
  /** Total memory held, bytes plus BLOB_CACHE_ENTRY_OVERHEAD per entry (default 32 MiB). */
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
    this.maxEntryBytes = Math.min(this.maxBytes - BLOB_CACHE_ENTRY_OVERHEAD, Math.max(0, Math.floor(opts.maxEntryBytes ?? 1024 * 1024)));
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
    // A copy in memory of its own: Buffer.from() puts a small copy in a slice of Node's shared 8 KiB pool, and a kept
    // slice keeps its whole slab alive, with whatever else was allocated from it since freed. Cached small blobs so
    // held about three times the budget in slabs (a soak run's external memory climbed for 20 minutes).
    const copy = Buffer.allocUnsafeSlow(bytes.length);
    copy.set(bytes);
    this.entries.set(sha256, copy);
    this.bytes += bytes.length + BLOB_CACHE_ENTRY_OVERHEAD;
    for (const [key, b] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(key);
      this.bytes -= b.length + BLOB_CACHE_ENTRY_OVERHEAD;
    }
  }
}

/**
 * A write that brings a stored blob moves its `last_ref_at` forward only when it is older than this: one UPDATE per
 * blob and hour, not one per message (sqlite-writer.ts INSERT.blob, sql-store.ts insertRows).
 */
export const BLOB_TOUCH_INTERVAL_MS = 60 * 60 * 1000;

/**
 * A write may leave out a blob known to be stored only while the blob's `last_ref_at` is known to be at most this old.
 * Blobs are deleted once nothing references them, judged by `last_ref_at` (store/retention.ts); a write that leaves
 * a blob out does not move it. So every message referencing a blob was written at most this long after the blob's
 * `last_ref_at`, which retention.ts's grace period covers many times over. Longer than the touch interval, so a
 * blob just written may be left out for an hour.
 */
export const BLOB_SKIP_WINDOW_MS = 2 * BLOB_TOUCH_INTERVAL_MS;

/**
 * Digests of blobs known to be stored, each with a time its row's `last_ref_at` is known to be at least (from a
 * commit of this process, or a read that returned it). A write skips those blobs while that time is less than
 * BLOB_SKIP_WINDOW_MS old: re-sending the bytes would only cost an INSERT that finds the conflict after copying the
 * whole blob into a record (a campaign sends one content to many numbers). Bounded: the oldest digests are forgotten
 * first, which only means one more insert.
 */
export class StoredDigests {
  private readonly digests = new Map<string, number>();

  constructor(private readonly max = 20_000) {}

  /** True if a write at `now` may leave this blob out. */
  has(sha256: string, now: number): boolean {
    const at = this.digests.get(sha256);
    return at !== undefined && now - at < BLOB_SKIP_WINDOW_MS;
  }

  /** The blob is stored and its `last_ref_at` is at least `refAt`. */
  add(sha256: string, refAt: number): void {
    const known = this.digests.get(sha256);
    if (known !== undefined) {
      if (refAt > known) this.digests.set(sha256, refAt);
      return;
    }
    if (this.digests.size >= this.max) this.digests.delete(this.digests.keys().next().value as string);
    this.digests.set(sha256, refAt);
  }
}
