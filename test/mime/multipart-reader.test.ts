import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/core/errors.ts';
import { boundaryOf } from '../../src/mime/content-type.ts';
import { readAllParts, readMultipart } from '../../src/mime/multipart-reader.ts';
import type { MultipartOptions, ParsedPart } from '../../src/mime/types.ts';
import { chunksOf, options, pieces } from './support.ts';

const strict = options('b0undary', false);
const lenient = options('b0undary', true);

const read = (body: string | Buffer, opts: MultipartOptions = strict): Promise<ParsedPart[]> =>
  readAllParts(chunksOf(Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1')), opts);

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

const crlf = (s: string): string => s.replace(/\n/g, '\r\n');

// Preamble, transport padding after delimiters, body ending with its own CRLF, epilogue.
const standard = crlf(
  [
    'This is the preamble; ignore it.',
    '--b0undary \t',
    'Content-Type: application/json',
    'Content-ID: <main@x>',
    '',
    '{"type":"MT"}',
    '--b0undary',
    'content-type: text/plain; charset=utf-8',
    'CONTENT-ID: text.txt',
    '',
    'line one',
    'line two',
    '',
    '--b0undary--  ',
    'This is the epilogue; ignore it too.',
    '',
  ].join('\n'),
);

describe('readAllParts: RFC 2046 framing', () => {
  it('parses preamble, padding, epilogue; bodies exclude the CRLF that precedes a delimiter', async () => {
    const parts = await read(standard);
    expect(parts).toHaveLength(2);
    expect(parts[0]!.contentType).toBe('application/json');
    expect(parts[0]!.contentId).toBe('main@x');
    expect(parts[0]!.body.toString()).toBe('{"type":"MT"}');
    expect(parts[1]!.headers).toEqual({ 'content-type': 'text/plain; charset=utf-8', 'content-id': 'text.txt' });
    // The body's own trailing CRLF is kept; only the delimiter's CRLF is removed.
    expect(parts[1]!.body.toString()).toBe('line one\r\nline two\r\n');
    expect(parts[1]!.transferEncoding).toBe('binary');
    expect(parts[1]!.encodedSize).toBe(20);
  });

  it('accepts LF-only line endings and mixed endings, with byte-exact bodies', async () => {
    const lf = standard.replace(/\r\n/g, '\n');
    const partsLf = await read(lf);
    expect(partsLf.map((p) => p.body.toString())).toEqual(['{"type":"MT"}', 'line one\nline two\n']);
    const mixed = '--b0undary\nContent-Type: text/plain\r\n\nA\r\nB\n--b0undary\r\n\r\nC\r\n--b0undary--\n';
    expect((await read(mixed)).map((p) => p.body.toString())).toEqual(['A\r\nB', 'C']);
  });

  it('keeps binary bodies byte-exact, including CR, LF and dashes near the delimiter', async () => {
    const payload = Buffer.from([0xff, 0xd8, 0x0d, 0x0a, 0x2d, 0x2d, 0x62, 0x0d, 0x00, 0x0d]);
    const body = Buffer.concat([
      Buffer.from('--b0undary\r\nContent-Type: image/jpeg\r\n\r\n'),
      payload,
      Buffer.from('\r\n--b0undary--'),
    ]);
    const [part] = await read(body);
    expect(part!.body).toEqual(payload);
    expect(part!.encodedSize).toBe(payload.length);
  });

  it('unfolds folded headers, joins repeated headers and accepts Content-Id/Content-ID spellings', async () => {
    const body = crlf(
      '--b0undary\nContent-Type: multipart/related;\n\ttype="text/xml";\n  start="<s>"\nX-Tag: a\nx-tag: b\nContent-Id:  <  img@1 >  \n\nx\n--b0undary--',
    );
    const [part] = await read(body);
    expect(part!.contentType).toBe('multipart/related;\ttype="text/xml";  start="<s>"');
    expect(part!.headers['x-tag']).toBe('a, b');
    expect(part!.contentId).toBe('img@1');
  });

  it('a part without headers defaults to text/plain; empty bodies and header-only parts are parts', async () => {
    const body = '--b0undary\r\n\r\nno headers\r\n--b0undary\r\nContent-Type: text/plain\r\n\r\n\r\n--b0undary\r\nX-A: 1\r\n--b0undary--';
    const parts = await read(body);
    expect(parts.map((p) => [p.contentType, p.contentId, p.body.toString()])).toEqual([
      ['text/plain', '', 'no headers'],
      ['text/plain', '', ''],
      ['text/plain', '', ''],
    ]);
    expect(parts[2]!.headers).toEqual({ 'x-a': '1' });
  });

  it('decodes BASE64 (upper-case name) and quoted-printable parts; encodedSize is the size as sent', async () => {
    const img = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff));
    const b64 = img.toString('base64').replace(/(.{76})/g, '$1\n');
    const body = crlf(
      `--b0undary\nContent-Type: image/png\nContent-Transfer-Encoding: BASE64\n\n${b64}\n--b0undary\nContent-Transfer-Encoding: Quoted-Printable\n\ncaf=C3=A9=\n!\n--b0undary--\n`,
    );
    const parts = await read(body);
    expect(parts[0]!.transferEncoding).toBe('base64');
    expect(parts[0]!.body).toEqual(img);
    expect(parts[0]!.encodedSize).toBe(Buffer.byteLength(crlf(b64)));
    expect(parts[1]!.transferEncoding).toBe('quoted-printable');
    expect(parts[1]!.body.toString('utf8')).toBe('café!');
  });

  it('finds the boundary through parseContentType, quoted or bare', async () => {
    const quoted = boundaryOf('multipart/mixed; boundary="=_odd: (b) ?"')!;
    const body = `--${quoted}\r\n\r\nq\r\n--${quoted}--\r\n`;
    expect((await read(body, options(quoted, false)))[0]!.body.toString()).toBe('q');
    const bare = boundaryOf('Multipart/Mixed;Boundary=plain-1')!;
    expect((await read(`--plain-1\n\nb\n--plain-1--`, options(bare, false)))[0]!.body.toString()).toBe('b');
  });

  it('a line that merely starts like the boundary is not a delimiter when followed by a longer boundary', async () => {
    const body = '--b0undary\r\n\r\nx\r\n--b0undaryX\r\n--b0undary--';
    expect((await rejection(read(body))).details).toEqual({ reason: 'unexpected text after a boundary delimiter' });
  });
});

describe('readAllParts: malformed input', () => {
  it('strict: missing close delimiter is "truncated", in every way the input can stop', async () => {
    for (const body of [
      '--b0undary\r\n\r\nx\r\n--b0undary',
      '--b0undary\r\n\r\nx\r\n--b0undary\r\n',
      '--b0undary\r\n\r\nx\r\n--b0undary\r',
      '--b0undary\r\n\r\nx\r\n--b0undary-',
      '--b0undary\r\n\r\nx',
      '--b0undary\r\nContent-Type: text/pl',
      '--b0undary\r\n',
    ]) {
      const err = await rejection(read(body));
      expect(err.code, JSON.stringify(body)).toBe('MALFORMED_MULTIPART');
      expect(err.details, JSON.stringify(body)).toEqual({ reason: 'truncated' });
    }
  });

  it('lenient still refuses a part cut off by end of input', async () => {
    for (const body of ['--b0undary\n\nx', '--b0undary\nContent-Type: text/plain\nhello', '--b0undary\r\nX-A: 1']) {
      const err = await rejection(read(body, lenient));
      expect(err.details, body).toEqual({ reason: 'truncated' });
    }
  });

  it('no delimiter at all, or no part before the close delimiter, is malformed', async () => {
    expect((await rejection(read('just some text\r\n'))).details).toEqual({ reason: 'no boundary delimiter found' });
    expect((await rejection(read(''))).details).toEqual({ reason: 'no boundary delimiter found' });
    expect((await rejection(read('--b0undary--\r\n'))).details).toEqual({ reason: 'no body parts' });
    expect((await rejection(read('--b0undary\n \n', lenient))).details).toEqual({ reason: 'no body parts' });
  });

  it('strict refuses a header line that is not a header, and body text right after the headers', async () => {
    const err = await rejection(read('--b0undary\r\nContent-Type: text/plain\r\nhello\r\n--b0undary--'));
    expect(err.details).toEqual({ reason: 'invalid header line' });
    const cont = await rejection(read('--b0undary\r\n folded-without-header\r\n\r\nx\r\n--b0undary--'));
    expect(cont.details).toEqual({ reason: 'invalid header line' });
  });

  it('random garbage is malformed, never a crash or a success', async () => {
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let n = 0; n < 50; n++) {
      const junk = Buffer.from(Array.from({ length: 200 + n * 13 }, rnd));
      const err = await rejection(read(junk, n % 2 === 0 ? strict : lenient));
      expect(err.code).toBe('MALFORMED_MULTIPART');
    }
    // Garbage after a valid opening: base64 part with bytes outside the alphabet.
    const bad = '--b0undary\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA*&^%\r\n--b0undary--';
    expect((await rejection(read(bad))).details).toEqual({ reason: 'invalid base64 content' });
  });

  it('an unsupported transfer encoding is refused when its header block ends, before the body is read', async () => {
    let pulledAfterHeaders = 0;
    async function* src(): AsyncGenerator<Buffer> {
      yield Buffer.from('--b0undary\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n');
      for (;;) {
        pulledAfterHeaders++;
        yield Buffer.from('begin 644 file\r\n');
      }
    }
    const err = await rejection(readAllParts(src(), strict));
    expect(err.code).toBe('UNSUPPORTED_TRANSFER_ENCODING');
    expect(err.details).toEqual({ encoding: 'x-uuencode' });
    expect(pulledAfterHeaders).toBe(0);
  });

  it('keepUndecodable: parts it cannot decode come as the bytes that arrived, saying why; the others decoded', async () => {
    const body = crlf(
      '--b0undary\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n--b0undary\nContent-Transfer-Encoding: base64\n\nAAAA*&^%\n' +
        '--b0undary\nContent-Transfer-Encoding: base64\n\naGk=\n--b0undary--',
    );
    const parts = await read(body, { ...strict, keepUndecodable: true });
    expect(parts.map((p) => [p.body.toString('latin1'), p.transferEncoding, p.undecodable])).toEqual([
      ['begin 644 x', 'x-uuencode', 'unsupported Content-Transfer-Encoding x-uuencode'],
      ['AAAA*&^%', 'base64', 'invalid base64 content'],
      ['hi', 'base64', undefined],
    ]);
    expect('undecodable' in parts[2]!).toBe(false);
  });
});

describe('readAllParts: chunking', () => {
  const tricky = Buffer.concat([
    Buffer.from(crlf('preamble --b0undar\n--b0undary  \nContent-Type: application/octet-stream\nContent-Id: <bin>\n\n')),
    Buffer.from([0x0d, 0x0a, 0x2d, 0x2d, 0x62, 0x30, 0x0d, 0x0d, 0x0a, 0x2d, 0x0a]),
    Buffer.from(crlf('\n--b0undary\nContent-Type: text/plain\n\n--b0undary\nX-Folded: a\n b\nContent-Transfer-Encoding: base64\n\naGVs\nbG8=\n--b0undary--\nepilogue')),
  ]);

  const summary = (parts: ParsedPart[]): unknown =>
    parts.map((p) => ({ h: p.headers, id: p.contentId, b: p.body.toString('hex'), n: p.encodedSize }));

  it('every split position and one byte per chunk give the same parts (strict and lenient)', async () => {
    for (const opts of [strict, lenient]) {
      const whole = summary(await read(tricky, opts));
      expect(whole).toHaveLength(3);
      for (let at = 0; at <= tricky.length; at++) {
        const parts = await readAllParts(chunksOf(tricky.subarray(0, at), tricky.subarray(at)), opts);
        expect(summary(parts), `split at ${at}`).toEqual(whole);
      }
      expect(summary(await readAllParts(pieces(tricky, 1), opts))).toEqual(whole);
      expect(summary(await readAllParts(pieces(tricky, 3), opts))).toEqual(whole);
    }
  });

  it('accepts Uint8Array chunks', async () => {
    const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
    async function* src(): AsyncGenerator<Uint8Array> {
      yield u8(tricky.subarray(0, 100));
      yield u8(tricky.subarray(100));
    }
    expect(summary(await readAllParts(src(), strict))).toEqual(summary(await read(tricky)));
  });
});

describe('readMultipart: streaming', () => {
  it('yields a part as soon as its delimiter has arrived, before the rest of the body exists', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let sentRest = false;
    async function* src(): AsyncGenerator<Buffer> {
      yield Buffer.from('--b0undary\r\n\r\nfirst\r\n--b0undary\r\n');
      await gate;
      sentRest = true;
      yield Buffer.from('\r\nsecond\r\n--b0undary--\r\n');
    }
    const it = readMultipart(src(), strict);
    const first = await it.next();
    expect(first.done).toBe(false);
    expect((first.value as ParsedPart).body.toString()).toBe('first');
    expect(sentRest).toBe(false);
    release();
    const second = await it.next();
    expect((second.value as ParsedPart).body.toString()).toBe('second');
    expect((await it.next()).done).toBe(true);
  });

  it('a consumer that stops early releases the source', async () => {
    let finalized = false;
    async function* src(): AsyncGenerator<Buffer> {
      try {
        yield Buffer.from('--b0undary\r\n\r\nfirst\r\n--b0undary\r\n');
        for (;;) yield Buffer.from('x');
      } finally {
        finalized = true;
      }
    }
    for await (const part of readMultipart(src(), strict)) {
      expect(part.body.toString()).toBe('first');
      break;
    }
    expect(finalized).toBe(true);
  });
});
