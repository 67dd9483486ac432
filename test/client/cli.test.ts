import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runListen, safePartFileName, startListener } from '../../src/cli/listen.ts';
import { runSend } from '../../src/cli/send.ts';
import { formatStatus, runStatus } from '../../src/cli/status.ts';
import { base64Body, buildMultipart } from '../../src/shared/multipart-writer.ts';
import { accept, json, postForStatus, startFakeGateway, type FakeGateway } from './fake-gateway.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

function io(env: NodeJS.ProcessEnv = {}, signal?: AbortSignal) {
  return { stdout: new Capture(), stderr: new Capture(), env, ...(signal ? { signal } : {}) };
}

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'mmsgate-cli-'));
  cleanups.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

async function gateway(reply: Parameters<typeof startFakeGateway>[0]): Promise<FakeGateway> {
  const g = await startFakeGateway(reply);
  cleanups.push(() => g.close());
  return g;
}

// A small but real JPEG header + payload with bytes that would break a careless text path.
const JPEG = Buffer.concat([
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]),
  Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) & 0xff)),
  Buffer.from([0xff, 0xd9]),
]);

describe('mmsgate send', () => {
  it('sends text and a JPEG file; the gateway decodes the part byte-exact', async () => {
    const dir = await tempDir();
    const photo = join(dir, 'photo.jpg');
    await writeFile(photo, JPEG);
    const g = await gateway(accept(4242, 'req-cli'));
    const o = io();
    const code = await runSend(
      ['--to', '15551230001', '--from', '88600', '--subject', 'S', '--text', 'T', '--file', photo, '--url', 'https://cdn.test/a.mp4', '--endpoint', g.url, '--mt-config', 'c1', '--operator', '77'],
      o,
    );
    expect(o.stderr.text).toContain('req-cli');
    expect(code).toBe(0);
    expect(o.stdout.text).toBe('4242\n');
    const r = g.received[0]!;
    expect(r.authOk).toBe(true); // sandbox defaults Aladdin / open sesame
    expect(r.control).toEqual({ type: 'MT', source: '88600', destination: '15551230001', subject: 'S', mtConfig: 'c1', mobileOperatorId: 77 });
    expect(r.parts.slice(1).map((p) => p.contentType)).toEqual(['text/plain; charset=utf-8', 'image/jpeg', 'application/vnd.openmarket.remoteContent']);
    expect(r.parts[1]!.bytes.toString()).toBe('T');
    expect(r.parts[2]!.bytes.equals(JPEG)).toBe(true);
    expect(r.parts[3]!.bytes.toString()).toBe('https://cdn.test/a.mp4');
  });

  it('takes credentials and endpoint from the environment and reports refusals with exit 1', async () => {
    const g = await gateway((r, res) =>
      r.headers.authorization === 'Basic ' + Buffer.from('acct2:pw2').toString('base64')
        ? json(res, 403, { code: 'FORBIDDEN_SOURCE', description: 'The source 99 does not belong to this account.' }, { 'x-request-id': 'r403' })
        : json(res, 401, { code: 'AUTH_INVALID', description: 'nope' }),
    );
    const o = io({ MMSGATE_ACCOUNT: 'acct2', MMSGATE_PASSWORD: 'pw2', MMSGATE_ENDPOINT: g.url });
    expect(await runSend(['--to', '15551230001', '--from', '99', '--text', 'x'], o)).toBe(1);
    expect(o.stderr.text).toContain('FORBIDDEN_SOURCE (HTTP 403)');
    expect(o.stderr.text).toContain('r403');
    expect(o.stdout.text).toBe('');
  });

  it('exits 2 on a wrong command line, a missing file included, without sending', async () => {
    const g = await gateway(accept());
    const o = io();
    expect(await runSend(['--to', '1555', '--text', 'x', '--endpoint', g.url], o)).toBe(2);
    expect(o.stderr.text).toMatch(/--to and --from are required/);
    expect(await runSend(['--to', '1555', '--from', '88600', '--bogus', '--endpoint', g.url], io())).toBe(2);
    const o3 = io();
    expect(await runSend(['--to', '1555', '--from', '88600', '--file', '/nonexistent/x.jpg', '--endpoint', g.url], o3)).toBe(2);
    expect(o3.stderr.text).toContain('"/nonexistent/x.jpg": no such file');
    expect(g.received).toHaveLength(0);
  });
});

describe('mmsgate status', () => {
  const doc = {
    mtId: 42,
    state: 'delivered',
    status: 'Retrieved',
    outcomeId: 1,
    outcomeDescription: 'Success.',
    source: '88600',
    destination: '15551230001',
    subject: 'Hello',
    createdAt: '2024-05-01T10:00:00.000Z',
    updatedAt: '2024-05-01T10:00:03.000Z',
    events: [
      { at: '2024-05-01T10:00:00.000Z', type: 'submitted', node: 'node-1', detail: { operatorId: 77, attempt: 1 } },
      { at: '2024-05-01T10:00:03.000Z', type: 'report', node: 'node-2', detail: 'Retrieved' },
    ],
  };

  it('prints the status readably, or as JSON with --json', async () => {
    const g = await gateway((r, res) => (r.url === '/mms/v2/status/42' ? json(res, 200, doc) : json(res, 404, { code: 'NOT_FOUND', description: 'No such resource.' })));
    const o = io();
    expect(await runStatus(['42', '--endpoint', g.url], o)).toBe(0);
    expect(o.stdout.text).toMatch(/^state +delivered$/m);
    expect(o.stdout.text).toMatch(/^outcome +1 Success\.$/m);
    expect(o.stdout.text).toMatch(/^events \(2\)$/m);
    expect(o.stdout.text).toMatch(/2024-05-01T10:00:03.000Z +report +node-2 +Retrieved$/m);
    expect(o.stdout.text).toMatch(/submitted +node-1 +operatorId=77 attempt=1$/m);
    const j = io();
    expect(await runStatus(['--json', '42', '--endpoint', g.url], j)).toBe(0);
    expect(JSON.parse(j.stdout.text)).toEqual(doc);
    const nf = io();
    expect(await runStatus(['43', '--endpoint', g.url], nf)).toBe(1);
    expect(nf.stderr.text).toContain('NOT_FOUND');
    expect(await runStatus(['abc', '--endpoint', g.url], io())).toBe(2);
  });
});

describe('mmsgate listen', () => {
  it('prints a REPORT and an MO and saves the MO parts byte-exact under safe names', async () => {
    const dir = await tempDir();
    const out = new Capture();
    const l = await startListener({ port: 0, saveDir: join(dir, 'parts'), out });
    cleanups.push(() => l.close());

    const report = { type: 'REPORT', mtId: '123456789012345', date: '2016-05-16T19:20:30+00:00', status: 'Retrieved', outcomeId: 1, outcomeDescription: 'Success.', userAgent: 'HTC One' };
    expect(await postForStatus(l.url, { 'content-type': 'application/json', 'x-request-id': 'req-9', 'x-mmsgate-delivery-id': 'dlv-1' }, JSON.stringify(report))).toBe(200);
    expect(out.text).toContain('--- REPORT  mtId 123456789012345');
    expect(out.text).toMatch(/status +Retrieved/);
    expect(out.text).toContain('dlv-1');

    const mo = buildMultipart([
      { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: JSON.stringify({ type: 'MO', destinations: ['88600'], ccs: [], bccs: [], source: '14553011955', subject: 'Norwegian Blue', moId: 777, mobileOperatorId: 77, date: '2021-06-02T17:14:26+00:00', userAgent: 'HTC One' }) },
      { headers: { 'Content-Type': 'text/plain', 'Content-Id': 'text.txt', 'Content-Transfer-Encoding': 'base64' }, body: base64Body(Buffer.from('Here is a picture of the bird in question')) },
      { headers: { 'Content-Type': 'image/jpeg', 'Content-Id': '../../evil', 'Content-Transfer-Encoding': 'base64' }, body: base64Body(JPEG) },
    ]);
    expect(await postForStatus(l.url, { 'content-type': mo.contentType }, mo.body)).toBe(200);
    expect(out.text).toContain('--- MO  moId 777  from 14553011955  to 88600');
    expect(out.text).toContain('"Here is a picture of the bird in question"');
    const files = (await readdir(join(dir, 'parts'))).sort();
    expect(files).toEqual(['777-1-text.txt', '777-2-evil.jpg']);
    expect((await readFile(join(dir, 'parts', '777-2-evil.jpg'))).equals(JPEG)).toBe(true);
    expect(await readdir(dir)).toEqual(['parts']); // nothing escaped the folder

    // A redelivery does not overwrite the first copy.
    expect(await postForStatus(l.url, { 'content-type': mo.contentType }, mo.body)).toBe(200);
    expect((await readdir(join(dir, 'parts'))).sort()).toEqual(['777-1-text-2.txt', '777-1-text.txt', '777-2-evil-2.jpg', '777-2-evil.jpg']);

    expect(await postForStatus(l.url, { 'content-type': 'application/json' }, '{"nope"')).toBe(400);
    expect(out.text).toContain('answered 400');
  });

  it('makes file names that cannot leave the folder', () => {
    expect(safePartFileName(1, 1, '../../etc/passwd', 'text/plain')).toBe('1-1-etc_passwd.txt');
    expect(safePartFileName(1, 2, '', 'image/png')).toBe('1-2-part.png');
    expect(safePartFileName(1, 3, '.hidden', 'application/x-unknown')).toBe('1-3-hidden');
    expect(safePartFileName(1, 4, 'a'.repeat(500), 'image/gif')).toHaveLength('1-4-'.length + 80 + 4);
  });

  it('runListen serves until stopped and refuses unsigned posts when given a secret', async () => {
    const dir = await tempDir();
    const ac = new AbortController();
    const o = io({}, ac.signal);
    const done = runListen(['--port', '0', '--save-dir', dir, '--secret', 'whsec_' + Buffer.alloc(32, 1).toString('base64')], o);
    for (let i = 0; i < 100 && !o.stderr.text.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 20));
    const url = /listening on (\S+)/.exec(o.stderr.text)![1]!;
    expect(await postForStatus(url, { 'content-type': 'application/json' }, '{"type":"REPORT","mtId":1,"status":"Retrieved","outcomeId":1}')).toBe(401);
    ac.abort();
    expect(await done).toBe(0);
    await expect(postForStatus(url, { 'content-type': 'application/json' }, '{}')).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('mmsgate status output', () => {
  it('formatStatus shows a link part by its URL, not as a 0-byte part', () => {
    const text = formatStatus({
      mtId: 1,
      state: 'submitted',
      source: '88600',
      destination: '15551230001',
      subject: 'Hi',
      status: null,
      outcomeId: null,
      outcomeDescription: null,
      createdAt: '2026-12-02T00:00:00.000Z',
      updatedAt: '2026-12-02T00:00:01.000Z',
      events: [],
      parts: [
        { contentType: 'text/plain', contentId: 'text1', size: 5 },
        { contentType: 'application/vnd.openmarket.remoteContent', contentId: 'part2', size: 0, remoteUrl: 'https://cdn.test/a.mp4' },
      ],
    } as Parameters<typeof formatStatus>[0]);
    expect(text).toMatch(/^ {2}text1 +text\/plain {2}5 bytes$/m);
    expect(text).toMatch(/^ {2}part2 +application\/vnd\.openmarket\.remoteContent {2}link https:\/\/cdn\.test\/a\.mp4$/m);
  });

  it('formatStatus lines up the events whose type or node is longer than the usual column', () => {
    const at = '2026-12-02T00:00:00.000Z';
    const text = formatStatus({
      mtId: 1,
      state: 'delivered',
      status: 'Retrieved',
      outcomeId: 1,
      outcomeDescription: 'Success.',
      events: [
        { at, type: 'accepted', node: 'vm-8080', detail: { parts: 1 } },
        { at, type: 'report-attempt-failed', node: 'vm-8080', detail: { attempt: 1 } },
        { at, type: 'report-delivered', node: 'gateway-node-dc2-0017', detail: { attempt: 2 } },
      ],
      parts: [
        { contentType: 'text/plain', contentId: 'text', size: 5 },
        { contentType: 'image/jpeg', contentId: 'holiday-photo-2026-large', size: 900 },
      ],
    } as Parameters<typeof formatStatus>[0]);
    const lines = text.split('\n');
    // Each event's detail starts in the same column, and the type and node stay apart.
    const details = lines.filter((l) => l.startsWith(`  ${at}`)).map((l) => l.search(/(parts|attempt)=/));
    expect(details).toHaveLength(3);
    expect(new Set(details).size).toBe(1);
    expect(text).toMatch(/report-attempt-failed +vm-8080 /);
    // Likewise the parts' content types.
    const types = lines.filter((l) => /^ {2}(text|holiday)/.test(l)).map((l) => l.search(/(text|image)\//));
    expect(new Set(types).size).toBe(1);
  });
});
