/**
 * Single-flight: concurrent callers asking for the same key share one running promise, which is forgotten once it
 * settles (so a failure is not remembered: the next caller starts afresh). For work that is costly and idempotent
 * per key: a key derivation for one credential, a fetch of one URL.
 */
export class SingleFlight<K, V> {
  private readonly running = new Map<K, Promise<V>>();

  /** The promise already running for `key`, else the one `start` begins now. */
  run(key: K, start: () => Promise<V>): Promise<V> {
    const current = this.running.get(key);
    if (current !== undefined) return current;
    const started = start().finally(() => this.running.delete(key));
    this.running.set(key, started);
    return started;
  }
}
