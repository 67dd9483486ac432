/**
 * `mmsgate listen` as a real account's reportUrl and moUrl: a sandbox send produces a REPORT block, an MO injected
 * with POST /sandbox/mo is printed and its parts saved byte-exact. With the account's webhookSecrets set, a listener
 * started with the same `--secret` verifies the Standard Webhooks signatures; one with the wrong secret answers 401
 * and the gateway retries, then gives up (max4xxAttempts).
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runListen, startListener } from '../../src/cli/listen.ts';
import { generateWebhookSecret, MmsClient } from '../../src/client/index.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { buildMultipart } from '../../src/shared/multipart-writer.ts';
import { ACCOUNT, eventually, http, startTestGateway, testConfig, type TestGateway } from '../support/gateway.ts';
import { Capture, Cleanups, cliIo, makeJpeg, waitForText } from './helpers.ts';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

/** A gateway whose test account posts reports to `${hook}/reports` and MO for 88600 to `${hook}/mo`. */
async function gatewayFor(hook: string, webhookSecrets: string[] = []): Promise<TestGateway> {
  const dir = await cleanups.tempDir('mmsgate-listen-gw-');
  const raw: ConfigInput = testConfig({ dir, reportUrl: `${hook}/reports`, moUrl: `${hook}/mo` });
  const [acme, ...others] = raw.accounts ?? [];
  raw.accounts = [{ ...acme!, webhookSecrets }, ...others];
  const gw = await startTestGateway({}, { raw, dir });
  cleanups.add(() => gw.stop());
  return gw;
}

function client(gw: TestGateway): MmsClient {
  const c = new MmsClient({ endpoints: [gw.url], accountId: ACCOUNT.id, password: ACCOUNT.password, timeoutMs: 10_000 });
  cleanups.add(() => c.close());
  return c;
}

/** A virtual handset sends an MO to 88600: a text part and a JPEG (sent as binary, to test byte-exactness). */
async function injectMo(gw: TestGateway, jpeg: Buffer, text: string): Promise<number> {
  const { contentType, body } = buildMultipart([
    { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: JSON.stringify({ source: '14155550123', destinations: ['88600'], subject: 'MO from the handset' }) },
    { headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Id': 'note.txt' }, body: text },
    { headers: { 'Content-Type': 'image/jpeg', 'Content-Id': 'holiday.jpg', 'Content-Transfer-Encoding': 'binary' }, body: jpeg },
  ]);
  const r = await http(`${gw.url}/sandbox/mo`, { method: 'POST', headers: { 'content-type': contentType }, body });
  expect(r.status, r.body.toString()).toBe(200);
  return r.json.moId as number;
}

/** The saved files named in an MO block's part lines, in order. */
function savedPaths(block: string): string[] {
  return [...block.matchAll(/^ {2}part \d+ .* bytes -> (.+)$/gm)].map((m) => m[1]!);
}

describe('listen as reportUrl and moUrl (unsigned)', () => {
  it('prints the REPORT of a send and the MO, and saves the MO parts byte-exact', async () => {
    const saveDir = await cleanups.tempDir('mmsgate-listen-parts-');
    const out = new Capture();
    const listener = await startListener({ port: 0, saveDir, out });
    cleanups.add(() => listener.close());
    const gw = await gatewayFor(listener.url);

    const sent = await client(gw).send({ source: '88600', destination: '15551250001', parts: [{ text: 'report me' }] });
    await waitForText(() => out.text, (t) => t.includes(`--- REPORT  mtId ${sent.mtId}`));
    const report = out.text.slice(out.text.indexOf(`--- REPORT  mtId ${sent.mtId}`));
    expect(report).toMatch(/^ {2}status {6}Retrieved$/m);
    expect(report).toMatch(/^ {2}outcome {5}1 /m);
    // The report carries the send's request id, so a customer can match it to the send.
    expect(report).toContain(`request id  ${sent.requestId} `);

    const jpeg = await makeJpeg();
    const text = 'Grüße aus dem Urlaub 🌴';
    const moId = await injectMo(gw, jpeg, text);
    await waitForText(() => out.text, (t) => t.includes(`--- MO  moId ${moId}`) && /bytes -> .*holiday/.test(t));
    const block = out.text.slice(out.text.indexOf(`--- MO  moId ${moId}`));
    expect(block).toContain('from 14155550123  to 88600');
    expect(block).toContain('subject     MO from the handset');
    expect(block).toContain(`"${text}"`);

    const files = savedPaths(block);
    expect(files).toHaveLength(2);
    for (const f of files) expect(path.dirname(f)).toBe(saveDir);
    expect(path.basename(files[0]!)).toBe(`${moId}-1-note.txt`);
    expect(path.basename(files[1]!)).toBe(`${moId}-2-holiday.jpg`);
    expect((await readFile(files[0]!)).equals(Buffer.from(text, 'utf8'))).toBe(true);
    expect((await readFile(files[1]!)).equals(jpeg)).toBe(true);
    expect(out.text).not.toMatch(/answered \d+/);
  });
});

describe('listen keeps MO parts inside the save folder', () => {
  it('saves a part whose Content-Id climbs out of the folder under a safe name inside it', async () => {
    const saveDir = await cleanups.tempDir('mmsgate-listen-parts-');
    const out = new Capture();
    const listener = await startListener({ port: 0, saveDir: path.join(saveDir, 'inner'), out });
    cleanups.add(() => listener.close());
    const gw = await gatewayFor(listener.url);
    const bytes = Buffer.from('#!/bin/sh\necho pwned\n');
    const { contentType, body } = buildMultipart([
      { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: JSON.stringify({ source: '14155550124', destinations: ['88600'] }) },
      { headers: { 'Content-Type': 'application/octet-stream', 'Content-Id': '../../evil.sh' }, body: bytes },
    ]);
    const r = await http(`${gw.url}/sandbox/mo`, { method: 'POST', headers: { 'content-type': contentType }, body });
    expect(r.status).toBe(200);
    const moId = r.json.moId as number;
    await waitForText(() => out.text, (t) => t.includes(`--- MO  moId ${moId}`));
    const [file] = savedPaths(out.text);
    expect(path.dirname(file!)).toBe(path.join(saveDir, 'inner'));
    expect(path.basename(file!)).toMatch(new RegExp(`^${moId}-1-[A-Za-z0-9._-]+$`));
    expect((await readFile(file!)).equals(bytes)).toBe(true);
    expect(await readdir(saveDir)).toEqual(['inner']);
  });
});

describe('listen answers only once the MO parts are on disk', () => {
  it('answers 500 while the save folder cannot be written; the gateway redelivers and the MO is saved later', async () => {
    const base = await cleanups.tempDir('mmsgate-listen-parts-');
    const saveDir = path.join(base, 'parts');
    await writeFile(saveDir, 'a file where the folder should be');
    const out = new Capture();
    const listener = await startListener({ port: 0, saveDir, out });
    cleanups.add(() => listener.close());
    const gw = await gatewayFor(listener.url);

    const jpeg = await makeJpeg(32, 32);
    const moId = await injectMo(gw, jpeg, 'retry me');
    await waitForText(() => out.text, (t) => t.includes('--- POST /mo answered 500'));
    expect(out.text).not.toContain(`--- MO  moId ${moId}`);

    await rm(saveDir);
    await waitForText(() => out.text, (t) => t.includes(`--- MO  moId ${moId}`) && /bytes -> .*holiday/.test(t));
    const block = out.text.slice(out.text.indexOf(`--- MO  moId ${moId}`));
    expect(block.match(/^--- MO /gm)).toHaveLength(1);
    const files = savedPaths(block);
    expect((await readFile(files[1]!)).equals(jpeg)).toBe(true);
    expect(await readdir(saveDir)).toHaveLength(2);
  });
});

describe('listen --secret with the account signing its webhooks', () => {
  it('verifies the signatures of reports and MO, and refuses an unsigned request with 401', async () => {
    const secret = generateWebhookSecret();
    const saveDir = await cleanups.tempDir('mmsgate-listen-parts-');
    const abort = new AbortController();
    const io = cliIo({}, abort.signal);
    const running = runListen(['--port', '0', '--save-dir', saveDir, '--secret', secret], io);
    cleanups.add(async () => {
      abort.abort();
      await running;
    });
    const url = (await waitForText(() => io.stderr.text, (t) => /listening on http:\/\/\S+/.test(t))).match(/listening on (http:\/\/\S+)/)![1]!;
    const gw = await gatewayFor(url, [secret]);

    const sent = await client(gw).send({ source: '88600', destination: '15551250002', parts: [{ text: 'signed report' }] });
    await waitForText(() => io.stdout.text, (t) => t.includes(`--- REPORT  mtId ${sent.mtId}`));

    const jpeg = await makeJpeg(64, 48);
    const moId = await injectMo(gw, jpeg, 'signed MO');
    await waitForText(() => io.stdout.text, (t) => t.includes(`--- MO  moId ${moId}`) && /bytes -> .*holiday/.test(t));
    const files = savedPaths(io.stdout.text.slice(io.stdout.text.indexOf(`--- MO  moId ${moId}`)));
    expect((await readFile(files[1]!)).equals(jpeg)).toBe(true);
    expect(io.stdout.text).not.toMatch(/answered \d+/);

    // The listener really checks: the same report without a signature is refused.
    const forged = await http(`${url}/reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'REPORT', mtId: 999, status: 'Retrieved', outcomeId: 1, outcomeDescription: 'x', date: '' }),
    });
    expect(forged.status).toBe(401);
    expect(forged.json.code).toBe('MISSING_HEADERS');
    expect(io.stdout.text).not.toContain('mtId 999');
    expect(io.stdout.text).toContain('--- POST /reports answered 401');

    abort.abort();
    expect(await running).toBe(0);
  });

  it('answers 401 to a gateway signing with another secret; the gateway retries, then gives up', async () => {
    const out = new Capture();
    const listener = await startListener({ port: 0, saveDir: await cleanups.tempDir(), secrets: [generateWebhookSecret()], out });
    cleanups.add(() => listener.close());
    const gw = await gatewayFor(listener.url, [generateWebhookSecret()]);
    const c = client(gw);

    const sent = await c.send({ source: '88600', destination: '15551250003', parts: [{ text: 'wrong secret' }] });
    // testConfig: max4xxAttempts 3, so three attempts of the same delivery, each refused.
    await waitForText(() => out.text, (t) => (t.match(/--- POST \/reports answered 401/g) ?? []).length >= 3);
    const status = await eventually(async () => {
      const s = await c.status(sent.mtId);
      return s.events.some((e) => e.type === 'report-gave-up') ? s : undefined;
    });
    const failed = status.events.filter((e) => e.type === 'report-attempt-failed');
    expect(failed.length).toBe(2);
    for (const e of failed) expect(e.detail).toMatchObject({ error: 'HTTP 401' });
    expect(status.events.some((e) => e.type === 'report-delivered')).toBe(false);
    expect(out.text).not.toContain('--- REPORT');
  });
});
