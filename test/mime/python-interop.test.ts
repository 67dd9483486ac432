/**
 * Interoperability with Python's email package (a widely used independent MIME implementation): bodies it writes are
 * read back byte-exact, and bodies our writer produces are parsed correctly by it.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { boundaryOf } from '../../src/mime/content-type.ts';
import { readAllParts } from '../../src/mime/multipart-reader.ts';
import { base64Body, buildMultipart } from '../../src/shared/multipart-writer.ts';
import { chunksOf, options, pieces } from './support.ts';

function python(script: string, input: string | Buffer): Buffer {
  const r = spawnSync('python3', ['-c', script], { input, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr.toString()}`);
  return r.stdout;
}

const WRITE = `
import sys, json, base64
from email.mime.multipart import MIMEMultipart
from email.mime.image import MIMEImage
from email.mime.text import MIMEText
from email.charset import Charset, QP
from email import policy
a = json.load(sys.stdin)
m = MIMEMultipart('mixed')
img = MIMEImage(base64.b64decode(a['jpeg']), 'jpeg')
img.add_header('Content-ID', '<img1@example>')
m.attach(img)
cs = Charset('utf-8'); cs.body_encoding = QP
t = MIMEText(a['text'], 'plain', cs)
t.add_header('X-Long', a['long'])
m.attach(t)
pol = policy.SMTP if a['crlf'] else policy.default
sys.stdout.buffer.write(m.as_bytes(policy=pol))
`;

const READ = `
import sys, json, base64, email
from email import policy
raw = sys.stdin.buffer.read()
m = email.message_from_bytes(raw, policy=policy.default)
out = []
for p in m.iter_parts():
    out.append({'type': p.get_content_type(), 'id': p.get('Content-ID'), 'cte': p.get('Content-Transfer-Encoding'),
                'body': base64.b64encode(p.get_payload(decode=True)).decode()})
print(json.dumps({'type': m.get_content_type(), 'parts': out}))
`;

// A JPEG-like binary: SOI/APP0 markers, then every byte value including CR, LF, "-" and NUL.
const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF\0'), randomBytes(6000), Buffer.from([0xff, 0xd9])]);
const text = 'Grüße aus Köln — “quoted” = sign, tab\there and a long line that goes on past seventy-six columns for sure, yes. 日本語';
const long = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');

describe("reading bodies written by Python's email package", () => {
  for (const crlf of [true, false]) {
    it(`base64 JPEG and quoted-printable UTF-8 text decode to the original bytes (${crlf ? 'CRLF' : 'LF'})`, async () => {
      const raw = python(WRITE, JSON.stringify({ jpeg: jpeg.toString('base64'), text, long, crlf }));
      const sep = crlf ? '\r\n\r\n' : '\n\n';
      const split = raw.indexOf(sep);
      const topHeaders = raw.subarray(0, split).toString('latin1').replace(/\r?\n[ \t]/g, ' ');
      const ct = /^content-type:(.*)$/im.exec(topHeaders)![1]!;
      const boundary = boundaryOf(ct)!;
      expect(boundary).toMatch(/^=+\d+==$/); // Python quotes its boundary: exercised through parseContentType
      const body = raw.subarray(split + sep.length);
      for (const opts of [options(boundary, false), options(boundary, true)]) {
        for (const source of [chunksOf(body), pieces(body, 7)]) {
          const parts = await readAllParts(source, opts);
          expect(parts).toHaveLength(2);
          expect(parts[0]!.contentType).toBe('image/jpeg');
          expect(parts[0]!.contentId).toBe('img1@example');
          expect(parts[0]!.transferEncoding).toBe('base64');
          expect(parts[0]!.body.equals(jpeg)).toBe(true);
          expect(parts[1]!.transferEncoding).toBe('quoted-printable');
          expect(parts[1]!.body.equals(Buffer.from(text, 'utf8'))).toBe(true);
          // Python folds this long header over several lines; it must come back unfolded.
          expect(parts[1]!.headers['x-long']).toBe(long);
        }
      }
    });
  }
});

describe("Python's email package reading bodies from buildMultipart", () => {
  it('parses every part with its type, Content-ID and exact bytes', () => {
    const built = buildMultipart(
      [
        { headers: { 'Content-Type': 'application/json', 'Content-ID': '<main>' }, body: '{"type":"MO"}' },
        {
          headers: { 'Content-Type': 'image/jpeg', 'Content-ID': '<img>', 'Content-Transfer-Encoding': 'base64' },
          body: base64Body(jpeg),
        },
        { headers: { 'Content-Type': 'application/octet-stream', 'Content-ID': '<raw>' }, body: Buffer.from('a\r\n--b\r\n') },
      ],
      { subtype: 'related', params: { type: 'application/json', start: '<main>' } },
    );
    const raw = Buffer.concat([Buffer.from(`Content-Type: ${built.contentType}\r\nMIME-Version: 1.0\r\n\r\n`), built.body]);
    const parsed = JSON.parse(python(READ, raw).toString()) as {
      type: string;
      parts: { type: string; id: string; body: string }[];
    };
    expect(parsed.type).toBe('multipart/related');
    expect(parsed.parts.map((p) => [p.type, p.id])).toEqual([
      ['application/json', '<main>'],
      ['image/jpeg', '<img>'],
      ['application/octet-stream', '<raw>'],
    ]);
    expect(Buffer.from(parsed.parts[0]!.body, 'base64').toString()).toBe('{"type":"MO"}');
    expect(Buffer.from(parsed.parts[1]!.body, 'base64').equals(jpeg)).toBe(true);
    expect(Buffer.from(parsed.parts[2]!.body, 'base64').toString('latin1')).toBe('a\r\n--b\r\n');
  });
});
