import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/core/errors.ts';
import { readAllParts, readMultipart } from '../../src/mime/multipart-reader.ts';
import type { MultipartLimits } from '../../src/mime/types.ts';
import { chunksOf, options } from './support.ts';

const CHUNK = 1024;

/** A source that yields `head` and then `unit` forever, counting every byte handed out and whether it was released. */
function endless(head: string, unit: string): { source: AsyncGenerator<Buffer>; pulled: () => number; released: () => boolean } {
  let pulled = 0;
  let released = false;
  const unitBuf = Buffer.from(unit.repeat(Math.ceil(CHUNK / unit.length))).subarray(0, CHUNK);
  async function* gen(): AsyncGenerator<Buffer> {
    try {
      const h = Buffer.from(head);
      pulled += h.length;
      yield h;
      for (;;) {
        pulled += unitBuf.length;
        yield unitBuf;
      }
    } finally {
      released = true;
    }
  }
  return { source: gen(), pulled: () => pulled, released: () => released };
}

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

const opts = (limits: Partial<MultipartLimits>, lenient = false) => options('lim', lenient, limits);

describe('limits are enforced while streaming and the source is abandoned', () => {
  it('BODY_TOO_LARGE: an endless part stops right after maxBodyBytes', async () => {
    const s = endless('--lim\r\n\r\n', 'x');
    const err = await rejection(readAllParts(s.source, opts({ maxBodyBytes: 50_000, maxPartBytes: 10_000_000 })));
    expect(err.code).toBe('BODY_TOO_LARGE');
    expect(err.status).toBe(413);
    expect(err.details).toEqual({ limit: 50_000 });
    expect(s.pulled()).toBeLessThanOrEqual(50_000 + CHUNK);
    expect(s.released()).toBe(true);
  });

  it('BODY_TOO_LARGE: an endless preamble is not buffered or read past the limit', async () => {
    const s = endless('', 'preamble text without delimiter ');
    const err = await rejection(readAllParts(s.source, opts({ maxBodyBytes: 30_000 })));
    expect(err.code).toBe('BODY_TOO_LARGE');
    expect(s.pulled()).toBeLessThanOrEqual(30_000 + CHUNK);
  });

  it('BODY_TOO_LARGE: an endless epilogue after the close delimiter', async () => {
    const s = endless('--lim\r\n\r\nok\r\n--lim--\r\n', 'epilogue ');
    const seen: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const p of readMultipart(s.source, opts({ maxBodyBytes: 20_000 }))) seen.push(p.body.toString());
      })(),
    );
    expect(err.code).toBe('BODY_TOO_LARGE');
    expect(seen).toEqual(['ok']);
    expect(s.pulled()).toBeLessThanOrEqual(20_000 + CHUNK);
  });

  it('PART_TOO_LARGE: a part body stops right after maxPartBytes', async () => {
    const s = endless('--lim\r\nContent-Type: image/jpeg\r\n\r\n', '\xff\xd8-\r\n');
    const err = await rejection(readAllParts(s.source, opts({ maxPartBytes: 40_000 })));
    expect(err.code).toBe('PART_TOO_LARGE');
    expect(err.details).toEqual({ limit: 40_000 });
    expect(s.pulled()).toBeLessThanOrEqual(40_000 + 2 * CHUNK);
    expect(s.released()).toBe(true);
  });

  it('TOO_MANY_PARTS: an endless stream of parts stops at the first part over maxParts', async () => {
    const s = endless('--lim\r\n', '\r\nx\r\n--lim\r\n');
    const err = await rejection(readAllParts(s.source, opts({ maxParts: 5 }, true)));
    expect(err.code).toBe('TOO_MANY_PARTS');
    expect(err.details).toEqual({ limit: 5 });
    expect(s.pulled()).toBeLessThanOrEqual(2 * CHUNK);
    expect(s.released()).toBe(true);
  });

  it('HEADER_TOO_LARGE: an endless header line, and endless header lines, in both modes', async () => {
    for (const lenient of [false, true]) {
      const line = endless('--lim\r\nX-Long: ', 'a');
      const e1 = await rejection(readAllParts(line.source, opts({ maxHeaderBytes: 4096 }, lenient)));
      expect(e1.code).toBe('HEADER_TOO_LARGE');
      expect(e1.status).toBe(431);
      expect(line.pulled()).toBeLessThanOrEqual(4096 + 2 * CHUNK);
      const many = endless('--lim\r\n', 'X-H: 1\r\n');
      const e2 = await rejection(readAllParts(many.source, opts({ maxHeaderBytes: 4096 }, lenient)));
      expect(e2.code).toBe('HEADER_TOO_LARGE');
      expect(many.pulled()).toBeLessThanOrEqual(4096 + 2 * CHUNK);
      const folded = endless('--lim\r\nX-F: a\r\n', ' more\r\n');
      expect((await rejection(readAllParts(folded.source, opts({ maxHeaderBytes: 4096 }, lenient)))).code).toBe(
        'HEADER_TOO_LARGE',
      );
    }
  });

  it('HEADER_TOO_LARGE: endless white space after a delimiter in lenient mode', async () => {
    const s = endless('--lim\r\n\r\nx\r\n--lim', ' \r\n');
    const err = await rejection(readAllParts(s.source, opts({ maxHeaderBytes: 2048 }, true)));
    expect(err.code).toBe('HEADER_TOO_LARGE');
    expect(s.pulled()).toBeLessThanOrEqual(2048 + 2 * CHUNK);
  });
});

describe('limits: exactly at the limit is accepted', () => {
  const body = '--lim\r\nContent-Type: text/plain\r\n\r\n0123456789\r\n--lim\r\nX-A: b\r\n\r\nabc\r\n--lim--';

  it('maxBodyBytes, maxParts, maxPartBytes and maxHeaderBytes equal to the input', async () => {
    const exact = {
      maxBodyBytes: Buffer.byteLength(body),
      maxParts: 2,
      maxPartBytes: 10,
      maxHeaderBytes: Buffer.byteLength('Content-Type: text/plain\r\n\r\n'),
    };
    const parts = await readAllParts(chunksOf(Buffer.from(body)), opts(exact));
    expect(parts.map((p) => p.body.toString())).toEqual(['0123456789', 'abc']);
    const over = (l: Partial<MultipartLimits>) => rejection(readAllParts(chunksOf(Buffer.from(body)), opts({ ...exact, ...l })));
    expect((await over({ maxBodyBytes: exact.maxBodyBytes - 1 })).code).toBe('BODY_TOO_LARGE');
    expect((await over({ maxParts: 1 })).code).toBe('TOO_MANY_PARTS');
    expect((await over({ maxPartBytes: 9 })).code).toBe('PART_TOO_LARGE');
    expect((await over({ maxHeaderBytes: exact.maxHeaderBytes - 1 })).code).toBe('HEADER_TOO_LARGE');
  });

  it('maxPartBytes applies to the encoded size, so a base64 part is measured as sent', async () => {
    const b64 = '--lim\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAAAAAA\r\n--lim--';
    expect((await readAllParts(chunksOf(Buffer.from(b64)), opts({ maxPartBytes: 8 })))[0]!.body).toHaveLength(6);
    const err = await rejection(readAllParts(chunksOf(Buffer.from(b64)), opts({ maxPartBytes: 7 })));
    expect(err.code).toBe('PART_TOO_LARGE');
  });
});
