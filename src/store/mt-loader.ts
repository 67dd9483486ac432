/**
 * Batched MT reads for job steps: every `load(mtId)` made in the same event-loop turn (a runner launches a claimed
 * batch of jobs in one loop, and each step asks for its message at once) becomes one `Store.getMts()` call, i.e. two
 * queries per batch instead of two per message.
 */
import type { MtMessage } from '../core/message.ts';
import type { Store } from './store.ts';

/** Ids per getMts call (the store chunks larger lists itself; this bounds one turn's batch). */
const MAX_BATCH = 1000;

/** Returns a loader; each call resolves to the MT as stored when the batch ran, or undefined. */
export function createMtLoader(store: Pick<Store, 'getMts'>): (mtId: number) => Promise<MtMessage | undefined> {
  let waiting: { id: number; resolve: (m: MtMessage | undefined) => void; reject: (e: unknown) => void }[] = [];
  const run = (): void => {
    const batch = waiting.splice(0, MAX_BATCH);
    if (waiting.length > 0) queueMicrotask(run);
    store.getMts(batch.map((w) => w.id)).then(
      (found) => {
        for (const w of batch) w.resolve(found.get(w.id));
      },
      (err: unknown) => {
        for (const w of batch) w.reject(err);
      },
    );
  };
  return (mtId) =>
    new Promise((resolve, reject) => {
      if (waiting.length === 0) setImmediate(run);
      waiting.push({ id: mtId, resolve, reject });
    });
}
