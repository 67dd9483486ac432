/**
 * POST /mms/v2/send end to end: the OpenMarket documentation's MT example as printed, requests written by other MIME
 * implementations (Python's email package, curl), and what the simulated handset finally received.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AUTH,
  OTHER_AUTH,
  eventually,
  http,
  send,
  simpleMt,
  startTestGateway,
  status,
  type HttpResult,
  type TestGateway,
} from '../support/gateway.ts';

const SEED_PATH = '/work/shared/seed/openmarket-http-mms-things-to-know.txt';

/**
 * The MT example's multipart body exactly as the documentation prints it (only the list indentation removed): no
 * blank line after the part headers, a no-break space after "MMS-Demo.mp4", no close delimiter.
 */
function seedMtBody(): string {
  const text = readFileSync(SEED_PATH, 'utf8');
  const lines = text.slice(text.indexOf('POST /mms/v2/send')).split('\n');
  const start = lines.findIndex((l) => l.startsWith('    --mimeboundary'));
  const out: string[] = [];
  for (let i = start; i < lines.length && lines[i]!.startsWith('    '); i++) out.push(lines[i]!.slice(4));
  return out.join('\n') + '\n';
}

function expectRequestId(r: HttpResult): string {
  const id = r.headers['x-request-id'];
  expect(typeof id).toBe('string');
  expect(id as string).toMatch(/^[\x21-\x7e]{1,30}$/);
  return id as string;
}

/** Handset messages of a number, waiting until the given mtId shows up. */
async function handsetMessage(base: string, number: string, mtId: number): Promise<any> {
  return eventually(
    async () => {
      const r = await http(`${base}/sandbox/handsets/${number}/messages`);
      expect(r.status).toBe(200);
      return (r.json as any[]).find((m) => m.mtId === mtId);
    },
    10_000,
    `message ${mtId} on handset ${number}`,
  );
}

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.stop();
});

describe('the documentation MT example', () => {
  const seed = seedMtBody();

  it('is the example with its quirks (sanity check of the extraction)', () => {
    expect(seed.startsWith('--mimeboundary\nContent-Type: application/json\nContent-Id: main\n{\n')).toBe(true);
    expect(seed).toContain('"destination": ""');
    expect(seed).toMatch(/Content-Id: MMS-Demo\.mp4\s+\nhttps:/);
    expect(seed).not.toContain('--mimeboundary--');
  });

  for (const eol of ['\n', '\r\n']) {
    it(`as printed, with a destination and an inline text part instead of the remote one, is accepted (${JSON.stringify(eol)})`, async () => {
      const body = seed
        .replace('"destination": ""', '"destination": "15551230001"')
        .replace('Content-Type: application/vnd.openmarket.remoteContent', 'Content-Type: text/plain')
        .replace('https://www.openmarket.com/docs/Content/downloads/MMS-Demo.mp4', 'Hello from the documentation example')
        .replace(/\n/g, eol);
      const r = await send(gw.url, { contentType: 'multipart/mixed; boundary=mimeboundary', body: Buffer.from(body) });
      expect(r.status, r.body.toString()).toBe(200);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      const requestId = expectRequestId(r);
      const mtId = r.json.mtId;
      expect(Number.isSafeInteger(mtId) && mtId > 0).toBe(true);
      // The mtId travels as a JSON number, as in the documentation's answer.
      expect(r.body.toString()).toMatch(/"mtId":\s*\d+/);

      const st = await status(gw.url, mtId);
      expect(st.status).toBe(200);
      expect(st.json).toMatchObject({
        mtId,
        source: '88600',
        destination: '15551230001',
        subject: 'Example MMS',
        mtConfig: 'config1',
        mobileOperatorId: 77,
        requestId,
      });
      expect(st.json.parts).toHaveLength(1);
      expect(st.json.parts[0]).toMatchObject({ contentType: 'text/plain', size: 'Hello from the documentation example'.length });

      // Another account cannot see it (nor learn that it exists).
      const foreign = await status(gw.url, mtId, OTHER_AUTH);
      expect(foreign.status).toBe(404);
      expect(foreign.json.code).toBe('NOT_FOUND');

      const msg = await handsetMessage(gw.url, '15551230001', mtId);
      const part = await http(`${gw.url}${msg.parts[0].url}`);
      expect(part.body.toString()).toBe('Hello from the documentation example');
    });
  }

  it('exactly as printed, remote content URL kept, is accepted once it names a destination', async () => {
    const body = seed.replace('"destination": ""', '"destination": "15551230001"');
    const r = await send(gw.url, { contentType: 'multipart/mixed; boundary=mimeboundary', body: Buffer.from(body) });
    expect(r.status, r.body.toString()).toBe(200);
    expectRequestId(r);
    const st = await status(gw.url, r.json.mtId);
    expect(st.status).toBe(200);
    expect(st.json.parts).toEqual([
      expect.objectContaining({
        contentType: 'application/vnd.openmarket.remoteContent',
        contentId: 'MMS-Demo.mp4',
        remoteUrl: 'https://www.openmarket.com/docs/Content/downloads/MMS-Demo.mp4',
      }),
    ]);
  });

  it('exactly as printed (empty destination) is refused with MISSING_FIELD, not accepted', async () => {
    const r = await send(gw.url, { contentType: 'multipart/mixed; boundary=mimeboundary', body: Buffer.from(seed) });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ code: 'MISSING_FIELD', description: expect.stringContaining('destination') });
  });

  it('a client-chosen X-Request-Id of 1-30 safe characters is echoed', async () => {
    const body = seed
      .replace('"destination": ""', '"destination": "15551230001"')
      .replace('Content-Type: application/vnd.openmarket.remoteContent', 'Content-Type: text/plain');
    const r = await send(gw.url, { contentType: 'multipart/mixed; boundary=mimeboundary', body: Buffer.from(body) }, AUTH, {
      'x-request-id': '015-3DD6C366-D68A',
    });
    expect(r.status).toBe(200);
    expect(r.headers['x-request-id']).toBe('015-3DD6C366-D68A');
    // The documentation's own 40-character example is too long: the gateway answers with one of its own.
    const long = '015-3DD6C366-D68A-4A02-9777-19CBC8AB40C1';
    const r2 = await send(gw.url, { contentType: 'multipart/mixed; boundary=mimeboundary', body: Buffer.from(body) }, AUTH, { 'x-request-id': long });
    expect(r2.status).toBe(200);
    expect(expectRequestId(r2)).not.toBe(long);
  });
});

describe('GET /mms/v2/status/{mtId}', () => {
  it('unknown, malformed and unauthenticated lookups are refused with registry errors', async () => {
    for (const id of ['999999999999999', 'abc', '-1', '1e5']) {
      const r = await http(`${gw.url}/mms/v2/status/${id}`, { headers: { authorization: AUTH } });
      expect(r.status).toBe(404);
      expect(r.json).toEqual({ code: 'NOT_FOUND', description: expect.any(String) });
      expectRequestId(r);
    }
    const r = await http(`${gw.url}/mms/v2/status/1`);
    expect(r.status).toBe(401);
    expect(r.json.code).toBe('AUTH_REQUIRED');
    expect(r.headers['www-authenticate']).toMatch(/^Basic /);
  });

  it("lists a delivered message's finished jobs without a time to run again", async () => {
    const sent = await send(gw.url, simpleMt('15551270001'));
    expect(sent.status).toBe(200);
    const mtId = (sent.json as { mtId: number }).mtId;
    const done = await eventually(async () => {
      const r = await status(gw.url, mtId);
      const body = r.json as { state: string; jobs: { kind: string; state: string; runAt: string | null }[] };
      return body.state === 'delivered' && body.jobs.every((j) => j.state === 'done') ? body : undefined;
    });
    // A claim moves a job's due time to its lease's end: shown after the job finished, that was a time in the future.
    expect(done.jobs.map((j) => [j.kind, j.runAt])).toEqual([
      ['sim-deliver', null],
      ['submit', null],
    ]);
  });
});

// A JPEG-like binary: SOI/APP0 markers, then every byte value (CR, LF, "-", NUL included), then EOI.
const jpeg = Buffer.concat([
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]),
  Buffer.from('JFIF\0'),
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.from('\r\n--=\r\n'),
  randomBytes(9000),
  Buffer.from([0xff, 0xd9]),
]);
const text = 'Grüße aus Köln — “quoted” = sign, tab\there, and a line longer than seventy-six columns so it is soft-wrapped. 日本語 🙂';
const subject = 'Größe ✓ 日本';

const PY_WRITE = `
import sys, json, base64
from email.mime.multipart import MIMEMultipart
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.text import MIMEText
from email.charset import Charset, QP
from email import policy
from email.encoders import encode_noop
a = json.load(sys.stdin)
m = MIMEMultipart('mixed')
j = MIMEApplication(json.dumps(a['control'], ensure_ascii=False).encode('utf-8'), 'json', encode_noop)
j.add_header('Content-ID', 'main')
m.attach(j)
img = MIMEImage(base64.b64decode(a['jpeg']), 'jpeg')
img.add_header('Content-ID', '<photo.jpg>')
m.attach(img)
cs = Charset('utf-8'); cs.body_encoding = QP
t = MIMEText(a['text'], 'plain', cs)
t.add_header('Content-ID', '<text.txt>')
m.attach(t)
sys.stdout.buffer.write(m.as_bytes(policy=policy.SMTP))
`;

function python(script: string, input: string): Buffer | null {
  const r = spawnSync('python3', ['-c', script], { input, maxBuffer: 64 * 1024 * 1024 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return null;
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr.toString()}`);
  return r.stdout;
}

/** Split a full MIME message into its top-level Content-Type and body. */
function splitMessage(raw: Buffer): { contentType: string; body: Buffer } {
  const sep = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, sep).toString('latin1').replace(/\r\n[ \t]/g, ' ');
  const contentType = /^content-type:\s*(.*)$/im.exec(head)![1]!.trim();
  return { contentType, body: raw.subarray(sep + 4) };
}

/** Run a program without blocking the event loop; collect its output. */
function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const hasPython = spawnSync('python3', ['--version']).status === 0;
const hasCurl = spawnSync('curl', ['--version']).status === 0;

describe('requests written by other MIME implementations', () => {
  it.skipIf(!hasPython)("Python's email package: base64 JPEG and quoted-printable UTF-8 arrive byte-identical", async () => {
    const destination = '15551230002';
    const control = { type: 'MT', source: '88600', destination, subject };
    const raw = python(PY_WRITE, JSON.stringify({ control, jpeg: jpeg.toString('base64'), text }))!;
    const { contentType, body } = splitMessage(raw);
    // The body really uses the encodings under test.
    expect(body.toString('latin1')).toMatch(/Content-Transfer-Encoding: base64/i);
    expect(body.toString('latin1')).toMatch(/Content-Transfer-Encoding: quoted-printable/i);
    const r = await send(gw.url, { contentType, body });
    expect(r.status, r.body.toString()).toBe(200);
    const mtId = r.json.mtId as number;

    const st = await status(gw.url, mtId);
    expect(st.json.subject).toBe(subject);

    const msg = await handsetMessage(gw.url, destination, mtId);
    expect(msg.subject).toBe(subject);
    expect(msg.parts.map((p: any) => p.contentId)).toEqual(['photo.jpg', 'text.txt']);
    const [img, txt] = await Promise.all(msg.parts.map((p: any) => http(`${gw.url}${p.url}`)));
    expect(img!.body.equals(jpeg)).toBe(true);
    expect(img!.headers['content-type']).toMatch(/^image\/jpeg/);
    expect(txt!.body.equals(Buffer.from(text, 'utf8'))).toBe(true);
  });

  it.skipIf(!hasCurl)('curl --data-binary with a hand-written multipart/mixed body: binary parts arrive byte-identical', async () => {
    const destination = '15551230003';
    const boundary = 'curl-boundary-7d1a';
    const control = Buffer.from(JSON.stringify({ type: 'MT', source: '88600', destination, subject }), 'utf8');
    const crlf = (s: string) => Buffer.from(s.replace(/\n/g, '\r\n'), 'utf8');
    const body = Buffer.concat([
      crlf(`--${boundary}\nContent-Type: application/json; charset=utf-8\nContent-Id: <main>\n\n`),
      control,
      crlf(`\n--${boundary}\nContent-Type: image/jpeg\nContent-Id: <photo.jpg>\nContent-Transfer-Encoding: binary\n\n`),
      jpeg,
      crlf(`\n--${boundary}\nContent-Type: text/plain; charset=utf-8\nContent-Id: <text.txt>\n\n`),
      Buffer.from(text, 'utf8'),
      crlf(`\n--${boundary}--\n`),
    ]);
    const file = path.join(gw.dir, 'curl-body.bin');
    writeFileSync(file, body);
    // Asynchronously: the gateway runs in this process and must keep answering while curl waits.
    const r = await run(
      'curl',
      [
        '-sS',
        '--noproxy', '*',
        '-o', '-',
        '-w', '\n%{http_code}',
        '-u', 'acme:acme-secret-1',
        '-H', `Content-Type: multipart/mixed; boundary=${boundary}`,
        '--data-binary', `@${file}`,
        `${gw.url}/mms/v2/send`,
      ],
    );
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toBe('200');
    const mtId = JSON.parse(lines.slice(0, -1).join('\n')).mtId as number;
    expect(Number.isSafeInteger(mtId)).toBe(true);

    const msg = await handsetMessage(gw.url, destination, mtId);
    const [img, txt] = await Promise.all(msg.parts.map((p: any) => http(`${gw.url}${p.url}`)));
    expect(img!.body.equals(jpeg)).toBe(true);
    expect(txt!.body.equals(Buffer.from(text, 'utf8'))).toBe(true);
  });
});
