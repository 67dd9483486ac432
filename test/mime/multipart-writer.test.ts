import { describe, expect, it } from 'vitest';
import { parseContentType } from '../../src/mime/content-type.ts';
import { readAllParts } from '../../src/mime/multipart-reader.ts';
import { base64Body, buildMultipart, formatParameterValue, type MultipartPartInput } from '../../src/shared/multipart-writer.ts';
import { chunksOf, options } from './support.ts';

describe('buildMultipart', () => {
  it('writes exact RFC 2046 framing with CRLF line endings and a close delimiter', () => {
    const built = buildMultipart(
      [
        { headers: { 'Content-Type': 'application/json' }, body: '{}' },
        { headers: {}, body: Buffer.from('x') },
      ],
      { boundary: 'fixed-b' },
    );
    expect(built.boundary).toBe('fixed-b');
    expect(built.contentType).toBe('multipart/mixed; boundary=fixed-b');
    expect(built.body.toString()).toBe(
      '--fixed-b\r\nContent-Type: application/json\r\n\r\n{}\r\n--fixed-b\r\n\r\nx\r\n--fixed-b--\r\n',
    );
  });

  it('quotes parameter values that need it (multipart/related for MM7)', () => {
    const built = buildMultipart([{ headers: {}, body: 'a' }], {
      subtype: 'related',
      boundary: 'MM7 b=1',
      params: { type: 'text/xml', start: '<soap-start>', charset: 'utf-8' },
    });
    expect(built.contentType).toBe('multipart/related; boundary="MM7 b=1"; type="text/xml"; start="<soap-start>"; charset=utf-8');
    expect(parseContentType(built.contentType)).toEqual({
      type: 'multipart/related',
      params: { boundary: 'MM7 b=1', type: 'text/xml', start: '<soap-start>', charset: 'utf-8' },
    });
    expect(formatParameterValue('say "hi" \\ ok')).toBe('"say \\"hi\\" \\\\ ok"');
  });

  it('chooses a fresh random boundary absent from every body', () => {
    const a = buildMultipart([{ headers: {}, body: 'x' }]);
    const b = buildMultipart([{ headers: {}, body: 'x' }]);
    expect(a.boundary).not.toBe(b.boundary);
    expect(a.boundary.length).toBeLessThanOrEqual(70);
    expect(parseContentType(a.contentType).params['boundary']).toBe(a.boundary);
    // A body that contains the boundary chosen by another call cannot clash with its own.
    const c = buildMultipart([{ headers: {}, body: `--${a.boundary}\r\n` }]);
    expect(c.boundary).not.toBe(a.boundary);
  });

  it('with a token prefix, the random boundary is written bare (no quotes), and still avoids every body', () => {
    const a = buildMultipart([{ headers: {}, body: 'x' }], { boundaryPrefix: 'mmsgate_' });
    expect(a.boundary).toMatch(/^mmsgate_[0-9a-f]{30}$/);
    expect(a.contentType).toBe(`multipart/mixed; boundary=${a.boundary}`);
    const b = buildMultipart([{ headers: {}, body: `--${a.boundary}\r\n` }], { boundaryPrefix: 'mmsgate_' });
    expect(b.boundary).not.toBe(a.boundary);
    // The default prefix "=_" needs quoting (RFC 2045 §5.1 tspecials).
    expect(buildMultipart([{ headers: {}, body: 'x' }]).contentType).toMatch(/^multipart\/mixed; boundary="=_mmsgate_[0-9a-f]{30}"$/);
    expect(() => buildMultipart([{ headers: {}, body: 'a' }], { boundaryPrefix: 'bad\n' })).toThrow(RangeError);
    expect(() => buildMultipart([{ headers: {}, body: 'a' }], { boundaryPrefix: 'x'.repeat(41) })).toThrow(RangeError);
  });

  it('refuses a given boundary that occurs in a body, an invalid boundary, header injection and no parts', () => {
    expect(() => buildMultipart([{ headers: {}, body: 'a --bnd b' }], { boundary: 'bnd' })).toThrow(RangeError);
    expect(() => buildMultipart([{ headers: {}, body: 'a' }], { boundary: 'x'.repeat(71) })).toThrow(RangeError);
    expect(() => buildMultipart([{ headers: {}, body: 'a' }], { boundary: 'ends with space ' })).toThrow(RangeError);
    expect(() => buildMultipart([{ headers: { 'X-A': 'v\r\nX-Evil: 1' }, body: 'a' }])).toThrow(RangeError);
    expect(() => buildMultipart([{ headers: { 'Bad Name': 'v' }, body: 'a' }])).toThrow(RangeError);
    expect(() => buildMultipart([{ headers: {}, body: 'a' }], { params: { start: 'a\nb' } })).toThrow(RangeError);
    expect(() => buildMultipart([])).toThrow(RangeError);
  });
});

describe('round trip: buildMultipart -> readAllParts', () => {
  it('returns the same headers and bytes, for binary, text, base64 and empty bodies', async () => {
    const bin = Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 131) & 0xff));
    const parts: MultipartPartInput[] = [
      { headers: { 'Content-Type': 'application/json', 'Content-Id': '<main>' }, body: '{"type":"MT","n":"Köln"}' },
      { headers: { 'Content-Type': 'image/jpeg', 'Content-ID': 'img', 'Content-Transfer-Encoding': 'base64' }, body: base64Body(bin) },
      { headers: { 'Content-Type': 'application/octet-stream' }, body: bin },
      { headers: { 'Content-Type': 'text/plain' }, body: '\r\nleading and trailing CRLF\r\n' },
      { headers: { 'Content-Type': 'text/plain' }, body: '' },
    ];
    const built = buildMultipart(parts);
    for (const lenient of [false, true]) {
      const read = await readAllParts(chunksOf(built.body), options(built.boundary, lenient));
      expect(read.map((p) => p.contentId)).toEqual(['main', 'img', '', '', '']);
      expect(read[0]!.body.toString()).toBe('{"type":"MT","n":"Köln"}');
      expect(read[1]!.body.equals(bin)).toBe(true);
      expect(read[1]!.encodedSize).toBe(Buffer.byteLength(base64Body(bin)));
      expect(read[2]!.body.equals(bin)).toBe(true);
      expect(read[3]!.body.toString()).toBe('\r\nleading and trailing CRLF\r\n');
      expect(read[4]!.body).toHaveLength(0);
      expect(read[2]!.headers).toEqual({ 'content-type': 'application/octet-stream' });
    }
  });
});

describe('base64Body', () => {
  it('76-column lines joined by CRLF', () => {
    const s = base64Body(Buffer.alloc(200, 7));
    const lines = s.split('\r\n');
    expect(lines.map((l) => l.length)).toEqual([76, 76, 76, 40]);
    expect(Buffer.from(lines.join(''), 'base64')).toEqual(Buffer.alloc(200, 7));
    expect(base64Body(new Uint8Array([104, 105]))).toBe('aGk=');
    expect(base64Body(Buffer.alloc(0))).toBe('');
  });
});
