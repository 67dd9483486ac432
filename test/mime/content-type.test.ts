import { describe, expect, it } from 'vitest';
import { boundaryOf, mediaTypeOf, parseContentType, parseContentTypeFully } from '../../src/mime/content-type.ts';

describe('parseContentType (RFC 2045 §5.1)', () => {
  it('lower-cases type/subtype and parameter names, keeps value case', () => {
    expect(parseContentType('Multipart/Mixed; BOUNDARY=AbC; Charset=UTF-8')).toEqual({
      type: 'multipart/mixed',
      params: { boundary: 'AbC', charset: 'UTF-8' },
    });
  });

  it('unquotes quoted-string values and resolves backslash escapes', () => {
    const p = parseContentType('multipart/related; boundary="a;b=c d"; start="<soap@x>"; title="say \\"hi\\" \\\\ bye"');
    expect(p.params).toEqual({ boundary: 'a;b=c d', start: '<soap@x>', title: 'say "hi" \\ bye' });
  });

  it('tolerates spaces around "=" and ";", a trailing ";" and empty parameters', () => {
    expect(parseContentType(' text/plain ;  charset = utf-8 ;; format= flowed ; ')).toEqual({
      type: 'text/plain',
      params: { charset: 'utf-8', format: 'flowed' },
    });
  });

  it('keeps a bare value holding tspecials as sent by sloppy clients', () => {
    expect(parseContentType('multipart/mixed; boundary=----=_Part_0_1.2').params['boundary']).toBe('----=_Part_0_1.2');
  });

  it('first occurrence of a repeated parameter wins; "__proto__" is an ordinary name', () => {
    const p = parseContentType('text/plain; a=1; A=2; __proto__=x');
    expect(p.params['a']).toBe('1');
    expect(Object.getPrototypeOf(p.params)).toBe(Object.prototype);
    expect(Object.keys(p.params)).toEqual(['a', '__proto__']);
  });

  it('a type without parameters', () => {
    expect(parseContentType('application/JSON')).toEqual({ type: 'application/json', params: {} });
  });
});

describe('parseContentType shortcut for `type/subtype; boundary=...`', () => {
  // Each value either takes the shortcut or the full parse; the answer must be the same either way.
  const values = [
    'multipart/mixed; boundary="bench-boundary-1"',
    'multipart/mixed; boundary=mimeboundary',
    'Multipart/Mixed;Boundary=AbC',
    'multipart/mixed ; boundary = "x y" ;',
    '  multipart/mixed\t;\tboundary=abc;  ',
    'multipart/mixed; boundary=""',
    'multipart/mixed; boundary="a\\"b"',
    'multipart/mixed; boundary=a\\b',
    'multipart/mixed; boundary="abc" trailing',
    'multipart/mixed; boundary=a b',
    'multipart/mixed; boundary=a; boundary=b',
    'multipart/mixed; boundary=a; charset=utf-8',
    'multipart/mixed; boundary="----=_Part_1"',
    'multipart/mixed; boundary=----=_Part_1',
    'multipart/mixed;\r\n boundary=abc',
    'multipart/mixed; boundary=abc\u00a0',
    'multi part/mixed; boundary=abc',
    'multipart/mixed; boundary=',
  ];
  it.each(values)('%j parses the same with and without the shortcut', (v) => {
    expect(parseContentType(v)).toEqual(parseContentTypeFully(v));
  });

  it('reads a long run of white space without backtracking (a header of spaces is answered, not hung on)', () => {
    const v = `multipart/mixed; boundary=abc${' '.repeat(200_000)}x`;
    expect(parseContentType(v)).toEqual(parseContentTypeFully(v));
    const w = `multipart/mixed${' \t'.repeat(100_000)};${' '.repeat(100_000)}`;
    expect(parseContentType(w).type).toBe('multipart/mixed');
  });
});

describe('boundaryOf', () => {
  it('finds a bare boundary (as in the OpenMarket examples) and a quoted one', () => {
    expect(boundaryOf('multipart/mixed; boundary=mimeboundary')).toBe('mimeboundary');
    expect(boundaryOf('multipart/related; type="text/xml"; boundary="=_x y"; start="<a>"')).toBe('=_x y');
  });

  it('is undefined without boundary, with an empty one, or for a non-multipart type', () => {
    expect(boundaryOf('multipart/mixed')).toBeUndefined();
    expect(boundaryOf('multipart/mixed; boundary=""')).toBeUndefined();
    expect(boundaryOf('text/plain; boundary=abc')).toBeUndefined();
    expect(boundaryOf(undefined)).toBeUndefined();
  });
});

describe('mediaTypeOf', () => {
  it('gives the type/subtype that parseContentType gives, from the cache or not, for short and long values', () => {
    const values = [
      'text/plain; charset=utf-8',
      'TEXT/Plain',
      'image/JPEG; name="a.jpg"',
      'application/vnd.openmarket.remoteContent',
      '',
      `multipart/mixed; boundary="${'x'.repeat(300)}"`,
    ];
    for (let round = 0; round < 2; round++) {
      for (const v of values) expect(mediaTypeOf(v)).toBe(parseContentType(v).type);
    }
    // Many distinct values (the cache is bounded and starts over): still right for each.
    for (let i = 0; i < 600; i++) expect(mediaTypeOf(`image/x-${i}; a=b`)).toBe(`image/x-${i}`);
    expect(mediaTypeOf('TEXT/Plain')).toBe('text/plain');
  });
});
