/**
 * The server-side request forgery guard through the whole gateway. Under the default policy a remote URL naming
 * a loopback address (IPv4 literal, IPv6 literal, or a name resolving to one) ends the message with REPORT
 * Rejected / outcome 23 and the origin never sees a connection. Every redirect hop is checked again: an allow-list
 * that permits the target lets the redirect through, one that does not stops it before the second connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startGatewayWithSink,
  handsetMessages,
  mtWith,
  partBytes,
  remotePart,
  sendOk,
  serveBytes,
  smallPng,
  startOrigin,
  statusOf,
  textPart,
  waitForHandset,
  waitForReport,
  type GatewayWithSink,
  type Origin,
} from './helpers.ts';

const REFUSED = { type: 'REPORT', status: 'Rejected', outcomeId: 23, outcomeDescription: 'Remote content address refused (a private or reserved address, or a host not in remoteContent.allowedHosts).' };

/** Default remoteContent policy: public addresses only. */
let guarded: GatewayWithSink;
let v4: Origin;
let v6: Origin | undefined;

beforeAll(async () => {
  guarded = await startGatewayWithSink();
  v4 = await startOrigin('127.0.0.1');
  try {
    v6 = await startOrigin('::1');
  } catch {
    v6 = undefined; // no IPv6 loopback on this host: the refusal is still checked, against a closed port
  }
  const png = await smallPng();
  for (const o of [v4, v6]) o?.route('/x', serveBytes(png, { 'content-type': 'image/png' }));
});
afterAll(async () => {
  await guarded?.stop();
  await v4?.close();
  await v6?.close();
});

/** Send one remote part to `destination` through `gw`; returns the mtId. */
function sendRemote(g: GatewayWithSink, destination: string, url: string): Promise<number> {
  return sendOk(g.gw.url, mtWith(destination, [remotePart(url, 'pic.png'), textPart('look', 'text.txt')]));
}

/** The message ended Rejected/23, failed, and nothing reached the handset. */
async function expectRefused(g: GatewayWithSink, mtId: number, destination: string): Promise<void> {
  const report = await waitForReport(g.sink, mtId);
  expect(report).toMatchObject({ ...REFUSED, mtId });
  const st = await statusOf(g.gw.url, mtId);
  expect(st).toMatchObject({ state: 'failed', status: 'Rejected', outcomeId: 23 });
  expect((await handsetMessages(g.gw.url, destination)).some((m) => m.mtId === mtId)).toBe(false);
  // The customer is not told which address a name resolved to (an internal DNS oracle), in the timeline or the jobs.
  const rejected = (st.events as { type: string; detail: { error?: string } }[]).find((e) => e.type === 'submit-rejected');
  expect(rejected?.detail.error).toMatch(/^the remote content address is refused/);
  expect((st.jobs as { lastError: string | null }[]).every((j) => j.lastError === null)).toBe(true);
}

describe('default policy: loopback remote content is refused before connecting', () => {
  it.each([
    ['IPv4 literal', (port: () => number) => `http://127.0.0.1:${port()}/x`, '15552000001'],
    ['IPv6 literal', (port: () => number) => `http://[::1]:${port()}/x`, '15552000002'],
    ['name resolving to loopback', (port: () => number) => `http://localhost:${port()}/x`, '15552000003'],
    ['IPv4-mapped IPv6 literal', (port: () => number) => `http://[::ffff:127.0.0.1]:${port()}/x`, '15552000004'],
    ['IPv4 as one decimal number', (port: () => number) => `http://2130706433:${port()}/x`, '15552000005'],
  ])('%s', async (what, urlOf, destination) => {
    const origin = what === 'IPv6 literal' ? (v6 ?? v4) : v4;
    const before = origin.connections();
    const mtId = await sendRemote(guarded, destination, urlOf(() => origin.port));
    await expectRefused(guarded, mtId, destination);
    expect(origin.connections()).toBe(before);
    expect(origin.connections()).toBe(0);
    expect(origin.requests).toHaveLength(0);
  });
});

describe('redirects between loopback origins', () => {
  let first: Origin;
  let second: Origin;
  let png: Buffer;
  beforeAll(async () => {
    first = await startOrigin('127.0.0.1');
    second = await startOrigin('127.0.0.1');
    png = await smallPng(90, 70);
    second.route('/final.png', serveBytes(png, { 'content-type': 'image/png' }));
    first.route('/hop', (_req, res) => {
      res.writeHead(302, { location: `${second.url}/final.png` });
      res.end();
    });
  });
  afterAll(async () => {
    await first?.close();
    await second?.close();
  });

  it('default policy: refused at the first hop, neither origin sees a connection', async () => {
    const destination = '15552000011';
    const mtId = await sendRemote(guarded, destination, `${first.url}/hop`);
    await expectRefused(guarded, mtId, destination);
    expect(first.connections()).toBe(0);
    expect(second.connections()).toBe(0);
  });

  it('allow-list permitting loopback: the redirect is followed and the target fetched', async () => {
    const open = await startGatewayWithSink({ remoteContent: { allowPrivateAddresses: ['127.0.0.0/8'] } });
    try {
      const destination = '15552000012';
      const mtId = await sendRemote(open, destination, `${first.url}/hop`);
      const report = await waitForReport(open.sink, mtId);
      expect(report).toMatchObject({ type: 'REPORT', mtId, status: 'Retrieved', outcomeId: 1 });
      const msg = await waitForHandset(open.gw.url, destination, mtId);
      const img = msg.parts.find((p) => p.contentId === 'pic.png')!;
      expect((await partBytes(open.gw.url, img)).equals(png)).toBe(true);
      expect(first.hits('/hop')).toHaveLength(1);
      expect(second.hits('/final.png')).toHaveLength(1);
    } finally {
      await open.stop();
    }
  });

  it('allow-list permitting only the first origin: the redirect target is refused before connecting', async () => {
    // 127.0.0.1 is allowed, 127.0.0.2 (also loopback) is not: the second hop must be checked on its own.
    let other: Origin;
    try {
      other = await startOrigin('127.0.0.2');
    } catch {
      return; // this host binds only 127.0.0.1; the two cases above still cover the hop check
    }
    const narrow = await startGatewayWithSink({ remoteContent: { allowPrivateAddresses: ['127.0.0.1/32'] } });
    const start = await startOrigin('127.0.0.1');
    try {
      other.route('/final.png', serveBytes(png, { 'content-type': 'image/png' }));
      start.route('/hop', (_req, res) => {
        res.writeHead(301, { location: `${other.url}/final.png` });
        res.end();
      });
      const destination = '15552000013';
      const mtId = await sendRemote(narrow, destination, `${start.url}/hop`);
      await expectRefused(narrow, mtId, destination);
      expect(start.hits('/hop')).toHaveLength(1);
      expect(other.connections()).toBe(0);
    } finally {
      await narrow.stop();
      await start.close();
      await other.close();
    }
  });
});
