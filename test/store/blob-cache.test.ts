import { describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createHash } from 'node:crypto';
import { BlobCache, BLOB_CACHE_ENTRY_OVERHEAD } from '../../src/store/blob-cache.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const digest = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function settled(): number {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe('BlobCache', () => {
  it('gives copies and evicts the least recently used', () => {
    const c = new BlobCache({ maxBytes: 3 * (100 + BLOB_CACHE_ENTRY_OVERHEAD), maxEntryBytes: 1000 });
    const blobs = [0, 1, 2, 3].map((i) => Buffer.alloc(100, i));
    for (const b of blobs.slice(0, 3)) c.set(digest(b), b);
    const got = c.get(digest(blobs[0]!))!;
    expect(got.equals(blobs[0]!)).toBe(true);
    got.fill(9);
    expect(c.get(digest(blobs[0]!))!.equals(blobs[0]!)).toBe(true);
    c.set(digest(blobs[3]!), blobs[3]!); // evicts blobs[1], the least recently used
    expect(c.get(digest(blobs[1]!))).toBeUndefined();
    expect(c.get(digest(blobs[2]!))).toBeDefined();
    expect(c.get(digest(blobs[3]!))).toBeDefined();
  });

  it('holds about its budget in memory when the blobs are small (no pinned pool slabs, entries counted whole)', () => {
    const maxBytes = 2 * 1024 * 1024;
    const before = settled();
    const c = new BlobCache({ maxBytes });
    const noise: Buffer[] = [];
    for (let i = 0; i < 50_000; i++) {
      // small text parts, with other small buffers allocated (and dropped) between them, as a gateway does
      const b = Buffer.from(`hello ${i} ${'x'.repeat(i % 40)}`);
      noise.push(Buffer.from(JSON.stringify({ i, request: 'a request being parsed' })));
      if (noise.length > 10) noise.shift();
      c.set(digest(b), b);
    }
    noise.length = 0;
    const held = settled() - before;
    // Copies sliced from the shared pool kept their 8 KiB slabs alive, and small entries were counted by their bytes
    // only: about 25 MB here for a 2 MiB cache.
    expect(held).toBeLessThan(2 * maxBytes);
    expect(c.get(digest(Buffer.from(`hello 49999 ${'x'.repeat(49999 % 40)}`)))).toBeDefined();
  });
});
