/**
 * SMIL generation through the whole gateway: an operator configured with `generateSmil: true` gets a SMIL
 * presentation (3GPP TS 26.140 §8 / OMA MMS conformance SMIL) added to a message sent without one, referencing
 * the media by `cid:` URL (RFC 2392), remote parts included; a customer's own SMIL is delivered as sent and no
 * second one is added; an operator without the setting (a simulator's default) gets none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../support/gateway.ts';
import {
  mtWith,
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
  type GatewayWithSink,
  type HandsetMessage,
  type Origin,
} from './helpers.ts';

const SMIL_OP = 80;

let g: GatewayWithSink;
let origin: Origin;
let png: Buffer;

beforeAll(async () => {
  origin = await startOrigin();
  png = await smallPng(160, 120);
  origin.route('/photo.png', serveBytes(png, { 'content-type': 'image/png' }));
  g = await startGatewayWithSink({
    remoteContent: { allowPrivateAddresses: true },
    operators: [
      { id: 77, name: 'Sim Mobile', type: 'simulator', prefixes: ['1'], simulator: { deliveryDelay: '50ms' } },
      { id: SMIL_OP, name: 'SMIL Mobile', type: 'simulator', prefixes: ['1666'], generateSmil: true, simulator: { deliveryDelay: '50ms' } },
    ],
  });
});
afterAll(async () => {
  await g?.stop();
  await origin?.close();
});

const isSmil = (contentType: string) => /^application\/smil/i.test(contentType);

/** Every `src` of a SMIL document. */
function sources(smil: string): string[] {
  return [...smil.matchAll(/\bsrc="([^"]*)"/g)].map((m) => m[1]!);
}

async function smilParts(msg: HandsetMessage): Promise<{ contentId: string; text: string }[]> {
  const out: { contentId: string; text: string }[] = [];
  for (const p of msg.parts) if (isSmil(p.contentType)) out.push({ contentId: p.contentId, text: (await partBytes(g.gw.url, p)).toString('utf8') });
  return out;
}

describe('SMIL generation', () => {
  it('image (remote) + text without SMIL: the handset gets a SMIL part referencing both by cid', async () => {
    const destination = '16660000001';
    const mtId = await sendOk(g.gw.url, mtWith(destination, [remotePart(`${origin.url}/photo.png`, 'photo.png'), textPart('Greetings', 'greeting.txt')]));
    const msg = await waitForHandset(g.gw.url, destination, mtId);

    const smil = await smilParts(msg);
    expect(smil).toHaveLength(1);
    expect(isSmil(msg.parts[0]!.contentType)).toBe(true); // the presentation leads the message
    const doc = smil[0]!.text;
    expect(doc).toMatch(/<smil[\s>]/);
    expect(doc).toMatch(/<img [^>]*src="cid:photo\.png"/);
    expect(doc).toMatch(/<text [^>]*src="cid:greeting\.txt"/);
    // Every reference resolves to a part of the delivered message, and every media part is referenced.
    const ids = msg.parts.filter((p) => !isSmil(p.contentType)).map((p) => p.contentId);
    expect(sources(doc).map((s) => s.replace(/^cid:/, '')).sort()).toEqual([...ids].sort());
    expect([...ids].sort()).toEqual(['greeting.txt', 'photo.png']);
    // The media themselves arrive as sent.
    expect((await partBytes(g.gw.url, msg.parts.find((p) => p.contentId === 'photo.png')!)).equals(png)).toBe(true);
    expect((await partBytes(g.gw.url, msg.parts.find((p) => p.contentId === 'greeting.txt')!)).toString()).toBe('Greetings');

    const st = await statusOf(g.gw.url, mtId);
    expect(st.mobileOperatorId).toBe(SMIL_OP);
    const adapted = (st.events as { type: string; detail: any }[]).find((e) => e.type === 'content-adapted');
    expect(adapted?.detail.smilGenerated).toBe(true);
  });

  it('with the customer\'s own SMIL: delivered byte for byte, none added', async () => {
    const destination = '16660000002';
    const customerSmil =
      '<smil><head><layout><root-layout width="160" height="200"/><region id="Image" top="0" left="0" width="160" height="120"/>' +
      '<region id="Text" top="120" left="0" width="160" height="80"/></layout></head>' +
      '<body><par dur="8000ms"><text src="cid:greeting.txt" region="Text"/><img src="cid:photo.png" region="Image"/></par></body></smil>';
    const mtId = await sendOk(
      g.gw.url,
      mtWith(destination, [
        { headers: { 'Content-Type': 'application/smil', 'Content-Id': '<pres.smil>' }, body: customerSmil },
        remotePart(`${origin.url}/photo.png`, 'photo.png'),
        textPart('Greetings', 'greeting.txt'),
      ]),
    );
    const msg = await waitForHandset(g.gw.url, destination, mtId);
    const smil = await smilParts(msg);
    expect(smil).toEqual([{ contentId: 'pres.smil', text: customerSmil }]);
    expect(msg.parts.map((p) => p.contentId)).toEqual(['pres.smil', 'photo.png', 'greeting.txt']);
    const st = await statusOf(g.gw.url, mtId);
    expect((st.events as { type: string }[]).some((e) => e.type === 'content-adapted')).toBe(false);
  });

  it('a dry run to the SMIL operator lists the SMIL part it would add', async () => {
    const r = await send(
      g.gw.url,
      mtWith('16660000003', [remotePart(`${origin.url}/photo.png`, 'photo.png'), textPart('Greetings', 'greeting.txt')]),
      undefined,
      { 'x-dry-run': 'true' },
    );
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.json).toMatchObject({ dryRun: true, mobileOperatorId: SMIL_OP, smilGenerated: true });
    const parts = r.json.parts as { contentType: string; contentId: string; size: number }[];
    expect(parts.map((p) => p.contentId)).toEqual(['smil', 'photo.png', 'greeting.txt']);
    expect(parts[0]!.contentType).toMatch(/^application\/smil/);
    expect(parts[0]!.size).toBeGreaterThan(100);
  });

  it('an operator without generateSmil (simulator default): no SMIL added', async () => {
    const destination = '15550000080';
    const mtId = await sendOk(g.gw.url, mtWith(destination, [remotePart(`${origin.url}/photo.png`, 'photo.png'), textPart('Greetings', 'greeting.txt')]));
    const msg = await waitForHandset(g.gw.url, destination, mtId);
    expect(msg.parts.map((p) => p.contentId)).toEqual(['photo.png', 'greeting.txt']);
    expect(await smilParts(msg)).toHaveLength(0);
  });
});
