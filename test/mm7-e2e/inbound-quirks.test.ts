/**
 * POST /mm7/{id} through the whole gateway with what real MMSCs send (NOTES quirks 1, 3, 6, 8, 9) and with what
 * must be refused: every MM7-level refusal is a SOAP Fault carrying VASPErrorRsp (3GPP TS 23.140 §9.2.3), never the
 * HTTP API's JSON error; bad credentials are 401 (RFC 7617); a DOCTYPE is refused (no entity expansion).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryReportXml, postRaw, sendDeliver, sendDeliveryReport, startMm7Peer, type Mm7Peer, type PostResult } from '../support/mm7-peer.ts';
import { send, simpleMt, sleep, startSink, status, type Sink, type TestGateway } from '../support/gateway.ts';
import {
  INBOUND,
  NS_BASE,
  inboundUrl,
  jsonOf,
  mediaType,
  readMo,
  readSoapAnswer,
  recipientOf,
  startMm7Gateway,
  waitForMo,
  waitForMt,
  waitForSubmitted,
} from './helpers.ts';

const MAX_BODY = 256 * 1024;
const LATE = '15553000099';
const IMAGE = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(2500)]);
const SMIL = '<smil><body><par><img src="img"/><text src="txt"/></par></body></smil>';

let peer: Mm7Peer;
let sink: Sink;
let gw: TestGateway;

beforeAll(async () => {
  peer = await startMm7Peer();
  // LATE's SubmitRsp comes after 2.6 s: its delivery report overtakes it by more than the inbound sink's short wait.
  peer.script((req) => ({ messageId: `mmsc-q-${recipientOf(req)}`, ...(recipientOf(req).endsWith(LATE) ? { delayMs: 2600 } : {}) }));
  sink = await startSink();
  gw = await startMm7Gateway(peer, { moUrl: `${sink.url}/mo`, reportUrl: `${sink.url}/reports`, maxBodyBytes: MAX_BODY });
});
afterAll(async () => {
  await gw?.stop();
  await sink?.close();
  await peer?.close();
});

/** Send an MT to `destination` and wait until the MMSC's MessageID is known; returns mtId and MessageID. */
async function submitted(destination: string): Promise<{ mtId: number; messageId: string }> {
  const r = await send(gw.url, simpleMt(destination));
  expect(r.status, r.body.toString()).toBe(200);
  const doc = await waitForSubmitted(gw, r.json.mtId);
  return { mtId: r.json.mtId, messageId: doc.operatorMessageId };
}

/** The answer is an MM7 fault (HTTP 500 per SOAP 1.1 §6.2, or as given) with this StatusCode, not a JSON API error. */
function expectFault(res: PostResult, code: number, httpStatus = 500): ReturnType<typeof readSoapAnswer> {
  expect(res.status, res.body).toBe(httpStatus);
  expect(() => JSON.parse(res.body), `a JSON body instead of a SOAP fault: ${res.body}`).toThrow();
  const a = readSoapAnswer(res);
  expect(a.operation).toBe('Fault');
  expect(a.statusCode).toBe(code);
  expect(a.env.namespace).toMatch(/^http:\/\/www\.3gpp\.org\/ftp\/Specs\/archive\/23_series\/23\.140\/schema\/REL-\d+-MM7-\d+-\d+$/);
  expect(a.env.transactionId).toMatch(/\S/);
  return a;
}

function reportsFor(mtId: number): any[] {
  return sink.requests.filter((r) => r.url.startsWith('/reports') && jsonOf(r).mtId === mtId).map(jsonOf);
}

describe('quirky requests are accepted', () => {
  it('DeliveryReportReq: bare XML under a multipart type, padded TransactionID; then unqualified namespace with Sender/Recipient swapped', async () => {
    const { mtId, messageId } = await submitted('15553000001');

    const deferred = await sendDeliveryReport(
      inboundUrl(gw),
      { messageId, mmStatus: 'Deferred', transactionId: 'tx-padded-1', padTransactionId: true, multipartWithoutBoundary: true },
      INBOUND,
    );
    expect(deferred.status, deferred.body).toBe(200);
    const a1 = readSoapAnswer(deferred);
    expect(a1).toMatchObject({ operation: 'DeliveryReportRsp', statusCode: 1000 });
    expect(a1.env.transactionId).toBe('tx-padded-1'); // echoed trimmed (quirk 3)

    const retrieved = await sendDeliveryReport(
      inboundUrl(gw),
      { messageId, mmStatus: 'Retrieved', transactionId: 'tx-unqualified-2', namespace: null, swapped: true },
      INBOUND,
    );
    expect(retrieved.status, retrieved.body).toBe(200);
    const a2 = readSoapAnswer(retrieved);
    expect(a2).toMatchObject({ operation: 'DeliveryReportRsp', statusCode: 1000 });
    expect(a2.env.transactionId).toBe('tx-unqualified-2');
    // No namespace in the request: the answer is in the operator's configured one, so it stays schema-valid.
    expect(a2.env.namespace).toBe(NS_BASE + 'REL-6-MM7-1-4');
    expect(a2.env.operation.ns).toBe(NS_BASE + 'REL-6-MM7-1-4');

    await sink.waitFor(() => reportsFor(mtId).length >= 2);
    expect(reportsFor(mtId).map((r) => [r.status, r.outcomeId])).toEqual([
      ['Deferred', 4],
      ['Retrieved', 1],
    ]);
    await waitForMt(gw, mtId, (d) => d.state === 'delivered', 'delivered');

    // An MMSC that missed our answer sends the same report again (NOTES quirk 9): acknowledged, not forwarded twice.
    const again = await sendDeliveryReport(inboundUrl(gw), { messageId, mmStatus: 'Retrieved', transactionId: 'tx-unqualified-2', namespace: null }, INBOUND);
    expect(again.status, again.body).toBe(200);
    expect(readSoapAnswer(again)).toMatchObject({ operation: 'DeliveryReportRsp', statusCode: 1000 });
    await sleep(300);
    expect(reportsFor(mtId)).toHaveLength(2);
  });

  it('DeliverReq: bare Content-IDs, BASE64 in capitals, capitalised parameters, no start parameter', async () => {
    const subject = `quirky MO ${randomBytes(3).toString('hex')}`;
    const res = await sendDeliver(
      inboundUrl(gw),
      {
        sender: '15550004444',
        to: ['88600'],
        subject,
        transactionId: 'mo-quirks-1',
        bareContentIds: true,
        upperCaseParams: true,
        noStart: true,
        parts: [
          { contentType: 'application/smil', contentId: 'pres', body: SMIL },
          { contentType: 'image/png', contentId: 'img', body: IMAGE, encoding: 'BASE64' },
          { contentType: 'text/plain; charset=utf-8', contentId: 'txt', body: 'quirks ok ✓', encoding: 'BASE64' },
        ],
      },
      INBOUND,
    );
    expect(res.status, res.body).toBe(200);
    expect(readSoapAnswer(res)).toMatchObject({ operation: 'DeliverRsp', statusCode: 1000 });
    const { json, parts } = readMo(await waitForMo(sink, subject));
    expect(json).toMatchObject({ type: 'MO', source: '15550004444', destinations: ['88600'], subject });
    expect(parts.map((p) => [p.type, p.contentId])).toEqual([
      ['application/smil', 'pres'],
      ['image/png', 'img'],
      ['text/plain', 'txt'],
    ]);
    expect(parts[0]!.body.toString('utf8')).toBe(SMIL);
    expect(parts[1]!.body.equals(IMAGE)).toBe(true);
    expect(parts[2]!.body.toString('utf8')).toBe('quirks ok ✓');
  });

  it('DeliverReq: SOAP part in UTF-16 and a Content href that matches no Content-ID exactly', async () => {
    const subject = `utf16 MO ${randomBytes(3).toString('hex')}`;
    const res = await sendDeliver(
      inboundUrl(gw),
      { sender: '15550005555', to: ['88600'], subject, utf16: true, hrefMismatch: true, parts: [{ contentType: 'text/plain', contentId: 'only', body: 'hi' }] },
      INBOUND,
    );
    expect(res.status, res.body).toBe(200);
    expect(readSoapAnswer(res)).toMatchObject({ operation: 'DeliverRsp', statusCode: 1000 });
    const { parts } = readMo(await waitForMo(sink, subject));
    expect(parts.map((p) => p.body.toString())).toEqual(['hi']);
  });

  it('DeliverReq with the originator in SenderAddress, unqualified children, content parts straight in the outer multipart', async () => {
    const subject = `sender-address MO ${randomBytes(3).toString('hex')}`;
    // Every part has a Content-ID of its own, so the href (cid:message-content) names none of them.
    const res = await postFlatDeliver(subject, 'smil-1');
    expect(res.status, res.body).toBe(200);
    const a = readSoapAnswer(res);
    expect(a).toMatchObject({ operation: 'DeliverRsp', statusCode: 1000, version: '5.3.0' });
    expect(a.env.transactionId).toBe('vc-deliver-1');
    expect(a.env.namespace).toBe(NS_BASE + 'REL-5-MM7-1-0');
    const { json, parts } = readMo(await waitForMo(sink, subject));
    expect(json).toMatchObject({ type: 'MO', source: '15550006666', destinations: ['88600'], subject });
    expect(parts.map((p) => [p.type, p.contentId])).toEqual([
      ['application/smil', 'smil-1'],
      ['image/gif', 'pic'],
    ]);
    expect(parts[0]!.body.toString('utf8')).toBe(FLAT_SMIL);
    expect(parts[1]!.body.equals(FLAT_PIC)).toBe(true);
  });

  it('content parts straight in the outer multipart with the href naming the first of them: every part reaches the customer', async () => {
    // That MMSC names its first part `message-content` when the part had no Content-ID of its own (a handset's text
    // or SMIL often has none), so the href matches one leaf part of several.
    const subject = `flat parts MO ${randomBytes(3).toString('hex')}`;
    const res = await postFlatDeliver(subject, 'message-content');
    expect(res.status, res.body).toBe(200);
    expect(readSoapAnswer(res)).toMatchObject({ operation: 'DeliverRsp', statusCode: 1000 });
    const { parts } = readMo(await waitForMo(sink, subject));
    expect(parts.map((p) => [p.type, p.contentId])).toEqual([
      ['application/smil', 'message-content'],
      ['image/gif', 'pic'],
    ]);
    expect(parts[0]!.body.toString('utf8')).toBe(FLAT_SMIL);
    expect(parts[1]!.body.equals(FLAT_PIC)).toBe(true);
  });
});

describe('refusals are SOAP faults or HTTP auth errors, never the API error handler', () => {
  it('a delivery report that overtakes our SubmitRsp by seconds is taken (1000), kept, and forwarded once the MessageID is known', async () => {
    const before = peer.requests.length;
    const r = await send(gw.url, simpleMt(LATE));
    expect(r.status).toBe(200);
    const mtId = r.json.mtId as number;
    // The MMSC has the SubmitReq (its answer is on the way, slowly) and already reports the delivery.
    while (peer.requests.length === before) await sleep(20);
    const messageId = `mmsc-q-${recipientOf(peer.requests[before]!)}`;
    const res = await sendDeliveryReport(inboundUrl(gw), { messageId, mmStatus: 'Retrieved', transactionId: 'tx-early-9' }, INBOUND);
    expect(res.status, res.body).toBe(200);
    expect(readSoapAnswer(res)).toMatchObject({ operation: 'DeliveryReportRsp', statusCode: 1000 });
    expect(readSoapAnswer(res).env.transactionId).toBe('tx-early-9');
    // Once the SubmitRsp is committed, the parked report reaches the customer, once.
    const doc = await waitForMt(gw, mtId, (d) => d.state === 'delivered', 'delivered');
    expect(doc.operatorMessageId).toBe(messageId);
    for (let i = 0; i < 100 && reportsFor(mtId).length === 0; i++) await sleep(100);
    expect(reportsFor(mtId).map((x) => x.status)).toEqual(['Retrieved']);
  });

  it('wrong or missing inbound credentials: 401 with a Basic challenge, nothing taken', async () => {
    const { mtId, messageId } = await submitted('15553000002');
    const wrong = await sendDeliveryReport(inboundUrl(gw), { messageId, mmStatus: 'Retrieved' }, { username: INBOUND.username, password: 'not-the-password' });
    expect(wrong.status).toBe(401);
    expect(String(wrong.headers['www-authenticate'])).toMatch(/^Basic realm=/);
    const wrongUser = await sendDeliveryReport(inboundUrl(gw), { messageId, mmStatus: 'Retrieved' }, { username: 'someone-else', password: INBOUND.password });
    expect(wrongUser.status).toBe(401);
    const none = await sendDeliveryReport(inboundUrl(gw), { messageId, mmStatus: 'Retrieved' });
    expect(none.status).toBe(401);
    await sleep(300);
    expect(reportsFor(mtId)).toHaveLength(0);
    expect((await status(gw.url, mtId)).json.state).toBe('submitted');
  });

  it('a DOCTYPE (entity declaration) is refused with fault 2007 and never expanded', async () => {
    const { mtId, messageId } = await submitted('15553000003');
    const xml = deliveryReportXml({ messageId: 'PLACEHOLDER', mmStatus: 'Retrieved', transactionId: 'tx-doctype' })
      .replace('?>', `?><!DOCTYPE Envelope [<!ENTITY mid "${messageId}">]>`)
      .replace('PLACEHOLDER', '&mid;');
    const res = await postRaw(inboundUrl(gw), { headers: { 'content-type': 'text/xml; charset=utf-8' }, body: xml }, INBOUND);
    expectFault(res, 2007);
    await sleep(300);
    expect(reportsFor(mtId)).toHaveLength(0);
    expect((await status(gw.url, mtId)).json.state).toBe('submitted');
  });

  it('a body that is not XML, an unsupported operation, a missing MessageID: faults 2007, 4003, 4004', async () => {
    const notXml = await postRaw(inboundUrl(gw), { headers: { 'content-type': 'text/xml' }, body: 'this is not xml' }, INBOUND);
    expectFault(notXml, 2007);
    const cancel = deliveryReportXml({ messageId: 'x', mmStatus: 'Retrieved' }).replace(/DeliveryReportReq/g, 'CancelReq');
    expectFault(await postRaw(inboundUrl(gw), { headers: { 'content-type': 'text/xml' }, body: cancel }, INBOUND), 4003);
    const noId = deliveryReportXml({ messageId: 'x', mmStatus: 'Retrieved' }).replace('<MessageID>x</MessageID>', '');
    expectFault(await postRaw(inboundUrl(gw), { headers: { 'content-type': 'text/xml' }, body: noId }, INBOUND), 4004);
  });

  it('a body without a Content-Type header: fault 2007', async () => {
    expectFault(await postRaw(inboundUrl(gw), { headers: {}, body: 'garbage' }, INBOUND), 2007);
  });

  it('an empty or unparseable Content-Type header: fault 2007, not the API error handler', async () => {
    for (const contentType of ['', ';;']) {
      const res = await postRaw(inboundUrl(gw), { headers: { 'content-type': contentType }, body: 'garbage' }, INBOUND);
      expectFault(res, 2007);
    }
  });

  it('a body over api.maxBodyBytes: 413 with fault 2007, as the MM7 inbound handler documents', async () => {
    const big = deliveryReportXml({ messageId: 'x', mmStatus: 'Retrieved', statusText: 'y'.repeat(MAX_BODY + 1024) });
    const res = await postRaw(inboundUrl(gw), { headers: { 'content-type': 'text/xml; charset=utf-8' }, body: big }, INBOUND);
    expect(mediaType(String(res.headers['content-type'])).type, res.body.slice(0, 200)).toBe('text/xml');
    expectFault(res, 2007, 413);
  });
});

const FLAT_SMIL = '<smil><body><par><img src="cid:pic"/></par></body></smil>';
const FLAT_PIC = Buffer.concat([Buffer.from('GIF89a'), randomBytes(700), Buffer.from('\r\n--b0undary\r\n')]);

/**
 * POST a DeliverReq in the shape vectorcore-mmsc sends: REL-5-MM7-1-0 namespace on the operation only, unqualified
 * children, the originator in `SenderAddress` where deliverReqType says `Sender`, a MessageID and no LinkedID; a Go
 * multipart body (no `type` or `start`) whose SOAP part has no Content-ID and whose content parts (SMIL, GIF) follow
 * it directly, the href naming `message-content`. `smilId` is the SMIL part's Content-ID.
 */
function postFlatDeliver(subject: string, smilId: string): Promise<PostResult> {
  const soap =
    '<?xml version="1.0" encoding="UTF-8"?>\n<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ' +
    `xmlns:mm7="${NS_BASE}REL-5-MM7-1-0"><soapenv:Header><mm7:TransactionID soapenv:mustUnderstand="1">vc-deliver-1</mm7:TransactionID>` +
    '</soapenv:Header><soapenv:Body><mm7:DeliverReq><MM7Version>5.3.0</MM7Version><MessageID>vc-mid-77</MessageID>' +
    '<SenderAddress><Number>+15550006666</Number></SenderAddress><Recipients><To><Number>88600</Number></To></Recipients>' +
    `<Subject>${subject}</Subject><Content href="cid:message-content"></Content></mm7:DeliverReq></soapenv:Body></soapenv:Envelope>`;
  const b = 'f1e2d3c4b5a6';
  const body = Buffer.concat([
    Buffer.from(`--${b}\r\nContent-Type: text/xml; charset=utf-8\r\n\r\n${soap}\r\n`),
    Buffer.from(`--${b}\r\nContent-Id: <${smilId}>\r\nContent-Type: application/smil\r\n\r\n${FLAT_SMIL}\r\n`),
    Buffer.from(`--${b}\r\nContent-Id: <pic>\r\nContent-Type: image/gif\r\n\r\n`),
    FLAT_PIC,
    Buffer.from(`\r\n--${b}--\r\n`),
  ]);
  return postRaw(inboundUrl(gw), { headers: { 'content-type': `multipart/related; boundary=${b}` }, body }, INBOUND);
}
