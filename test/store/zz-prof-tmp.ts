import { randomBytes } from 'node:crypto';
import { openStore } from '../../src/store/open-store.ts';
import { blobOf, mtOf, partOf } from './fixtures.ts';
const store = await openStore(`sqlite:/tmp/prof-${process.pid}.db`);
const batch = Number(process.argv[2]);
const total = 20000;
const first = await store.reserveIds('mt', total);
const units = Array.from({ length: total }, (_, i) => {
  const mtId = first + i;
  const text = blobOf(Buffer.from(`Hello number ${mtId}`));
  const img = blobOf(randomBytes(2048));
  return { blobs: [text, img], mts: [mtOf(mtId, [partOf(text, 'text/plain', 't'), partOf(img, 'image/jpeg', 'i')])],
    events: [{ mtId, at: Date.now(), type: 'accepted', node: 'n1', detail: { parts: 2 } }], jobs: [{ kind: 'submit' as const, refId: mtId }] };
});
const t = performance.now();
for (let i = 0; i < total; i += batch) await store.write(units.slice(i, i + batch));
console.log(batch, Math.round(total / ((performance.now() - t) / 1000)));
await store.close();
