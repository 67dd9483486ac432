/**
 * A bounded map whose entries expire: the credential caches (verified and refused credentials) of the send API and MM7
 * inbound. Reading an entry makes it the most recently used; a full map drops the least recently used one, so no
 * caller can empty it for others (a cache cleared when full could be flushed by one client).
 */
export class ExpiringLru<V> {
  /** key -> value and expiry (ms); Map order is least recently used first. */
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  /**
   * The key last made most recently used: reading it again needs no reordering. Under load most reads repeat the
   * last key (a busy client's credential), and the delete + set of a reorder was half the cost of a read.
   */
  private newest: string | undefined;

  constructor(
    private readonly max: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The value of a fresh entry (now the most recently used), else undefined; an expired entry is dropped. */
  get(key: string): V | undefined {
    const hit = this.entries.get(key);
    if (hit === undefined) return undefined;
    if (hit.expiresAt <= this.now()) {
      this.entries.delete(key);
      if (key === this.newest) this.newest = undefined;
      return undefined;
    }
    if (key !== this.newest) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      this.newest = key;
    }
    return hit.value;
  }

  /** Store `value` under `key` for `ttlMs`, as the most recently used entry. */
  set(key: string, value: V, ttlMs: number): void {
    this.entries.delete(key);
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
    this.newest = key;
  }

  /** Replace each value by what `fn` makes of it, dropping the entries it answers undefined for (expiry kept). */
  update(fn: (value: V) => V | undefined): void {
    for (const [key, entry] of this.entries) {
      const next = fn(entry.value);
      if (next === undefined) {
        this.entries.delete(key);
        if (key === this.newest) this.newest = undefined;
      }
      else entry.value = next;
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
