/**
 * Throughput of the accept path's write (not a test): `npx tsx test/store/measure-write.ts [url] [imageBytes]`.
 * Each unit is what POST /mms/v2/send commits: 1 MT, 2 parts, 2 blobs, 1 event, 1 job. Default: a SQLite temp file.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroupCommitter } from '../../src/store/group-commit.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { WriteUnit } from '../../src/store/store.ts';
import { blobOf, mtOf, partOf } from './fixtures.ts';

async function main(): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), 'mmsgate-measure-'));
  const url = process.argv[2] && process.argv[2] !== '-' ? process.argv[2] : `sqlite:${join(tmp, 'm.db')}`;
  const imageBytes = Number(process.argv[3] ?? 2048);
  const store = await openStore(url);
  const unitsFor = async (n: number): Promise<WriteUnit[]> => {
    const first = await store.reserveIds('mt', n);
    return Array.from({ length: n }, (_, i) => {
      const mtId = first + i;
      const text = blobOf(Buffer.from(`Hello number ${mtId}, here is your picture.`));
      const img = blobOf(randomBytes(imageBytes));
      return {
        blobs: [text, img],
        mts: [mtOf(mtId, [partOf(text, 'text/plain', 't'), partOf(img, 'image/jpeg', 'i')])],
        events: [{ mtId, at: Date.now(), type: 'accepted', node: 'n1', detail: { parts: 2 } }],
        jobs: [{ kind: 'submit' as const, refId: mtId }],
      };
    });
  };
  try {
    for (const batch of [100, 250, 500]) {
      const total = 20_000;
      const units = await unitsFor(total);
      const t = performance.now();
      for (let i = 0; i < total; i += batch) await store.write(units.slice(i, i + batch));
      const s = (performance.now() - t) / 1000;
      console.log(`${store.backend} write() batch=${batch} image=${imageBytes}B: ${Math.round(total / s)} MT/s`);
    }
    const total = 20_000;
    const units = await unitsFor(total);
    const gc = new GroupCommitter(store, { maxBatch: 500 });
    const t = performance.now();
    await Promise.all(units.map((u) => gc.submit(u)));
    const s = (performance.now() - t) / 1000;
    console.log(`${store.backend} GroupCommitter, ${total} concurrent submits: ${Math.round(total / s)} MT/s`);
  } finally {
    await store.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
