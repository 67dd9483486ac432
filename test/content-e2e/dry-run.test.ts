/**
 * `X-Dry-Run: true` on POST /mms/v2/send: the gateway fetches, adds SMIL and adapts exactly as the pipeline would
 * and answers with the result, without storing or sending anything. A content failure answers `wouldFail` with
 * the outcome the message would have ended with.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, send, sleep, status } from '../support/gateway.ts';
import {
  handsetMessages,
  mtWith,
  partBytes,
  remotePart,
  sendOk,
  serveBytes,
  smallPng,
  startGatewayWithSink,
  startOrigin,
  textPart,
  waitForHandset,
  waitForReport,
  type GatewayWithSink,
  type Origin,
} from './helpers.ts';

/** An operator with small screens: images are fitted to 640 x 480. */
const SMALL_SCREEN_OP = 79;
const DRY = { 'x-dry-run': 'true' };

let g: GatewayWithSink;
let origin: Origin;
let png: Buffer;

beforeAll(async () => {
  origin = await startOrigin();
  png = await smallPng(1280, 960);
  origin.route('/poster.png', serveBytes(png, { 'content-type': 'image/png' }));
  g = await startGatewayWithSink({
    // One dry run at a time on this node, so that the test of the cap needs only two.
    api: { maxConcurrentDryRuns: 1 },
    remoteContent: { allowPrivateAddresses: ['127.0.0.0/8', '::1/128'] },
    operators: [
      { id: 77, name: 'Sim Mobile', type: 'simulator', prefixes: ['1'], simulator: { deliveryDelay: '50ms' } },
      { id: SMALL_SCREEN_OP, name: 'Small Screens', type: 'simulator', prefixes: ['1888'], maxImageWidth: 640, maxImageHeight: 480, simulator: { deliveryDelay: '50ms' } },
    ],
  });
});
afterAll(async () => {
  await g?.stop();
  await origin?.close();
});

/** Hold the answers of `path` until `release()`. */
function holdRoute(path: string, body: Buffer): { release(): void } {
  const waiting: (() => void)[] = [];
  let released = false;
  origin.route(path, (_req, res) => {
    const answer = (): void => void serveBytes(body, { 'content-type': 'image/png' })(_req, res);
    if (released) answer();
    else waiting.push(answer);
  });
  return {
    release() {
      released = true;
      for (const a of waiting.splice(0)) a();
    },
  };
}

const content = () => [remotePart(`${origin.url}/poster.png`, 'poster.png'), textPart('Concert tonight', 'text.txt')];

describe('dry run', () => {
  it('answers the final parts, sizes, operator and adaptation, and stores nothing', async () => {
    const before = await sendOk(g.gw.url, mtWith('15554000001', [textPart('before', 'text.txt')]));
    const destination = '18880000001';

    const r = await send(g.gw.url, mtWith(destination, content()), undefined, DRY);
    expect(r.status, r.body.toString()).toBe(200);
    const dry = r.json;
    expect(dry.dryRun).toBe(true);
    expect(dry.mtId).toBeUndefined();
    expect(dry.wouldFail).toBeUndefined();
    expect(dry.mobileOperatorId).toBe(SMALL_SCREEN_OP);
    expect(dry.parts).toHaveLength(2);
    const [img, txt] = dry.parts as { contentType: string; contentId: string; size: number }[];
    expect(img).toMatchObject({ contentType: 'image/png', contentId: 'poster.png' });
    expect(img!.size).toBeGreaterThan(0);
    expect(txt).toMatchObject({ contentId: 'text.txt', size: Buffer.byteLength('Concert tonight') });
    expect(txt!.contentType).toMatch(/^text\/plain/);
    expect(dry.totalBytes).toBe(img!.size + txt!.size);
    expect(dry.adaptation).toEqual([
      expect.objectContaining({ contentId: 'poster.png', action: 'resize', fromType: 'image/png', toType: 'image/png', fromBytes: png.length, toBytes: img!.size, width: 640, height: 480 }),
    ]);
    expect(dry.smilGenerated).toBe(false);

    // Nothing was stored or sent: no message took the next id, the handset stays empty, no report comes.
    await sleep(500);
    expect((await status(g.gw.url, before + 1)).status).toBe(404);
    expect(await handsetMessages(g.gw.url, destination)).toHaveLength(0);
    await waitForReport(g.sink, before);
    expect(g.sink.requests.map((q) => JSON.parse(q.body.toString()).mtId)).toEqual([before]);

    // The real send of the same content gets the next id and delivers exactly what the dry run announced.
    const real = await sendOk(g.gw.url, mtWith(destination, content()));
    expect(real).toBe(before + 1);
    const msg = await waitForHandset(g.gw.url, destination, real);
    expect(msg.parts.map((p) => ({ contentType: p.contentType, contentId: p.contentId, size: p.size }))).toEqual(dry.parts);
    const meta = await sharp(await partBytes(g.gw.url, msg.parts[0]!)).metadata();
    expect({ w: meta.width, h: meta.height }).toEqual({ w: 640, h: 480 });
    expect(await handsetMessages(g.gw.url, destination)).toHaveLength(1);
  });

  it('a remote URL that answers 404: wouldFail with outcome 22, nothing stored', async () => {
    const destination = '15554000002';
    const before = await sendOk(g.gw.url, mtWith('15554000003', [textPart('before', 'text.txt')]));
    const r = await send(g.gw.url, mtWith(destination, [remotePart(`${origin.url}/gone.png`, 'gone.png'), textPart('x', 'text.txt')]), undefined, DRY);
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.json).toMatchObject({ dryRun: true, wouldFail: true, status: 'Rejected', outcomeId: 22, outcomeDescription: 'Remote content could not be fetched.', mobileOperatorId: 77 });
    expect(r.json.mtId).toBeUndefined();
    expect(origin.hits('/gone.png')).toHaveLength(1);
    await sleep(300);
    expect(await handsetMessages(g.gw.url, destination)).toHaveLength(0);
    expect((await status(g.gw.url, before + 1)).status).toBe(404);
    // The next real message gets the id right after the one sent before the dry run.
    expect(await sendOk(g.gw.url, mtWith(destination, [textPart('real', 'text.txt')]))).toBe(before + 1);
  });

  it('a refused address: wouldFail with outcome 23, without saying which address a name resolved to', async () => {
    // 10.0.0.1 is refused by the guard before any connection (only loopback is allowed here).
    const r = await send(g.gw.url, mtWith('15554000004', [remotePart('http://10.0.0.1/x.png', 'x.png'), textPart('x', 'text.txt')]), undefined, DRY);
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.json).toMatchObject({ dryRun: true, wouldFail: true, outcomeId: 23 });
    expect(r.json.error).toBe(
      'the remote content address is refused (a private or reserved address, or a host not allowed by remoteContent.allowedHosts)',
    );
  });

  it('past api.maxConcurrentDryRuns, a dry run is refused with 429 RATE_LIMITED and Retry-After; real sends are not held back', async () => {
    const held = holdRoute('/held.png', png);
    const first = send(g.gw.url, mtWith('15554000005', [remotePart(`${origin.url}/held.png`, 'held.png')]), undefined, DRY);
    await eventually(async () => origin.hits('/held.png').length > 0 || undefined, 5_000, 'the first dry run fetching');

    const second = await send(g.gw.url, mtWith('15554000006', [textPart('x', 'text.txt')]), undefined, DRY);
    expect(second.status, second.body.toString()).toBe(429);
    expect(second.json.code).toBe('RATE_LIMITED');
    expect(Number(second.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // A real send meanwhile is accepted as usual.
    expect(await sendOk(g.gw.url, mtWith('15554000007', [textPart('real', 'text.txt')]))).toBeGreaterThan(0);

    held.release();
    const r = await first;
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.json).toMatchObject({ dryRun: true, parts: [expect.objectContaining({ contentId: 'held.png' })] });
    // The slot is free again once the first dry run has answered, and a refused or failed one holds none.
    const again = await send(g.gw.url, mtWith('15554000008', [textPart('x', 'text.txt')]), undefined, DRY);
    expect(again.status, again.body.toString()).toBe(200);
    const bad = await send(g.gw.url, mtWith('15554000009', []), undefined, DRY);
    expect(bad.status).toBe(400);
    expect((await send(g.gw.url, mtWith('15554000009', [textPart('x', 'text.txt')]), undefined, DRY)).status).toBe(200);
  });
});
