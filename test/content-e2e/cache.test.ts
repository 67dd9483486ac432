/**
 * The remote-content URL cache through the whole gateway: sends with the same remote URL share one fetch at the
 * origin (stored copy while fresh; one single-flight fetch for concurrent sends), and a stale copy is revalidated
 * with its validator (RFC 9111 §4.3.1, If-None-Match) so that a 304 reuses the stored bytes (§4.3.4).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, sleep, startSink, startTestGateway, type Sink, type TestGateway } from '../support/gateway.ts';
import {
  handsetMessages,
  mtWith,
  partBytes,
  remotePart,
  sendOk,
  smallPng,
  startOrigin,
  statusOf,
  textPart,
  waitForEvent,
  waitForHandset,
  type Origin,
  type StatusEvent,
} from './helpers.ts';

let origin: Origin;
let sink: Sink;
let gw: TestGateway;

beforeAll(async () => {
  origin = await startOrigin();
  sink = await startSink();
  gw = await startTestGateway({ remoteContent: { allowPrivateAddresses: ['127.0.0.0/8'] } }, { reportUrl: `${sink.url}/reports` });
});
afterAll(async () => {
  await gw?.stop();
  await sink?.close();
  await origin?.close();
});

/** Where the content of part `contentId` came from, per the message's content-fetched event. */
async function fetchSource(mtId: number, contentId: string): Promise<string | undefined> {
  const ev = await waitForEvent(gw.url, mtId, 'content-fetched');
  return (ev.detail.parts as { contentId: string; source: string }[]).find((p) => p.contentId === contentId)?.source;
}

describe('remote content cache', () => {
  it('two sends of one URL fetch it once; after max-age a third revalidates (If-None-Match) and reuses the 304', async () => {
    const body = await smallPng(80, 60);
    const etag = '"logo-v1"';
    origin.route('/cached/logo.png', (req, res) => {
      // No Date header: with one-second Date granularity the response could already be up to 1 s old on arrival
      // (apparent age, RFC 9111 §4.2.3), which would make max-age=1 stale at once and the test timing-dependent.
      res.sendDate = false;
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { etag, 'cache-control': 'max-age=1' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(body.length), etag, 'cache-control': 'max-age=1' });
      res.end(body);
    });
    const url = `${origin.url}/cached/logo.png`;
    const parts = () => [remotePart(url, 'logo.png'), textPart('Our logo', 'text.txt')];

    const mt1 = await sendOk(gw.url, mtWith('15551000101', parts()));
    await eventually(async () => (origin.hits('/cached/logo.png').length >= 1 ? true : undefined), 10_000, 'first fetch');
    const firstFetchAt = Date.now();
    // Sent right after the first fetch, well inside the one-second freshness lifetime.
    const mt2 = await sendOk(gw.url, mtWith('15551000102', parts()));
    const [h1, h2] = await Promise.all([waitForHandset(gw.url, '15551000101', mt1), waitForHandset(gw.url, '15551000102', mt2)]);

    expect(origin.hits('/cached/logo.png')).toHaveLength(1);
    expect(origin.hits('/cached/logo.png')[0]!.headers['if-none-match']).toBeUndefined();
    for (const m of [h1, h2]) {
      const img = m.parts.find((p) => p.contentId === 'logo.png')!;
      expect(img.contentType).toMatch(/^image\/png/);
      expect((await partBytes(gw.url, img)).equals(body)).toBe(true);
    }
    expect(await fetchSource(mt1, 'logo.png')).toBe('network');
    expect(await fetchSource(mt2, 'logo.png')).toBe('cache');

    // Past max-age: the stored copy is stale and must be revalidated before use.
    await sleep(Math.max(0, firstFetchAt + 1200 - Date.now()));
    const mt3 = await sendOk(gw.url, mtWith('15551000103', parts()));
    const h3 = await waitForHandset(gw.url, '15551000103', mt3);

    const hits = origin.hits('/cached/logo.png');
    expect(hits).toHaveLength(2);
    expect(hits[1]!.headers['if-none-match']).toBe(etag);
    expect(hits[1]!.answered).toBe(304);
    const img3 = h3.parts.find((p) => p.contentId === 'logo.png')!;
    expect(img3.contentType).toMatch(/^image\/png/);
    expect(img3.size).toBe(body.length);
    expect((await partBytes(gw.url, img3)).equals(body)).toBe(true);
    expect(await fetchSource(mt3, 'logo.png')).toBe('revalidated');
    const st3 = await statusOf(gw.url, mt3);
    expect(st3).toMatchObject({ state: 'delivered', outcomeId: 1 });
  });

  it('a 304 without Cache-Control keeps the stored max-age: the next use after it revalidates again', async () => {
    // RFC 9111 §4.3.4: header fields the 304 does not carry keep their stored values, so the stored
    // `max-age=1` still governs; the cache must not fall back to its one-hour default for the refreshed copy.
    const body = await smallPng(40, 30);
    const etag = '"news-v1"';
    origin.route('/cached/news.png', (req, res) => {
      res.sendDate = false; // see above: exact one-second lifetimes
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { etag });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(body.length), etag, 'cache-control': 'max-age=1' });
      res.end(body);
    });
    const url = `${origin.url}/cached/news.png`;
    const hits = () => origin.hits('/cached/news.png');
    const sendAndReceive = async (destination: string) => {
      const mtId = await sendOk(gw.url, mtWith(destination, [remotePart(url, 'news.png')]));
      const msg = await waitForHandset(gw.url, destination, mtId);
      expect((await partBytes(gw.url, msg.parts[0]!)).equals(body)).toBe(true);
      return mtId;
    };

    await sendAndReceive('15551000301');
    expect(hits()).toHaveLength(1);
    await sleep(1200);
    await sendAndReceive('15551000302'); // stale: revalidated, 304 without Cache-Control
    expect(hits().map((h) => h.answered)).toEqual([200, 304]);
    await sleep(1200);
    const mt3 = await sendAndReceive('15551000303'); // stale again after the stored max-age=1
    expect(hits().map((h) => h.answered), `third message's content came from: ${await fetchSource(mt3, 'news.png')}`).toEqual([200, 304, 304]);
  });

  it('concurrent sends of one URL (a campaign) share a single fetch', async () => {
    const body = await smallPng(120, 90);
    origin.route('/campaign/banner.png', async (_req, res) => {
      // A slow origin, so that the sends' submissions overlap while the fetch is in flight.
      await sleep(400);
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(body.length) });
      res.end(body);
    });
    const url = `${origin.url}/campaign/banner.png`;
    const numbers = ['15551000201', '15551000202', '15551000203', '15551000204', '15551000205'];
    const mtIds = await Promise.all(numbers.map((n) => sendOk(gw.url, mtWith(n, [remotePart(url, 'banner.png'), textPart('Sale!', 'text.txt')]))));
    const received = await Promise.all(numbers.map((n, i) => waitForHandset(gw.url, n, mtIds[i]!)));

    expect(origin.hits('/campaign/banner.png')).toHaveLength(1);
    for (const m of received) {
      const img = m.parts.find((p) => p.contentId === 'banner.png')!;
      expect((await partBytes(gw.url, img)).equals(body)).toBe(true);
    }
    // Every message says where its content came from; exactly one of them went to the network.
    const sources = await Promise.all(mtIds.map(async (id) => {
      const ev = (await waitForEvent(gw.url, id, 'content-fetched')) as StatusEvent;
      return ev.detail.parts[0].source as string;
    }));
    expect(sources.filter((s) => s === 'network').length).toBeGreaterThanOrEqual(1);
    expect(sources.every((s) => s === 'network' || s === 'cache')).toBe(true);
    // Nothing else went to these handsets.
    for (const n of numbers) expect(await handsetMessages(gw.url, n)).toHaveLength(1);
  });
});
