/**
 * The OpenMarket "Things to Know" examples, byte for byte as printed in the documentation (no blank line after part
 * headers, no close delimiter in the MT example, a header on the delimiter line in the MO example, no-break spaces
 * after header values). Lenient mode must accept them; strict mode must not.
 */
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/core/errors.ts';
import { boundaryOf } from '../../src/mime/content-type.ts';
import { readAllParts } from '../../src/mime/multipart-reader.ts';
import type { ParsedPart } from '../../src/mime/types.ts';
import { SEED_PATH, chunksOf, exampleBody, options, pieces, seedBody } from './support.ts';

const NBSP = '\u00a0';
const mt = exampleBody('mt');
const mo = exampleBody('mo');
// The documentation's MO request header reads "multipart/mixed; boundary=mimeboundary" followed by a no-break space.
const boundary = boundaryOf(`multipart/mixed; boundary=mimeboundary${NBSP}`)!;

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

const view = (parts: ParsedPart[]) => parts.map((p) => ({ type: p.contentType, id: p.contentId, body: p.body.toString('utf8') }));

describe('fixtures', () => {
  it.skipIf(SEED_PATH === undefined)('are the examples of the OpenMarket document, byte for byte', () => {
    expect(mt.equals(seedBody(SEED_PATH!, 'POST /mms/v2/send'))).toBe(true);
    expect(mo.equals(seedBody(SEED_PATH!, 'POST /customerEndpoint'))).toBe(true);
  });
});

describe('OpenMarket MT example as printed', () => {
  it('the boundary is found despite the no-break space printed after it', () => {
    expect(boundary).toBe('mimeboundary');
  });

  it('is taken from the seed with its quirks intact', () => {
    const text = mt.toString('utf8');
    expect(text.startsWith('--mimeboundary\nContent-Type: application/json\nContent-Id: main\n{\n')).toBe(true);
    expect(text).toContain(`Content-Id: MMS-Demo.mp4${NBSP}\nhttps://`);
    expect(text.endsWith('MMS-Demo.mp4\n--mimeboundary\n')).toBe(true);
    expect(text).not.toContain('--mimeboundary--');
  });

  it('lenient: two parts, the JSON control part and the remote-content URL', async () => {
    const parts = await readAllParts(chunksOf(mt), options(boundary, true));
    expect(view(parts)).toEqual([
      {
        type: 'application/json',
        id: 'main',
        body: mt.toString('utf8').split('\n').slice(3, 11).join('\n'),
      },
      {
        type: 'application/vnd.openmarket.remoteContent',
        id: 'MMS-Demo.mp4',
        body: 'https://www.openmarket.com/docs/Content/downloads/MMS-Demo.mp4',
      },
    ]);
    expect(parts[0]!.body.toString().startsWith('{\n')).toBe(true);
    expect(parts[0]!.body.toString().endsWith('"mobileOperatorId": 77\n}')).toBe(true);
  });

  it('lenient: same result with CRLF line endings, without the final line break, and one byte per chunk', async () => {
    const expected = view(await readAllParts(chunksOf(mt), options(boundary, true)));
    const crlf = Buffer.from(mt.toString('utf8').replace(/\n/g, '\r\n'));
    const crlfParts = view(await readAllParts(chunksOf(crlf), options(boundary, true)));
    expect(crlfParts.map((p) => p.body.replace(/\r\n/g, '\n'))).toEqual(expected.map((p) => p.body));
    const noFinalLf = mt.subarray(0, mt.length - 1);
    expect(view(await readAllParts(chunksOf(noFinalLf), options(boundary, true)))).toEqual(expected);
    expect(view(await readAllParts(pieces(mt, 1), options(boundary, true)))).toEqual(expected);
  });

  it('strict: rejected as malformed', async () => {
    const err = await rejection(readAllParts(chunksOf(mt), options(boundary, false)));
    expect(err.code).toBe('MALFORMED_MULTIPART');
    expect(err.status).toBe(400);
  });

  it('lenient: the same example cut inside its last part is refused as truncated', async () => {
    const cut = mt.subarray(0, mt.indexOf('https://') + 20);
    const err = await rejection(readAllParts(chunksOf(cut), options(boundary, true)));
    expect(err.details).toEqual({ reason: 'truncated' });
  });
});

describe('OpenMarket MO example as printed', () => {
  it('is taken from the seed with its quirks intact', () => {
    const text = mo.toString('utf8');
    expect(text.startsWith('--mimeboundaryContent-Type: application/json\n')).toBe(true);
    expect(text).toContain(`"ccs": [],${NBSP}\n`);
    expect(text.endsWith('--mimeboundary--\n')).toBe(true);
  });

  it('lenient: the JSON part (header on the delimiter line) and the text part', async () => {
    const parts = await readAllParts(chunksOf(mo), options(boundary, true));
    expect(view(parts).map((p) => [p.type, p.id])).toEqual([
      ['application/json', 'main'],
      ['text/plain', 'text.txt'],
    ]);
    const json = parts[0]!.body.toString('utf8');
    expect(json.startsWith('{\n')).toBe(true);
    expect(json.endsWith('"userAgent": "HTC One"\n}')).toBe(true);
    // The body is kept exactly, no-break spaces included.
    expect(json).toContain(`"ccs": [],${NBSP}\n`);
    expect(parts[1]!.body.toString()).toBe('Here is a picture of the bird in question');
    expect(parts[1]!.headers).toEqual({ 'content-type': 'text/plain', 'content-id': 'text.txt' });
  });

  it('lenient: every split position gives the same parts', async () => {
    const expected = view(await readAllParts(chunksOf(mo), options(boundary, true)));
    for (let at = 0; at <= mo.length; at++) {
      const parts = await readAllParts(chunksOf(mo.subarray(0, at), mo.subarray(at)), options(boundary, true));
      expect(view(parts), `split at ${at}`).toEqual(expected);
    }
  });

  it('strict: rejected as malformed', async () => {
    const err = await rejection(readAllParts(chunksOf(mo), options(boundary, false)));
    expect(err.code).toBe('MALFORMED_MULTIPART');
  });
});
