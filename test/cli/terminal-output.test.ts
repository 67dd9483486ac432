/**
 * What the commands print from remote data cannot drive the terminal: whoever posts to `mmsgate listen`, or a gateway
 * (or anything answering in its place) behind `status` and `send`, chooses those bytes. Control characters (ESC, C1
 * CSI, DEL, BEL), bidirectional overrides and line separators are shown escaped instead of acting.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatReport, startListener } from '../../src/cli/listen.ts';
import { runSend } from '../../src/cli/send.ts';
import { formatStatus, runStatus } from '../../src/cli/status.ts';
import { printable, safeJson } from '../../src/cli/terminal.ts';
import { base64Body, buildMultipart } from '../../src/shared/multipart-writer.ts';
import { Capture, cliIo } from '../client-e2e/helpers.ts';
import { json, postForStatus, startFakeGateway } from '../client/fake-gateway.ts';

/** Clear the screen, set the window title, red text via a C1 CSI, a right-to-left override, DEL, a line separator. */
const HOSTILE = '\u001b[2J\u001b]0;owned\u0007\u009b31m\u202eevil\u007f\u2028x';
/** Anything a terminal would act on (the line feeds between printed lines aside). */
const ACTING = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('printable', () => {
  it('escapes controls, DEL, C1, bidi controls and line separators, and keeps other scripts', () => {
    expect(printable(HOSTILE)).toBe('\\u001b[2J\\u001b]0;owned\\u0007\\u009b31m\\u202eevil\\u007f\\u2028x');
    expect(printable('Grüße, 日本, مرحبا 👋')).toBe('Grüße, 日本, مرحبا 👋');
    expect(printable('two\nlines\r\tand tab')).toBe('two\\u000alines\\u000d\\u0009and tab');
  });
  it('safeJson escapes what JSON.stringify leaves raw, and parses back to the same value', () => {
    const v = { subject: HOSTILE, n: 1 };
    const out = safeJson(v);
    expect(out.replace(/\n/g, '')).not.toMatch(ACTING);
    expect(JSON.parse(out)).toEqual(v);
  });
});

describe('mmsgate listen', () => {
  it('prints a hostile REPORT and MO escaped, every field of them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mmsgate-term-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const out = new Capture();
    const l = await startListener({ port: 0, saveDir: dir, out });
    cleanups.push(() => l.close());

    const report = { type: 'REPORT', mtId: '123456789012345', date: HOSTILE, status: HOSTILE, outcomeId: 1, outcomeDescription: HOSTILE, userAgent: HOSTILE };
    expect(await postForStatus(l.url, { 'content-type': 'application/json', 'x-request-id': 'req-9' }, JSON.stringify(report))).toBe(200);
    const mo = buildMultipart([
      {
        headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' },
        body: JSON.stringify({ type: 'MO', destinations: ['88600'], ccs: [HOSTILE], bccs: [], source: HOSTILE, subject: HOSTILE, moId: 777, mobileOperatorId: 77, date: HOSTILE, userAgent: HOSTILE }),
      },
      { headers: { 'Content-Type': 'text/plain', 'Content-Id': `t${HOSTILE}`, 'Content-Transfer-Encoding': 'base64' }, body: base64Body(Buffer.from(`hello ${HOSTILE}`)) },
    ]);
    expect(await postForStatus(l.url, { 'content-type': mo.contentType }, mo.body)).toBe(200);

    expect(out.text).toContain('--- REPORT  mtId 123456789012345');
    expect(out.text).toContain('--- MO  moId 777');
    expect(out.text).toMatch(/^ {2}userAgent {3}\\u001b\[2J\\u001b\]0;owned\\u0007\\u009b31m\\u202eevil\\u007f\\u2028x$/m);
    expect(out.text).toMatch(/^ {2}subject {5}\\u001b\[2J/m);
    expect(out.text).toContain('"hello \\u001b[2J'); // the text preview
    expect(out.text).toContain('id t\\u001b[2J'); // the part's Content-ID
    expect(out.text).not.toMatch(ACTING);
  });

  it('formatReport escapes what the sender chose', () => {
    const text = formatReport(
      { type: 'REPORT', mtId: 1, date: '', status: HOSTILE, outcomeId: 1, outcomeDescription: HOSTILE, userAgent: HOSTILE } as Parameters<typeof formatReport>[0],
      { requestId: HOSTILE, deliveryId: HOSTILE } as Parameters<typeof formatReport>[1],
    );
    expect(text).not.toMatch(ACTING);
    expect(text).toContain('status      \\u001b[2J');
  });
});

describe('mmsgate status and send', () => {
  const doc = {
    mtId: 42,
    state: 'delivered',
    status: HOSTILE,
    outcomeId: 1,
    outcomeDescription: HOSTILE,
    userAgent: HOSTILE,
    source: '88600',
    destination: '15551230001',
    subject: HOSTILE,
    parts: [{ contentId: HOSTILE, contentType: HOSTILE, size: 3 }, { contentId: 'l', contentType: 'image/png', remoteUrl: `http://x/${HOSTILE}` }],
    events: [{ at: '2024-05-01T10:00:00.000Z', type: HOSTILE, node: HOSTILE, detail: { reason: HOSTILE } }],
  };

  it('formatStatus escapes every field of the gateway\'s answer', () => {
    const text = formatStatus(doc as unknown as Parameters<typeof formatStatus>[0]);
    expect(text).not.toMatch(ACTING);
    expect(text).toMatch(/^subject {5}\\u001b\[2J/m);
    expect(text).toMatch(/^userAgent {3}\\u001b\[2J/m);
    expect(text).toContain('reason=\\u001b[2J');
  });

  it('status prints escaped text, and --json that still parses to the answer', async () => {
    const g = await startFakeGateway((_r, res) => json(res, 200, doc));
    cleanups.push(() => g.close());
    const o = cliIo();
    expect(await runStatus(['42', '--endpoint', g.url], o)).toBe(0);
    expect(o.stdout.text).not.toMatch(ACTING);
    const j = cliIo();
    expect(await runStatus(['42', '--json', '--endpoint', g.url], j)).toBe(0);
    expect(j.stdout.text.replace(/\n/g, '')).not.toMatch(ACTING);
    expect(JSON.parse(j.stdout.text)).toEqual(doc);
  });

  it('send prints a refusal\'s description and request id escaped', async () => {
    const g = await startFakeGateway((_r, res) => json(res, 400, { code: 'INVALID_FIELD', description: HOSTILE }, { 'x-request-id': 'r\u009b1' }));
    cleanups.push(() => g.close());
    const o = cliIo();
    expect(await runSend(['--to', '15551230001', '--from', '88600', '--text', 'x', '--endpoint', g.url], o)).toBe(1);
    expect(o.stderr.text).toContain('INVALID_FIELD (HTTP 400): \\u001b[2J');
    expect(o.stderr.text).not.toMatch(ACTING);
  });
});
