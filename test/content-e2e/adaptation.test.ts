/**
 * Content adaptation through the whole gateway: an image far larger than the operator takes is shrunk before
 * submission, so the handset gets a decodable image and a message within the operator's maxMessageBytes, and the
 * status timeline records what was changed.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSink, startTestGateway, type Sink, type TestGateway } from '../support/gateway.ts';
import { base64Part, mtWith, noisePng, partBytes, sendOk, statusOf, textPart, waitForHandset, waitForReport } from './helpers.ts';

/** The operator under test takes 300 KB messages. */
const MAX_MESSAGE_BYTES = 307_200;
const SMALL_OP = 78;

let sink: Sink;
let gw: TestGateway;

beforeAll(async () => {
  sink = await startSink();
  gw = await startTestGateway(
    {
      operators: [
        { id: 77, name: 'Sim Mobile', type: 'simulator', prefixes: ['1'], simulator: { deliveryDelay: '50ms' } },
        { id: SMALL_OP, name: 'Small MMSC', type: 'simulator', prefixes: ['1777'], maxMessageBytes: MAX_MESSAGE_BYTES, simulator: { deliveryDelay: '50ms' } },
      ],
    },
    { reportUrl: `${sink.url}/reports` },
  );
});
afterAll(async () => {
  await gw?.stop();
  await sink?.close();
});

describe('adaptation to the operator limits', () => {
  it('a ~3 MB PNG sent inline (base64, within the default body limits) reaches the handset as a decodable image, the message under 300 KB', async () => {
    const png = await noisePng(1000, 1000, 7);
    expect(png.length).toBeGreaterThan(2_800_000); // noise does not compress: the original is far over the limit
    const text = 'A very detailed picture';
    const destination = '17770000001';
    const mtId = await sendOk(gw.url, mtWith(destination, [base64Part(png, 'image/png', 'photo.png'), textPart(text, 'text.txt')]));

    const report = await waitForReport(sink, mtId, 20_000);
    expect(report).toMatchObject({ type: 'REPORT', mtId, status: 'Retrieved', outcomeId: 1 });
    const msg = await waitForHandset(gw.url, destination, mtId);

    const total = msg.parts.reduce((n, p) => n + p.size, 0);
    expect(total).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    const img = msg.parts.find((p) => p.contentId === 'photo.png')!;
    expect(img).toBeDefined();
    const bytes = await partBytes(gw.url, img);
    expect(bytes.length).toBe(img.size);
    const meta = await sharp(bytes).metadata();
    expect(['jpeg', 'png']).toContain(meta.format);
    expect(img.contentType).toMatch(new RegExp(`^image/${meta.format}`));
    // Decoding the whole image (not just its header) succeeds.
    const { info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    expect(info.width).toBeGreaterThanOrEqual(32);
    expect(info.width).toBe(meta.width);
    // The text part is untouched.
    const txt = msg.parts.find((p) => p.contentId === 'text.txt')!;
    expect((await partBytes(gw.url, txt)).toString('utf8')).toBe(text);

    const st = await statusOf(gw.url, mtId);
    expect(st).toMatchObject({ state: 'delivered', mobileOperatorId: SMALL_OP });
    const adapted = (st.events as { type: string; detail: any }[]).find((e) => e.type === 'content-adapted');
    expect(adapted, JSON.stringify(st.events.map((e: { type: string }) => e.type))).toBeDefined();
    const changes = adapted!.detail.changes as { contentId: string; action: string; fromType: string; toType: string; fromBytes: number; toBytes: number; width: number; height: number }[];
    expect(changes.length).toBeGreaterThan(0);
    const change = changes.find((c) => c.contentId === 'photo.png')!;
    expect(change).toMatchObject({ contentId: 'photo.png', fromType: 'image/png', fromBytes: png.length, toBytes: bytes.length });
    expect(['compress', 'resize', 'convert']).toContain(change.action);
    expect(change.toType).toBe(img.contentType.split(';')[0]);
    expect({ width: change.width, height: change.height }).toEqual({ width: meta.width, height: meta.height });
    expect(adapted!.detail.bytes).toBe(total);
  });

  it('the same picture to an operator with the default limits (600 KB) is adapted less', async () => {
    const png = await noisePng(1000, 1000, 7);
    const destination = '15550000777';
    const mtId = await sendOk(gw.url, mtWith(destination, [base64Part(png, 'image/png', 'photo.png')]));
    const msg = await waitForHandset(gw.url, destination, mtId, 20_000);
    const img = msg.parts.find((p) => p.contentId === 'photo.png')!;
    expect(img.size).toBeLessThanOrEqual(614_400);
    // More room means a larger (better) image than for the 300 KB operator.
    expect(img.size).toBeGreaterThan(MAX_MESSAGE_BYTES / 2);
    await sharp(await partBytes(gw.url, img)).raw().toBuffer();
    expect((await statusOf(gw.url, mtId)).mobileOperatorId).toBe(77);
  });
});
