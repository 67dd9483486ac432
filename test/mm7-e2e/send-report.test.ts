/**
 * The whole MT path over MM7, for both schema generations an operator may speak: POST /mms/v2/send -> SubmitReq at
 * the MMSC (3GPP TS 23.140 §8.1.1, framed per §9.3 / RFC 2387) -> SubmitRsp 1000 -> the MMSC's DeliveryReportReq
 * (§8.4) on POST /mm7/{id} -> DeliveryReportRsp -> the customer's REPORT with the send's X-Request-Id.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { child, childText, findDeep } from '../../src/operators/mm7/mm7-xml.ts';
import { deliveryReportXml, postRaw, startMm7Peer, type Mm7Peer } from '../support/mm7-peer.ts';
import { basic, buildMultipartRequest, send, startSink, type Sink, type TestGateway } from '../support/gateway.ts';
import {
  INBOUND,
  NS_BASE,
  OUTBOUND,
  inboundUrl,
  jsonOf,
  mediaType,
  readSoapAnswer,
  startMm7Gateway,
  strictParts,
  waitForPeer,
  waitForMt,
  waitForReport,
  waitForSubmitted,
} from './helpers.ts';

/** SubmitReq children in schema sequence order (REL-6-MM7-1-4 submitReqType; REL-5 is a prefix-compatible subset). */
const SUBMIT_REQ_ORDER = [
  'MM7Version', 'SenderIdentification', 'Recipients', 'ServiceCode', 'LinkedID', 'MessageClass', 'TimeStamp',
  'ReplyCharging', 'EarliestDeliveryTime', 'ExpiryDate', 'DeliveryReport', 'ReadReply', 'Priority', 'Subject',
  'ChargedParty', 'ChargedPartyID', 'ThirdPartyPayer', 'DistributionIndicator', 'DeliveryCondition', 'ApplicID',
  'ReplyApplicID', 'AuxApplicInfo', 'ContentClass', 'DRMContent', 'Content',
];

const SMIL =
  '<smil><head><layout><root-layout width="320" height="480"/>' +
  '<region id="Image" top="0" left="0" height="70%" width="100%"/><region id="Text" top="70%" left="0" height="30%" width="100%"/>' +
  '</layout></head><body><par dur="5000ms"><img src="cid:image.jpg" region="Image"/><text src="cid:text.txt" region="Text"/></par></body></smil>';
const TEXT = 'Héllo from the MM7 end-to-end test ✓ — ünïcödé';
/** JPEG-like bytes: SOI/APP0 markers, random payload with CR, LF and "--" runs that a sloppy framer would break, EOI. */
const JPEG = Buffer.concat([
  Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]),
  randomBytes(3000),
  Buffer.from('\r\n--\r\n\r\n--=_not-a-boundary\r\n', 'latin1'),
  randomBytes(2000),
  Buffer.from([0x00, 0x0d, 0x0a, 0xff, 0xd9]),
]);

const variants = [
  { label: 'REL-6 (6.8.0)', namespace: 'REL-6-MM7-1-4', version: '6.8.0', vasId: 'e2e-service', destination: '15551230001' },
  { label: 'REL-5 (5.3.0)', namespace: 'REL-5-MM7-1-2', version: '5.3.0', vasId: undefined, destination: '15551230002' },
];

describe.each(variants)('MT over MM7, $label', (v) => {
  let peer: Mm7Peer;
  let sink: Sink;
  let gw: TestGateway;

  beforeAll(async () => {
    peer = await startMm7Peer();
    sink = await startSink();
    gw = await startMm7Gateway(peer, { namespace: v.namespace, version: v.version, vasId: v.vasId, reportUrl: `${sink.url}/reports` });
  });
  afterAll(async () => {
    await gw?.stop();
    await sink?.close();
    await peer?.close();
  });

  it('submits a well-formed SubmitReq, takes the delivery report and reports Retrieved to the customer', async () => {
    const messageId = `mmsc-${v.namespace}-${randomBytes(4).toString('hex')}`;
    peer.script([{ mm7Status: 1000, messageId }]);
    const requestId = `e2e-${v.version.replace(/\./g, '')}-${randomBytes(3).toString('hex')}`;
    const req = buildMultipartRequest(
      { type: 'MT', source: '88600', destination: v.destination, subject: 'MM7 e2e', mtConfig: 'config1' },
      [
        { headers: { 'Content-Type': 'application/smil', 'Content-Id': 'presentation', 'Content-Transfer-Encoding': 'binary' }, body: SMIL },
        {
          headers: { 'Content-Type': 'image/jpeg', 'Content-Id': '<image.jpg>', 'Content-Transfer-Encoding': 'base64' },
          body: JPEG.toString('base64').replace(/.{76}/g, '$&\r\n'),
        },
        { headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Id': 'text.txt' }, body: TEXT },
      ],
    );
    const sent = await send(gw.url, req, undefined, { 'x-request-id': requestId });
    expect(sent.status, sent.body.toString()).toBe(200);
    expect(sent.headers['x-request-id']).toBe(requestId);
    const mtId = sent.json.mtId as number;
    expect(Number.isSafeInteger(mtId)).toBe(true);

    // --- what the MMSC received
    const [rec] = await waitForPeer(peer, 1);
    expect(peer.requests).toHaveLength(1);
    expect(rec!.headers.authorization).toBe(basic(OUTBOUND.username, OUTBOUND.password));
    expect(rec!.headers.soapaction).toBe('""');
    const outer = mediaType(rec!.headers['content-type']);
    expect(outer.type).toBe('multipart/related');
    expect(outer.params.type).toBe('text/xml');
    const outerParts = strictParts(rec!.headers['content-type'], rec!.body);
    expect(outerParts).toHaveLength(2);
    const [soapPart, contentPart] = outerParts as [(typeof outerParts)[0], (typeof outerParts)[0]];
    // §9.3: the SOAP part comes first and is the one `start` names.
    expect(outer.params.start).toBe(`<${soapPart.contentId}>`);
    expect(mediaType(soapPart.contentType).type).toBe('text/xml');

    const env = rec!.envelope!;
    expect(env).not.toBeNull();
    expect(env.namespace).toBe(NS_BASE + v.namespace);
    expect(env.transactionId).toMatch(/\S/);
    expect(soapPart.body.toString('utf8')).toMatch(/<\w+:TransactionID [^>]*mustUnderstand="1"/);
    const op = env.operation;
    expect(op.local).toBe('SubmitReq');
    expect(op.ns).toBe(NS_BASE + v.namespace);
    expect(childText(op, 'MM7Version')).toBe(v.version);
    const order = op.children.map((c) => SUBMIT_REQ_ORDER.indexOf(c.local));
    expect(order.every((i) => i >= 0), `unknown SubmitReq child in ${op.children.map((c) => c.local)}`).toBe(true);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    const senderId = child(op, 'SenderIdentification');
    expect(childText(senderId, 'VASPID')).toBe('vasp-e2e');
    expect(childText(senderId, 'VASID')).toBe(v.vasId ?? 'config1');
    expect(childText(child(senderId, 'SenderAddress'), 'ShortCode')).toBe('88600');
    expect(childText(findDeep(op, 'To')!, 'Number')).toBe(v.destination);
    expect(childText(op, 'Subject')).toBe('MM7 e2e');
    expect(childText(op, 'DeliveryReport')).toBe('true');
    const href = child(op, 'Content')?.attrs.href;
    expect(href).toBe(`cid:${contentPart.contentId}`);

    // The content: multipart/related with the SMIL part as start (RFC 2387), every part byte-exact.
    const inner = mediaType(contentPart.contentType);
    expect(inner.type).toBe('multipart/related');
    expect(inner.params.type).toBe('application/smil');
    expect(inner.params.start).toBe('<presentation>');
    const leaves = strictParts(contentPart.contentType, contentPart.body);
    expect(leaves.map((p) => [mediaType(p.contentType).type, p.contentId])).toEqual([
      ['application/smil', 'presentation'],
      ['image/jpeg', 'image.jpg'],
      ['text/plain', 'text.txt'],
    ]);
    expect(leaves[0]!.body.toString('utf8')).toBe(SMIL);
    expect(leaves[1]!.body.equals(JPEG)).toBe(true);
    expect(leaves[2]!.body.toString('utf8')).toBe(TEXT);
    expect(mediaType(leaves[2]!.contentType).params.charset?.toLowerCase()).toBe('utf-8');

    // --- the SubmitRsp's MessageID is kept
    const submitted = await waitForSubmitted(gw, mtId);
    expect(submitted.operatorMessageId).toBe(messageId);
    expect(submitted.mobileOperatorId).toBe(310);

    // --- the MMSC reports Retrieved
    const drTx = `dr-${randomBytes(4).toString('hex')}`;
    const drXml = deliveryReportXml({ messageId, mmStatus: 'Retrieved', transactionId: drTx, namespace: v.namespace, uaProf: 'PeerPhone/2.1' }).replace(
      '<MM7Version>6.8.0</MM7Version>',
      `<MM7Version>${v.version}</MM7Version>`,
    );
    const drRes = await postRaw(inboundUrl(gw), { headers: { 'content-type': 'text/xml; charset=utf-8' }, body: drXml }, INBOUND);
    expect(drRes.status, drRes.body).toBe(200);
    const answer = readSoapAnswer(drRes);
    expect(answer.operation).toBe('DeliveryReportRsp');
    expect(answer.statusCode).toBe(1000);
    expect(answer.env.transactionId).toBe(drTx);
    expect(answer.env.namespace).toBe(NS_BASE + v.namespace);
    expect(answer.version).toBe(v.version);

    // --- the customer's REPORT
    const report = await waitForReport(sink, mtId);
    expect(report.method).toBe('POST');
    expect(String(report.headers['content-type'])).toMatch(/^application\/json/);
    expect(report.headers['x-request-id']).toBe(requestId);
    expect(jsonOf(report)).toMatchObject({
      type: 'REPORT',
      mtId,
      status: 'Retrieved',
      outcomeId: 1,
      outcomeDescription: 'Success.',
      userAgent: 'PeerPhone/2.1',
    });
    const doc = await waitForMt(gw, mtId, (d) => d.state === 'delivered', 'delivered');
    expect(doc).toMatchObject({ status: 'Retrieved', outcomeId: 1, userAgent: 'PeerPhone/2.1' });
    expect(doc.events.map((e: any) => e.type)).toEqual(expect.arrayContaining(['accepted', 'submitted', 'report-received']));
  });
});
