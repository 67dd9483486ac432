/**
 * Content-Ids written as RFC 2047 encoded-words, as Python's email package writes them (src/mime/encoded-words.ts).
 *
 * The fixture python-emailmessage-content-ids.txt is the exact output of Python 3.11's email package (EmailMessage
 * with policy.SMTP, boundary fixed for the fixture) for a send with a JPEG whose Content-Id is `<Grüße Bild.jpg>` and
 * the same JPEG with a 94-character ASCII Content-Id: Python encodes the first (not ASCII) and the second (too long to
 * fold) as encoded-words, angle brackets included.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { boundaryOf } from '../../src/mime/content-type.ts';
import { decodeEncodedWords } from '../../src/mime/encoded-words.ts';
import { readAllParts } from '../../src/mime/multipart-reader.ts';
import { chunksOf, options, pieces, pythonContentIdsRequest } from './support.ts';

/** SHA-256 of the JPEG Python encoded (a 64x48 image, 287 bytes). */
const JPEG_SHA256 = 'cde388fc3b766faceb7f3907b4725dadd08bd87d804dff57d9a80206619d47be';
const LONG_ID = `${'a'.repeat(90)}.jpg`;

describe('decodeEncodedWords', () => {
  it('decodes B and Q words, drops the white space between adjacent words, keeps the rest of the value', () => {
    expect(decodeEncodedWords('=?utf-8?b?PEdyw7zDn2U=?= Bild.jpg>')).toBe('<Grüße Bild.jpg>');
    expect(decodeEncodedWords('=?utf-8?q?=3Caaa?=\r\n =?UTF-8?Q?bbb=2Ejpg=3E?=')).toBe('<aaabbb.jpg>');
    expect(decodeEncodedWords('=?ISO-8859-1*de?Q?Gr=FC=DFe_1?= x')).toBe('Grüße 1 x');
    expect(decodeEncodedWords('plain <id@host>')).toBe('plain <id@host>');
  });

  it('leaves words it cannot decode as written rather than guess', () => {
    expect(decodeEncodedWords('=?x-no-such-charset?q?abc?=')).toBe('=?x-no-such-charset?q?abc?=');
    expect(decodeEncodedWords('=?utf-8?b?/w==?=')).toBe('=?utf-8?b?/w==?='); // 0xFF is not UTF-8
    expect(decodeEncodedWords('=?utf-8?q?=ZZ?=')).toBe('=?utf-8?q?=ZZ?=');
  });
});

describe("Content-Ids from Python's email package", () => {
  it('come out as the sender wrote them, with the exact bytes, however the body is split', async () => {
    const { contentType, body } = pythonContentIdsRequest();
    const boundary = boundaryOf(contentType)!;
    for (const lenient of [false, true]) {
      for (const source of [chunksOf(body), pieces(body, 5)]) {
        const parts = await readAllParts(source, options(boundary, lenient));
        expect(parts.map((p) => p.contentId)).toEqual(['main', 'Grüße Bild.jpg', LONG_ID]);
        for (const p of parts.slice(1)) expect(createHash('sha256').update(p.body).digest('hex')).toBe(JPEG_SHA256);
      }
    }
  });
});
