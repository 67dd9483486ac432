import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readAllPartsFromStream } from '../../src/mime/multipart-reader.ts';
import { DEFAULT_MULTIPART_LIMITS } from '../../src/mime/types.ts';

const opts = { boundary: 'b', lenient: false, limits: { ...DEFAULT_MULTIPART_LIMITS } };
const body = '--b\r\nContent-Type: text/plain\r\nContent-Id: a\r\n\r\nhello\r\n--b--\r\n';

describe('readAllPartsFromStream', () => {
  it('reads the parts from data events, whatever the chunking', async () => {
    const s = new PassThrough();
    const p = readAllPartsFromStream(s, opts);
    for (const ch of body) s.write(ch);
    s.end();
    const parts = await p;
    expect(parts.map((x) => [x.contentId, x.body.toString()])).toEqual([['a', 'hello']]);
  });

  it('rejects (never hangs) when the client goes away mid-upload', async () => {
    const s = new PassThrough();
    const p = readAllPartsFromStream(s, opts);
    s.write(body.slice(0, 30));
    s.destroy();
    await expect(p).rejects.toMatchObject({ code: 'MALFORMED_MULTIPART' });
  });

  it('rejects at once a stream destroyed before the read starts (its client left during authentication)', async () => {
    const aborted = new PassThrough();
    aborted.on('error', () => undefined);
    aborted.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    await new Promise((r) => setImmediate(r)); // 'error' and 'close' are gone before the reader arrives
    await expect(readAllPartsFromStream(aborted, opts)).rejects.toMatchObject({ code: 'ECONNRESET' });
    const closed = new PassThrough();
    closed.destroy();
    await new Promise((r) => setImmediate(r));
    await expect(readAllPartsFromStream(closed, opts)).rejects.toMatchObject({ code: 'MALFORMED_MULTIPART' });
  });

  it('stops reading at the first limit it crosses', async () => {
    const s = new PassThrough();
    const p = readAllPartsFromStream(s, { ...opts, limits: { ...opts.limits, maxBodyBytes: 20 } });
    s.write(body);
    await expect(p).rejects.toMatchObject({ code: 'BODY_TOO_LARGE' });
    expect(s.listenerCount('data')).toBe(0);
    expect(s.isPaused()).toBe(true);
  });
});
