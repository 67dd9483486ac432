/**
 * `mmsgate send --file photo.jpg` and `mmsgate status` against the real gateway, both in-process (runSend /
 * runStatus) and as the installed command (`node bin/mmsgate.js`, a child process): a real JPEG reaches the
 * simulated handset byte for byte, and status prints the message's state.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runSend } from '../../src/cli/send.ts';
import { runStatus } from '../../src/cli/status.ts';
import { ACCOUNT, eventually, REPO_ROOT, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { Cleanups, cliIo, handsetPartBytes, makeJpeg, waitForHandset } from './helpers.ts';

const run = promisify(execFile);
const cleanups = new Cleanups();
afterEach(() => cleanups.run());

let gw: TestGateway;
let jpeg: Buffer;
let dir: string;
const files = new Cleanups();
beforeAll(async () => {
  gw = await startTestGateway();
  jpeg = await makeJpeg(320, 240);
  dir = await files.tempDir('mmsgate-cli-e2e-');
  await writeFile(path.join(dir, 'photo.jpg'), jpeg);
});
afterAll(async () => {
  await gw?.stop();
  await files.run();
});

const connection = () => ['--endpoint', gw.url, '--account', ACCOUNT.id, '--password', ACCOUNT.password];

/** Waits for the message to reach a final state (the handset got it and the report came back). */
function waitDelivered(mtId: number) {
  return eventually(async () => {
    const mt = await gw.gateway.store.getMt(mtId);
    return mt?.state === 'delivered' ? mt : undefined;
  });
}

/** The handset's copy of the JPEG part of message `mtId`, and the part as listed. */
async function receivedJpeg(number: string, mtId: number) {
  const [msg] = await waitForHandset(gw, number);
  expect(msg!.mtId).toBe(mtId);
  const part = msg!.parts.find((p) => p.contentType.startsWith('image/jpeg'));
  expect(part, JSON.stringify(msg)).toBeDefined();
  return { part: part!, bytes: await handsetPartBytes(gw, part!.url), message: msg! };
}

describe('mmsgate send / status in-process', () => {
  it('sends a text and photo.jpg; the handset gets the JPEG byte-exact and status shows it delivered', async () => {
    expect(jpeg.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff]))).toBe(true);
    const io = cliIo();
    const code = await runSend(
      ['--to', '15551260001', '--from', '88600', '--subject', 'Holiday', '--text', 'Look at this', '--file', path.join(dir, 'photo.jpg'), ...connection()],
      io,
    );
    expect(code, io.stderr.text).toBe(0);
    expect(io.stdout.text).toMatch(/^\d+\n$/);
    const mtId = Number(io.stdout.text.trim());
    expect(io.stderr.text).toMatch(new RegExp(`^request id: \\S+  via ${gw.url.replace(/[.]/g, '\\.')}\\n$`));

    const { part, bytes, message } = await receivedJpeg('15551260001', mtId);
    expect(message.subject).toBe('Holiday');
    expect(part.contentId).toBe('photojpg');
    expect(part.size).toBe(jpeg.length);
    expect(bytes.equals(jpeg)).toBe(true);
    const textPart = message.parts.find((p) => p.contentType.startsWith('text/plain'));
    expect((await handsetPartBytes(gw, textPart!.url)).toString('utf8')).toBe('Look at this');

    await waitDelivered(mtId);
    const st = cliIo();
    expect(await runStatus([String(mtId), ...connection()], st), st.stderr.text).toBe(0);
    expect(st.stdout.text).toMatch(new RegExp(`^mtId {8}${mtId}$`, 'm'));
    expect(st.stdout.text).toMatch(/^state {7}delivered$/m);
    expect(st.stdout.text).toMatch(/^status {6}Retrieved$/m);
    expect(st.stdout.text).toMatch(/^destination 15551260001$/m);
    expect(st.stdout.text).toMatch(/^ {2}photojpg +image\/jpeg {2}\d+ bytes$/m);
    expect(st.stdout.text).toMatch(/^ {2}\S+ {2}accepted /m);

    const js = cliIo();
    expect(await runStatus([String(mtId), '--json', ...connection()], js)).toBe(0);
    expect(JSON.parse(js.stdout.text)).toMatchObject({ mtId, state: 'delivered', status: 'Retrieved', outcomeId: 1 });
  });

  it('--idempotency-key: the same send twice prints the same mtId and the handset gets one message', async () => {
    const argv = ['--to', '15551260003', '--from', '88600', '--file', path.join(dir, 'photo.jpg'), '--idempotency-key', 'cli-order-7', ...connection()];
    const first = cliIo();
    const second = cliIo();
    expect(await runSend(argv, first), first.stderr.text).toBe(0);
    expect(await runSend(argv, second), second.stderr.text).toBe(0);
    expect(second.stdout.text).toBe(first.stdout.text);
    await waitDelivered(Number(first.stdout.text.trim()));
    expect(await waitForHandset(gw, '15551260003')).toHaveLength(1);
  });

  it('status of a message that does not exist: exit 1 with the gateway\'s NOT_FOUND', async () => {
    const io = cliIo();
    expect(await runStatus(['987654321', ...connection()], io)).toBe(1);
    expect(io.stdout.text).toBe('');
    expect(io.stderr.text).toMatch(/^mmsgate status: NOT_FOUND \(HTTP 404\): /);
  });

  it('a refused send exits 1 with the error code and sends nothing', async () => {
    const io = cliIo();
    const code = await runSend(['--to', '15551260009', '--from', '88600', '--file', path.join(dir, 'photo.jpg'), '--password', 'wrong', '--endpoint', gw.url, '--account', ACCOUNT.id], io);
    expect(code).toBe(1);
    expect(io.stdout.text).toBe('');
    expect(io.stderr.text).toMatch(/^mmsgate send: \S+ \(HTTP 401\)/);
  });
});

describe('the mmsgate command (child process)', () => {
  it('send --file photo.jpg reaches the handset byte-exact; status prints the state', async () => {
    const env = { ...process.env, MMSGATE_ENDPOINT: gw.url, MMSGATE_ACCOUNT: ACCOUNT.id, MMSGATE_PASSWORD: ACCOUNT.password };
    const bin = path.join(REPO_ROOT, 'bin/mmsgate.js');
    const sent = await run(process.execPath, [bin, 'send', '--to', '15551260002', '--from', '88600', '--file', path.join(dir, 'photo.jpg')], {
      cwd: REPO_ROOT,
      env,
      timeout: 20_000,
    });
    expect(sent.stdout).toMatch(/^\d+\n$/);
    const mtId = Number(sent.stdout.trim());

    const { bytes } = await receivedJpeg('15551260002', mtId);
    expect(bytes.equals(jpeg)).toBe(true);

    await waitDelivered(mtId);
    const st = await run(process.execPath, [bin, 'status', String(mtId)], { cwd: REPO_ROOT, env, timeout: 20_000 });
    expect(st.stdout).toMatch(/^state {7}delivered$/m);
    expect(st.stdout).toMatch(/^status {6}Retrieved$/m);
  });
});
