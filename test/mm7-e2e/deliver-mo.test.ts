/**
 * MO over MM7: the MMSC's DeliverReq (3GPP TS 23.140 §8.2) with multipart/related content (SMIL + image + text) on
 * POST /mm7/{id} -> DeliverRsp 1000 -> the customer's moUrl receives the OpenMarket MO multipart/mixed: JSON part
 * `main` then every content part, decoded byte-exact.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendDeliver, startMm7Peer, type DeliverOptions, type Mm7Peer } from '../support/mm7-peer.ts';
import { startSink, type Sink, type TestGateway } from '../support/gateway.ts';
import { INBOUND, NS_BASE, OP_ID, inboundUrl, mediaType, readMo, readSoapAnswer, startMm7Gateway, waitForMo } from './helpers.ts';

const SMIL =
  '<smil><head><layout><root-layout/><region id="Image" top="0" left="0" height="80%" width="100%"/>' +
  '<region id="Text" top="80%" left="0" height="20%" width="100%"/></layout></head>' +
  '<body><par dur="4s"><img src="photo.jpg" region="Image"/><text src="note.txt" region="Text"/></par></body></smil>';
const TEXT = 'Reply from the handset: ça marche 👍';
const IMAGE = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe1]), randomBytes(4096), Buffer.from('\r\n--\r\n'), randomBytes(512), Buffer.from([0xff, 0xd9])]);

let peer: Mm7Peer;
let sink: Sink;
let gw: TestGateway;

beforeAll(async () => {
  peer = await startMm7Peer();
  sink = await startSink();
  gw = await startMm7Gateway(peer, { moUrl: `${sink.url}/mo`, reportUrl: `${sink.url}/reports` });
});
afterAll(async () => {
  await gw?.stop();
  await sink?.close();
  await peer?.close();
});

describe('DeliverReq to a number an account owns', () => {
  it('answers DeliverRsp 1000 and posts the MO, all three parts byte-exact, to the moUrl', async () => {
    const subject = `MO e2e ${randomBytes(3).toString('hex')}`;
    const opts: DeliverOptions = {
      sender: '15551234567',
      to: ['88600'],
      subject,
      transactionId: 'mo-tx-0001',
      parts: [
        { contentType: 'application/smil', contentId: 'smil', body: SMIL },
        { contentType: 'image/jpeg', contentId: 'photo.jpg', body: IMAGE, encoding: 'base64', location: 'photo.jpg' },
        { contentType: 'text/plain; charset=utf-8', contentId: 'note.txt', body: TEXT, location: 'note.txt' },
      ],
    };
    const res = await sendDeliver(inboundUrl(gw), opts, INBOUND);
    expect(res.status, res.body).toBe(200);
    const answer = readSoapAnswer(res);
    expect(answer.operation).toBe('DeliverRsp');
    expect(answer.statusCode).toBe(1000);
    expect(answer.env.transactionId).toBe('mo-tx-0001');
    expect(answer.env.namespace).toBe(NS_BASE + 'REL-6-MM7-1-4');

    const mo = await waitForMo(sink, subject);
    expect(mo.method).toBe('POST');
    expect(String(mo.headers['x-request-id'] ?? '')).toMatch(/\S/);
    const { json, parts } = readMo(mo);
    expect(json).toMatchObject({
      type: 'MO',
      source: '15551234567',
      destinations: ['88600'],
      subject,
      mobileOperatorId: OP_ID,
    });
    expect(typeof json.moId).toBe('number');
    expect(Number.isSafeInteger(json.moId)).toBe(true);
    expect(parts.map((p) => [p.type, p.contentId])).toEqual([
      ['application/smil', 'smil'],
      ['image/jpeg', 'photo.jpg'],
      ['text/plain', 'note.txt'],
    ]);
    // OpenMarket's MO shape: content parts base64-encoded; decoded, they are exactly what the handset sent.
    expect(parts.every((p) => p.encoding === 'base64')).toBe(true);
    expect(parts[0]!.body.toString('utf8')).toBe(SMIL);
    expect(parts[1]!.body.equals(IMAGE)).toBe(true);
    expect(parts[2]!.body.toString('utf8')).toBe(TEXT);
    expect(mediaType(parts[2]!.contentType).params.charset?.toLowerCase()).toBe('utf-8');
  });

  it('an MO with parts that cannot be decoded reaches the customer whole: those parts as the bytes sent, labelled application/octet-stream', async () => {
    // One MM part in a transfer encoding nobody decodes (uuencode, as old mail gateways write it), one in base64 that
    // is not base64: the MMSC must still get DeliverRsp 1000 (a fault makes it resend, then drop the MO), and the
    // customer the whole MO.
    const subject = `MO undecodable ${randomBytes(3).toString('hex')}`;
    const uuencoded = 'begin 644 photo.jpg\r\nM_]C_X  02D9)1@ !\r\n`\r\nend';
    const res = await sendDeliver(
      inboundUrl(gw),
      {
        sender: '15551234567',
        to: ['88600'],
        subject,
        transactionId: 'mo-tx-undecodable',
        parts: [
          { contentType: 'application/smil', contentId: 'smil', body: SMIL },
          { contentType: 'image/jpeg; name=photo.jpg', contentId: 'photo.jpg', body: uuencoded, encoding: 'x-uuencode' },
          { contentType: 'text/plain; charset=utf-8', contentId: 'note.txt', body: 'not base64 at all!', encoding: 'base64', verbatim: true },
          { contentType: 'text/plain; charset=utf-8', contentId: 'ok.txt', body: TEXT, encoding: 'base64' },
        ],
      },
      INBOUND,
    );
    expect(res.status, res.body).toBe(200);
    expect([readSoapAnswer(res).statusCode, readSoapAnswer(res).env.transactionId]).toEqual([1000, 'mo-tx-undecodable']);

    const { json, parts } = readMo(await waitForMo(sink, subject));
    expect(json).toMatchObject({ type: 'MO', source: '15551234567', destinations: ['88600'], subject });
    expect(parts.map((p) => [p.type, p.contentId])).toEqual([
      ['application/smil', 'smil'],
      ['application/octet-stream', 'photo.jpg'],
      ['application/octet-stream', 'note.txt'],
      ['text/plain', 'ok.txt'],
    ]);
    expect(mediaType(parts[1]!.contentType).params).toEqual({ 'original-type': 'image/jpeg', 'original-encoding': 'x-uuencode' });
    expect(mediaType(parts[2]!.contentType).params).toEqual({ 'original-type': 'text/plain', 'original-encoding': 'base64' });
    expect(parts[0]!.body.toString('utf8')).toBe(SMIL);
    expect(parts[1]!.body.toString('latin1')).toBe(uuencoded);
    expect(parts[2]!.body.toString('latin1')).toBe('not base64 at all!');
    expect(parts[3]!.body.toString('utf8')).toBe(TEXT);
  });

  it('a second MO gets another moId', async () => {
    const subjects = [`MO a ${randomBytes(3).toString('hex')}`, `MO b ${randomBytes(3).toString('hex')}`];
    for (const subject of subjects) {
      const res = await sendDeliver(
        inboundUrl(gw),
        { sender: '15559876543', to: ['88600'], subject, parts: [{ contentType: 'text/plain', contentId: 't', body: subject }] },
        INBOUND,
      );
      expect(res.status, res.body).toBe(200);
    }
    const ids = await Promise.all(subjects.map(async (s) => readMo(await waitForMo(sink, s)).json.moId));
    expect(ids[0]).not.toBe(ids[1]);
  });

  it("an MMSC's resend of the same DeliverReq (same LinkedID) is answered DeliverRsp 1000 and posted to the customer once", async () => {
    const subject = `MO resent ${randomBytes(3).toString('hex')}`;
    const linkedId = `resend-${randomBytes(4).toString('hex')}`;
    for (const transactionId of ['tx-first', 'tx-resend']) {
      const res = await sendDeliver(
        inboundUrl(gw),
        { sender: '15559876543', to: ['88600'], subject, linkedId, transactionId, parts: [{ contentType: 'text/plain', contentId: 't', body: subject }] },
        INBOUND,
      );
      expect(res.status, res.body).toBe(200);
      expect(readSoapAnswer(res).statusCode).toBe(1000);
    }
    await waitForMo(sink, subject);
    await new Promise((r) => setTimeout(r, 500)); // a second POST would have followed the first by now
    const posts = sink.requests.filter((r) => r.url.startsWith('/mo') && r.body.includes(Buffer.from(JSON.stringify(subject))));
    expect(posts).toHaveLength(1);
  });
});
