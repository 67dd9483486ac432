/**
 * Remote content that cannot be used ends the message with a documented outcome (docs/outcomes.md): 22 when it
 * cannot be fetched (404, larger than remoteContent.maxBytes), 24 when its type is not one an MMS carries. A
 * temporary failure (503, RFC 9110 §15.6.4) is retried on the submit schedule instead.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  handsetMessages,
  mtWith,
  noisePng,
  partBytes,
  remotePart,
  sendOk,
  serveBytes,
  smallPng,
  startGatewayWithSink,
  startOrigin,
  statusOf,
  textPart,
  waitForHandset,
  waitForReport,
  type GatewayWithSink,
  type Origin,
} from './helpers.ts';
import { sleep } from '../support/gateway.ts';

const MAX_BYTES = 64 * 1024;
const MAX_MESSAGE_BYTES = 160 * 1024;

let g: GatewayWithSink;
let origin: Origin;

beforeAll(async () => {
  origin = await startOrigin();
  g = await startGatewayWithSink({ remoteContent: { allowPrivateAddresses: true, maxBytes: MAX_BYTES, maxMessageBytes: MAX_MESSAGE_BYTES } });
});
afterAll(async () => {
  await g?.stop();
  await origin?.close();
});

/** Send a remote part plus text; wait for the report; check it, the final state and the empty handset. */
async function expectOutcome(path: string, destination: string, outcome: { outcomeId: number; outcomeDescription: string }): Promise<number> {
  const mtId = await sendOk(g.gw.url, mtWith(destination, [remotePart(`${origin.url}${path}`, 'media'), textPart('hello', 'text.txt')]));
  const report = await waitForReport(g.sink, mtId);
  expect(report).toMatchObject({ type: 'REPORT', mtId, status: 'Rejected', ...outcome });
  expect(report.userAgent).toBeUndefined();
  const st = await statusOf(g.gw.url, mtId);
  expect(st).toMatchObject({ state: 'failed', status: 'Rejected', outcomeId: outcome.outcomeId });
  expect((await handsetMessages(g.gw.url, destination)).some((m) => m.mtId === mtId)).toBe(false);
  // Exactly one report.
  await sleep(300);
  expect(g.sink.requests.filter((r) => JSON.parse(r.body.toString()).mtId === mtId)).toHaveLength(1);
  return mtId;
}

describe('remote content failures', () => {
  it('404: REPORT Rejected/22, message failed, fetched once (a permanent failure is not retried)', async () => {
    await expectOutcome('/missing.png', '15553000001', { outcomeId: 22, outcomeDescription: 'Remote content could not be fetched.' });
    expect(origin.hits('/missing.png')).toHaveLength(1);
    expect(origin.hits('/missing.png')[0]!.answered).toBe(404);
  });

  it('a body over remoteContent.maxBytes: Rejected/22', async () => {
    origin.route('/huge.png', serveBytes(Buffer.alloc(MAX_BYTES + 1, 7), { 'content-type': 'image/png' }));
    await expectOutcome('/huge.png', '15553000002', { outcomeId: 22, outcomeDescription: 'Remote content could not be fetched.' });
  });

  it('a body over remoteContent.maxBytes sent chunked (no Content-Length): Rejected/22, the read is cut short', async () => {
    const CHUNKS = 2048;
    let written = 0;
    let closedEarly = false;
    origin.route('/endless.png', async (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.on('close', () => (closedEarly = !res.writableFinished));
      // Up to 32 MiB (500 x the limit, far more than loopback socket buffers hold) in 16 KiB chunks; the gateway
      // must stop reading long before the end.
      const chunk = Buffer.alloc(16 * 1024, 1);
      for (let i = 0; i < CHUNKS && !res.destroyed; i++) {
        if (!res.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              res.off('drain', done).off('close', done);
              resolve();
            };
            res.on('drain', done).on('close', done);
          });
        }
        written += chunk.length;
      }
      if (!res.destroyed) res.end();
    });
    await expectOutcome('/endless.png', '15553000005', { outcomeId: 22, outcomeDescription: 'Remote content could not be fetched.' });
    expect(closedEarly).toBe(true);
    expect(written).toBeLessThan(CHUNKS * 16 * 1024);
  });

  it('remote parts together over remoteContent.maxMessageBytes: Rejected/22, and fetching stops there', async () => {
    // Real PNGs (bytes that are no PNG are refused as such): each under maxBytes; three of them pass the message budget.
    const body = await noisePng(140, 140, 3);
    expect(body.length).toBeGreaterThan(MAX_MESSAGE_BYTES / 3);
    expect(body.length).toBeLessThan(MAX_BYTES);
    for (const n of [1, 2, 3, 4]) origin.route(`/part${n}.png`, serveBytes(body, { 'content-type': 'image/png' }));
    const parts = [1, 2, 3, 4].map((n) => remotePart(`${origin.url}/part${n}.png`, `p${n}`));
    const mtId = await sendOk(g.gw.url, mtWith('15553000006', [...parts, textPart('hello', 'text.txt')]));
    const report = await waitForReport(g.sink, mtId);
    expect(report).toMatchObject({ status: 'Rejected', outcomeId: 22 });
    expect(origin.hits('/part3.png')).toHaveLength(1);
    expect(origin.hits('/part4.png')).toHaveLength(0);
  });

  it('a content-encoded body (asked for identity): Rejected/24, not passed on encoded', async () => {
    origin.route('/gz.png', serveBytes(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), { 'content-type': 'image/png', 'content-encoding': 'gzip' }));
    await expectOutcome('/gz.png', '15553000007', { outcomeId: 24, outcomeDescription: 'Remote content type is not supported.' });
    expect(origin.hits('/gz.png')[0]!.headers['accept-encoding']).toBe('identity');
  });

  it('an HTML page: Rejected/24 (not a type an MMS carries)', async () => {
    origin.route('/page', serveBytes(Buffer.from('<!doctype html><title>x</title>'), { 'content-type': 'text/html; charset=utf-8' }));
    await expectOutcome('/page', '15553000003', { outcomeId: 24, outcomeDescription: 'Remote content type is not supported.' });
  });

  it('503 once, then the content: retried and delivered', async () => {
    const png = await smallPng();
    let calls = 0;
    origin.route('/flaky.png', (req, res) => {
      if (++calls === 1) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('busy');
        return;
      }
      serveBytes(png, { 'content-type': 'image/png' })(req, res);
    });
    const destination = '15553000004';
    const mtId = await sendOk(g.gw.url, mtWith(destination, [remotePart(`${origin.url}/flaky.png`, 'media'), textPart('hello', 'text.txt')]));
    const report = await waitForReport(g.sink, mtId);
    expect(report).toMatchObject({ type: 'REPORT', mtId, status: 'Retrieved', outcomeId: 1 });
    const msg = await waitForHandset(g.gw.url, destination, mtId);
    expect((await partBytes(g.gw.url, msg.parts.find((p) => p.contentId === 'media')!)).equals(png)).toBe(true);
    expect(origin.hits('/flaky.png').map((h) => h.answered)).toEqual([503, 200]);
    const st = await statusOf(g.gw.url, mtId);
    expect(st.events.map((e: { type: string }) => e.type)).toContain('submit-retry');
  });

  it('a photo served with a wrong Content-Type (text/plain, image/png) reaches the handset labelled as what it is', async () => {
    const jpeg = await sharp({ create: { width: 80, height: 60, channels: 3, background: { r: 10, g: 120, b: 200 } } }).jpeg().toBuffer();
    origin.route('/photo-as-text', serveBytes(jpeg, { 'content-type': 'text/plain; charset=utf-8' }));
    origin.route('/photo-as.png', serveBytes(jpeg, { 'content-type': 'image/png' }));
    // A text whose first bytes happen to match the BMP signature ("BM") stays text.
    const bmText = Buffer.from('BMW service reminder: your car is due on Monday.');
    origin.route('/bm.txt', serveBytes(bmText, { 'content-type': 'text/plain; charset=utf-8' }));
    const destination = '15553000008';
    const mtId = await sendOk(
      g.gw.url,
      mtWith(destination, [remotePart(`${origin.url}/photo-as-text`, 'a'), remotePart(`${origin.url}/photo-as.png`, 'b'), remotePart(`${origin.url}/bm.txt`, 't')]),
    );
    expect(await waitForReport(g.sink, mtId)).toMatchObject({ status: 'Retrieved', outcomeId: 1 });
    const msg = await waitForHandset(g.gw.url, destination, mtId);
    for (const id of ['a', 'b']) {
      const part = msg.parts.find((p) => p.contentId === id)!;
      expect(part.contentType).toBe('image/jpeg');
      expect((await partBytes(g.gw.url, part)).equals(jpeg)).toBe(true);
    }
    const text = msg.parts.find((p) => p.contentId === 't')!;
    expect(text.contentType).toBe('text/plain; charset=utf-8');
    expect((await partBytes(g.gw.url, text)).equals(bmText)).toBe(true);
  });

  it('text served as image/jpeg (an error page answered 200): Rejected/24, saying what came instead of the image', async () => {
    origin.route('/not-a-photo.jpg', serveBytes(Buffer.from('Access denied\n'), { 'content-type': 'image/jpeg' }));
    const mtId = await expectOutcome('/not-a-photo.jpg', '15553000009', { outcomeId: 24, outcomeDescription: 'Remote content type is not supported.' });
    const rejected = (await statusOf(g.gw.url, mtId)).events.find((e: { type: string }) => e.type === 'submit-rejected');
    expect(rejected.detail.error).toMatch(/labelled image\/jpeg but is text\/plain/);
  });
});
