import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OUTCOMES } from '../../src/core/outcomes.ts';
import type { InboundMo, InboundReadReply, InboundReport, InboundSink } from '../../src/operators/connector.ts';
import { handleMm7Request, sniffEnvelopeIds, type Mm7InboundContext } from '../../src/operators/mm7/mm7-inbound.ts';
import { parseEnvelope } from '../../src/operators/mm7/mm7-envelope.ts';
import { child, childText } from '../../src/operators/mm7/mm7-xml.ts';
import { deliveryReportXml, postRaw, sendDeliver, sendDeliveryReport, type PeerAuth, type PostResult } from '../support/mm7-peer.ts';

/** Records what the handler hands to the pipeline; MessageIDs starting with "unknown" are not known. */
class RecordingSink implements InboundSink {
  reports: InboundReport[] = [];
  readReplies: InboundReadReply[] = [];
  mos: InboundMo[] = [];
  failNext = false;
  async deliveryReport(ev: InboundReport): Promise<'ok' | 'unknown'> {
    if (this.failNext) throw new Error('database is down at /srv/secret/path');
    this.reports.push(ev);
    return ev.operatorMessageId.startsWith('unknown') ? 'unknown' : 'ok';
  }
  async readReply(ev: InboundReadReply): Promise<'ok' | 'unknown'> {
    this.readReplies.push(ev);
    return ev.operatorMessageId.startsWith('unknown') ? 'unknown' : 'ok';
  }
  async mo(ev: InboundMo): Promise<{ moId: number }> {
    this.mos.push(ev);
    return { moId: this.mos.length };
  }
}

const AUTH: PeerAuth = { username: 'mmsc', password: 'pw-123' };
let sink: RecordingSink;
let ctx: Mm7InboundContext;
let server: Server;
let url: string;

beforeAll(async () => {
  // A thin HTTP adapter, as the fastify route will be: raw body in, handler's answer out.
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handleMm7Request({ headers: req.headers, body: Buffer.concat(chunks), remoteAddress: req.socket.remoteAddress ?? '' }, ctx).then((r) => {
        res.writeHead(r.status, r.headers);
        res.end(r.body);
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mm7/9`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});
beforeEach(() => {
  sink = new RecordingSink();
  ctx = {
    operatorId: 9,
    sink,
    allowIps: ['127.0.0.0/8', '::1'],
    auth: { checkCredentials: (u, p) => u === AUTH.username && p === AUTH.password },
  };
});

/** The response envelope, read back. */
function answer(r: PostResult) {
  const env = parseEnvelope(r.body);
  const status = child(env.fault ? child(child(env.operation, 'detail'), 'VASPErrorRsp') : env.operation, 'Status');
  return { env, op: env.operation.local, code: Number(childText(status, 'StatusCode')), version: childText(env.fault ? child(child(env.operation, 'detail'), 'VASPErrorRsp') : env.operation, 'MM7Version') };
}
const post = (body: string | Buffer, contentType: string, auth: PeerAuth | undefined = AUTH) => postRaw(url, { headers: { 'content-type': contentType }, body }, auth);
const crlf = (s: string) => s.replace(/\r?\n/g, '\r\n');
const REL5_NS = 'http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-2';

/** A DeliverReq (TransactionID tx-bad-mime-7, REL-5) whose content, `cid:c1`, is the part written after the SOAP part. */
function deliverWithAttachment(attachment: string): string {
  const soap =
    `<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header>` +
    `<mm7:TransactionID xmlns:mm7="${REL5_NS}" env:mustUnderstand="1">tx-bad-mime-7</mm7:TransactionID></env:Header>` +
    `<env:Body><mm7:DeliverReq xmlns:mm7="${REL5_NS}"><mm7:MM7Version>5.3.0</mm7:MM7Version>` +
    `<mm7:Sender><mm7:Number>15551230001</mm7:Number></mm7:Sender><mm7:Content href="cid:c1"/></mm7:DeliverReq></env:Body></env:Envelope>`;
  return crlf(`--b1\nContent-Type: text/xml\nContent-ID: <soap>\n\n${soap}\n--b1\n${attachment}`);
}

describe('DeliveryReportReq', () => {
  it('Sinch style: multipart/related without boundary over bare XML, default namespace, UAProf -> report, 1000, same TransactionID', async () => {
    const r = await sendDeliveryReport(url, { messageId: '369500617770864640', mmStatus: 'Retrieved', statusText: 'Success', uaProf: 'Samsung Galaxy', transactionId: '10000001', multipartWithoutBoundary: true }, AUTH);
    expect(r.status).toBe(200);
    const a = answer(r);
    expect(a.op).toBe('DeliveryReportRsp');
    expect(a.code).toBe(1000);
    expect(a.env.transactionId).toBe('10000001');
    expect(a.env.namespace).toMatch(/REL-6-MM7-1-4$/);
    expect(sink.reports).toEqual([
      expect.objectContaining({ operatorId: 9, operatorMessageId: '369500617770864640', outcome: OUTCOMES.RETRIEVED, statusText: 'Success', userAgent: 'Samsung Galaxy' }),
    ]);
  });

  it('padded TransactionID is echoed trimmed; swapped Sender/Recipient still correlates by MessageID', async () => {
    const r = await sendDeliveryReport(url, { messageId: 'M-1', mmStatus: 'Expired', transactionId: 'tx-pad', padTransactionId: true, swapped: true }, AUTH);
    expect(answer(r).env.transactionId).toBe('tx-pad');
    expect(sink.reports[0]).toMatchObject({ operatorMessageId: 'M-1', outcome: OUTCOMES.EXPIRED });
  });

  it('a report declared ISO-8859-1 keeps its Latin-1 status text', async () => {
    const xml = deliveryReportXml({ messageId: 'M-latin', mmStatus: 'Rejected', statusText: 'Numéro refusé' }).replace('encoding="UTF-8"', 'encoding="ISO-8859-1"');
    const r = await post(Buffer.from(xml, 'latin1'), 'text/xml');
    expect(r.status).toBe(200);
    expect(sink.reports[0]).toMatchObject({ operatorMessageId: 'M-latin', statusText: 'Numéro refusé' });
  });

  it('no namespace in the request -> answered in the operator default namespace', async () => {
    ctx.defaultNamespace = 'REL-5-MM7-1-3';
    const r = await sendDeliveryReport(url, { messageId: 'M-2', mmStatus: 'Unrecognized', namespace: null }, AUTH);
    const a = answer(r);
    expect(a.env.namespace).toMatch(/REL-5-MM7-1-3$/);
    expect(sink.reports[0]!.outcome).toBe(OUTCOMES.UNRECOGNISED);
  });

  it('vectorcore style: mm7-prefixed operation with unqualified children, REL-5 namespace, elements out of order', async () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:mm7="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-0">
  <soapenv:Header><mm7:TransactionID soapenv:mustUnderstand="1">txn-report</mm7:TransactionID></soapenv:Header>
  <soapenv:Body>
    <mm7:DeliveryReportReq>
      <MMStatus>Rejected</MMStatus>
      <MM7Version>5.3.0</MM7Version>
      <Date>2024-01-01T10:00:00Z</Date>
      <Sender><Number>15550001111</Number></Sender>
      <MessageID>mid-report</MessageID>
      <Recipient><RFC822Address>user@example.net</RFC822Address></Recipient>
      <UACapabilities><UAProf>http://ua.example/profile.xml</UAProf></UACapabilities>
    </mm7:DeliveryReportReq>
  </soapenv:Body>
</soapenv:Envelope>`;
    const r = await post(xml, 'text/xml; charset=utf-8');
    const a = answer(r);
    expect(a.env.namespace).toMatch(/REL-5-MM7-1-0$/);
    expect(a.version).toBe('5.3.0');
    expect(a.env.transactionId).toBe('txn-report');
    expect(sink.reports[0]).toMatchObject({ operatorMessageId: 'mid-report', outcome: OUTCOMES.REJECTED_BY_HANDSET, userAgent: 'http://ua.example/profile.xml', at: Date.parse('2024-01-01T10:00:00Z') });
  });

  it('unknown MessageID -> SOAP fault with VASPErrorRsp 2005, HTTP 500, TransactionID echoed', async () => {
    const r = await sendDeliveryReport(url, { messageId: 'unknown-77', mmStatus: 'Retrieved', transactionId: 'tx-u' }, AUTH);
    expect(r.status).toBe(500);
    const a = answer(r);
    expect(a.op).toBe('Fault');
    expect(a.code).toBe(2005);
    expect(a.env.transactionId).toBe('tx-u');
    expect(a.env.fault!.faultcode).toBe('Client');
  });

  it('missing MessageID -> 4004 validation fault, sink not called', async () => {
    const xml = `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header/><e:Body><DeliveryReportReq><MM7Version>6.8.0</MM7Version><MMStatus>Retrieved</MMStatus></DeliveryReportReq></e:Body></e:Envelope>`;
    const r = await post(xml, 'text/xml');
    expect(r.status).toBe(500);
    const a = answer(r);
    expect(a.code).toBe(4004);
    // empty Header in the request: we still answer with a TransactionID of our own
    expect(a.env.transactionId).toMatch(/\S/);
    expect(sink.reports).toHaveLength(0);
  });

  it('a failing pipeline -> 3000 fault without leaking internals', async () => {
    sink.failNext = true;
    const r = await sendDeliveryReport(url, { messageId: 'M-9', mmStatus: 'Retrieved' }, AUTH);
    expect(r.status).toBe(500);
    expect(answer(r).code).toBe(3000);
    expect(r.body).not.toMatch(/secret|database|at \w+ \(/);
  });
});

describe('DeliverReq (MO)', () => {
  const smil = '<smil><body><par dur="5000ms"><img src="cid:img1"/><text src="cid:txt1"/></par></body></smil>';
  const gif = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

  it('multipart/related SMIL + image + text -> every part decoded, addresses normalised, DeliverRsp 1000', async () => {
    const r = await sendDeliver(
      url,
      {
        sender: '15551234567',
        to: ['121399', '447700900750'],
        subject: 'Pic',
        transactionId: 'mo-tx-1',
        linkedId: 'mo-linked-1',
        parts: [
          { contentType: 'application/smil', contentId: 'smil', body: smil },
          { contentType: 'image/gif', contentId: 'img1', body: gif, encoding: 'base64', location: 'a.gif' },
          { contentType: 'text/plain; charset=utf-8', contentId: 'txt1', body: 'Hi there ✓' },
        ],
      },
      AUTH,
    );
    expect(r.status).toBe(200);
    const a = answer(r);
    expect([a.op, a.code, a.env.transactionId]).toEqual(['DeliverRsp', 1000, 'mo-tx-1']);
    const mo = sink.mos[0]!;
    expect(mo).toMatchObject({ operatorId: 9, source: '15551234567', destinations: ['121399', '447700900750'], subject: 'Pic', operatorMessageId: 'mo-linked-1' });
    expect(mo.parts.map((p) => p.contentId)).toEqual(['smil', 'img1', 'txt1']);
    expect(mo.parts[0]!.bytes.toString()).toBe(smil);
    expect(mo.parts[1]!.bytes.equals(gif)).toBe(true);
    expect(mo.parts[2]!.bytes.toString('utf8')).toBe('Hi there ✓');
  });

  it('parts that cannot be decoded do not cost the MO: kept as they arrived, labelled application/octet-stream, logged', async () => {
    const warnings: { obj: Record<string, unknown>; msg?: string }[] = [];
    ctx.logger = { debug() {}, info() {}, error() {}, warn: (obj, msg) => warnings.push({ obj: obj as Record<string, unknown>, msg }) };
    const uuencoded = 'begin 644 photo.jpg\r\nM_]C_X  02D9)1@ !\r\n`\r\nend';
    const r = await sendDeliver(
      url,
      {
        sender: '15551234567',
        to: ['121399'],
        transactionId: 'mo-tx-undecodable',
        parts: [
          { contentType: 'application/smil', contentId: 'smil', body: smil },
          { contentType: 'image/gif', contentId: 'img1', body: gif, encoding: 'base64' },
          { contentType: 'image/jpeg; name="photo.jpg"', contentId: 'photo', body: uuencoded, encoding: 'x-uuencode' },
          { contentType: 'text/plain; charset=utf-8', contentId: 'txt1', body: 'SGkgdGhlcmU*&^%', encoding: 'base64', verbatim: true },
        ],
      },
      AUTH,
    );
    const a = answer(r);
    expect([r.status, a.op, a.code, a.env.transactionId]).toEqual([200, 'DeliverRsp', 1000, 'mo-tx-undecodable']);
    const parts = sink.mos[0]!.parts;
    expect(parts.map((p) => [p.contentId, p.contentType])).toEqual([
      ['smil', 'application/smil'],
      ['img1', 'image/gif'],
      ['photo', 'application/octet-stream; original-type="image/jpeg"; original-encoding=x-uuencode'],
      ['txt1', 'application/octet-stream; original-type="text/plain"; original-encoding=base64'],
    ]);
    expect(parts[1]!.bytes.equals(gif)).toBe(true);
    expect(parts[2]!.bytes.toString('latin1')).toBe(uuencoded);
    expect(parts[3]!.bytes.toString('latin1')).toBe('SGkgdGhlcmU*&^%');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.obj).toMatchObject({
      transactionId: 'mo-tx-undecodable',
      moId: 1,
      undecodedParts: [
        { contentId: 'photo', reason: 'unsupported Content-Transfer-Encoding x-uuencode' },
        { contentId: 'txt1', reason: 'invalid base64 content' },
      ],
    });
  });

  it('an attachment beside the SOAP part in an unknown transfer encoding is kept too, not refused', async () => {
    const r = await post(
      deliverWithAttachment('Content-Type: text/plain\nContent-ID: <c1>\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n\nend\n--b1--\n'),
      'multipart/related; boundary=b1; type="text/xml"; start="<soap>"',
    );
    const a = answer(r);
    expect([r.status, a.code, a.env.transactionId, a.env.namespace]).toEqual([200, 1000, 'tx-bad-mime-7', REL5_NS]);
    expect(sink.mos[0]!.parts.map((p) => [p.contentId, p.contentType, p.bytes.toString()])).toEqual([
      ['c1', 'application/octet-stream; original-type="text/plain"; original-encoding=x-uuencode', 'begin 644 x\r\n\r\nend'],
    ]);
  });

  it('quirks: bare Content-IDs, no start, href mismatch, Type=/Start= capitalised, BASE64, UTF-16 SOAP part', async () => {
    const r = await sendDeliver(
      url,
      {
        sender: '3859100010010',
        to: ['88888'],
        transactionId: 'mo-tx-2',
        bareContentIds: true,
        noStart: true,
        hrefMismatch: true,
        upperCaseParams: true,
        utf16: true,
        parts: [
          { contentType: 'application/smil; Name=main.smil', contentId: 'AAAA', body: smil, encoding: 'BASE64' },
          { contentType: 'image/gif; Name=Bomb.gif', body: gif, encoding: 'BASE64', location: 'Bomb.gif' },
        ],
      },
      AUTH,
    );
    expect(r.status).toBe(200);
    expect(answer(r).env.transactionId).toBe('mo-tx-2');
    const mo = sink.mos[0]!;
    expect(mo.source).toBe('3859100010010');
    expect(mo.destinations).toEqual(['88888']);
    expect(mo.parts.map((p) => p.contentId)).toEqual(['AAAA', 'Bomb.gif']);
    expect(mo.parts[0]!.bytes.toString()).toBe(smil);
    expect(mo.parts[1]!.bytes.equals(gif)).toBe(true);
  });

  it('Sinch/Skycore doc style: start without brackets, doubled-colon prefixes, binary parts with bare Content-IDs', async () => {
    const body = crlf(`------=_Part_139078_1411587550.1397492135426
Content-Type: text/xml
Content-ID: <soap-start>

<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<soap-env:Envelope xmlns:ns1="http://schemas.xmlsoap.org/soap/envelope/" xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4">
<soap-env::Header>
   <TransactionID soap-env:mustUnderstand="1">1000001</TransactionID>
</soap-env::Header>
<soap-env::Body>
   <DeliverReq>
      <MM7Version>6.8.0</MM7Version>
      <LinkedID>1000001</LinkedID>
      <Sender><Number>1617423433</Number></Sender>
      <Recipients><To><Number displayOnly="false">111122</Number></To></Recipients>
      <TimeStamp>2014-04-14T16:15:23.414Z</TimeStamp>
      <Content href="cid:default.cid" allowAdaptations="true"/>
   </DeliverReq>
</soap-env:Body>
</soap-env:Envelope>

------=_Part_139078_1411587550.1397492135426
Content-Type: multipart/mixed;
        boundary="----=_Part_139079_1300104441.1397492135426"
Content-ID: <default.cid>

------=_Part_139079_1300104441.1397492135426
Content-Type: image/jpeg
Content-Transfer-Encoding: binary
Content-ID: image_0.jpg

JPEGBYTES
------=_Part_139079_1300104441.1397492135426
Content-Type: text/plain
Content-Transfer-Encoding: binary
Content-ID: text_0.txt

Test MO message!
------=_Part_139079_1300104441.1397492135426--

------=_Part_139078_1411587550.1397492135426--
`);
    const r = await post(body, 'multipart/related; start="soap-start"; type="text/xml";        boundary="----=_Part_139078_1411587550.1397492135426"');
    expect(r.status).toBe(200);
    const a = answer(r);
    expect([a.op, a.env.transactionId]).toEqual(['DeliverRsp', '1000001']);
    expect(a.env.namespace).toMatch(/REL-6-MM7-1-4$/);
    const mo = sink.mos[0]!;
    expect(mo).toMatchObject({ source: '1617423433', destinations: ['111122'], operatorMessageId: '1000001' });
    expect(mo.parts.map((p) => [p.contentId, p.contentType, p.bytes.toString()])).toEqual([
      ['image_0.jpg', 'image/jpeg', 'JPEGBYTES'],
      ['text_0.txt', 'text/plain', 'Test MO message!'],
    ]);
  });

  it('instantcom style: padded TransactionID, RFC2822Address sender, href not matching, space after delimiters, no recipients', async () => {
    const body = `--NextPart_000_0125_01C19839.7237929064 
Content-Type:text/xml; charset="utf-8"
Content-ID: </cmvt256/mm7-deliver>

<?xml version="1.0"?>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"> 
      <env:Header>
\t\t<mm7:TransactionID xmlns:mm7="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4" env:mustUnderstand="1">
\t\t\tvas00324-dlvr
\t\t</mm7:TransactionID>
\t</env:Header>
\t<env:Body>
\t\t<!-- an MM7_deliver.REQ -->
\t\t<DeliverReq xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4">
\t\t\t<MM7Version>6.7.0</MM7Version>
\t\t\t\t<VASPID>TNN</VASPID>
\t\t\t<MMSRelayServerID>240.110.75.34</MMSRelayServerID>
\t\t\t<LinkedID>wthr8391</LinkedID>
\t\t\t<Sender><RFC2822Address>97254265781@OMMS.com</RFC2822Address></Sender>
\t\t\t<Subject>Weather Forecast</Subject>
\t\t\t<Content href="cid:forecast-location200102-86453"/>
\t\t</DeliverReq>
\t</env:Body>
</env:Envelope>

--NextPart_000_0125_01C19839.7237929064 
Content-Type:text/plain;charset="utf-8"
Content-ID:<forecast-location2000102-86453>

Los Angeles, Calif, USA 
--NextPart_000_0125_01C19839.7237929064--
`;
    const r = await post(body, 'multipart/related; boundary="NextPart_000_0125_01C19839.7237929064"; type="text/xml"; start="</cmvt256/mm7-deliver>"');
    expect(r.status).toBe(200);
    const a = answer(r);
    expect([a.op, a.env.transactionId, a.version]).toEqual(['DeliverRsp', 'vas00324-dlvr', '6.7.0']);
    const mo = sink.mos[0]!;
    expect(mo).toMatchObject({ source: '97254265781@OMMS.com', destinations: [], subject: 'Weather Forecast' });
    expect(mo.parts).toHaveLength(1);
    expect(mo.parts[0]!.bytes.toString()).toBe('Los Angeles, Calif, USA ');
  });

  it('deliver-req5 style: SOAP part without Content-ID, prefixed href with a space, bare content Content-ID, folded header', async () => {
    const b = '----=_Part_15_16023213.1346680532641';
    const ib = '----=_Part_25_182972131.1346680532641';
    const body = crlf(`--${b}
Content-Type: text/xml; charset=utf-8

<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Header><mm7:TransactionID xmlns:mm7="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4" SOAP-ENV:mustUnderstand="1">11398c6a2e9f00000010</mm7:TransactionID></SOAP-ENV:Header><SOAP-ENV:Body><mm7:DeliverReq xmlns:mm7="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"><mm7:MM7Version>6.8.0</mm7:MM7Version><mm7:Sender><mm7:Number>+381600001200</mm7:Number></mm7:Sender><mm7:Recipients><mm7:To><mm7:ShortCode>121399</mm7:ShortCode></mm7:To></mm7:Recipients><mm7:Subject>(no subject)</mm7:Subject><mm7:Content mm7:href="cid: content_15"/></mm7:DeliverReq></SOAP-ENV:Body></SOAP-ENV:Envelope>
--${b}
Content-Type: multipart/related; type="application/smil"; start="<smil>"; 
\tboundary="${ib}"
Content-ID: content_15

--${ib}
Content-Type: application/smil; name="smil.xml"
Content-ID: <smil>
Content-Location: smil.xml

<smil><body><par><text src="text_0.txt"/></par></body></smil>
--${ib}
Content-Type: text/plain; charset=utf-8
Content-Location: text_0.txt

Zdravo
--${ib}--
--${b}--
`);
    const r = await post(body, `multipart/related; type="text/xml"; boundary="${b}"`);
    expect(r.status).toBe(200);
    expect(answer(r).env.transactionId).toBe('11398c6a2e9f00000010');
    const mo = sink.mos[0]!;
    expect(mo).toMatchObject({ source: '381600001200', destinations: ['121399'] });
    expect(mo.parts.map((p) => p.contentId)).toEqual(['smil', 'text_0.txt']);
    expect(mo.parts[1]!.bytes.toString()).toBe('Zdravo');
  });
});

describe('ReadReplyReq and other operations', () => {
  it('ReadReplyReq -> sink.readReply -> ReadReplyRsp 1000', async () => {
    const xml = `<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"><env:Header><m:TransactionID env:mustUnderstand="1">rr-1</m:TransactionID></env:Header><env:Body><m:ReadReplyReq><m:MM7Version>6.8.0</m:MM7Version><m:MessageID>M-5</m:MessageID><m:Recipient><m:Number>12345</m:Number></m:Recipient><m:Sender><m:Number>15551234567</m:Number></m:Sender><m:TimeStamp>2024-02-02T02:02:02Z</m:TimeStamp><m:MMStatus>Read</m:MMStatus></m:ReadReplyReq></env:Body></env:Envelope>`;
    const r = await post(xml, 'text/xml');
    const a = answer(r);
    expect([r.status, a.op, a.code, a.env.transactionId]).toEqual([200, 'ReadReplyRsp', 1000, 'rr-1']);
    expect(sink.readReplies).toEqual([{ operatorId: 9, operatorMessageId: 'M-5', mmStatus: 'Read', at: Date.parse('2024-02-02T02:02:02Z') }]);
  });

  it('an unsupported operation -> 4003 fault', async () => {
    const xml = `<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header><TransactionID>c-1</TransactionID></env:Header><env:Body><CancelReq><MM7Version>6.8.0</MM7Version><MessageID>x</MessageID></CancelReq></env:Body></env:Envelope>`;
    const r = await post(xml, 'text/xml');
    expect([r.status, answer(r).code, answer(r).env.transactionId]).toEqual([500, 4003, 'c-1']);
  });
});

describe('safety', () => {
  it('rejects a DOCTYPE / entity payload without expanding it', async () => {
    const xml = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header><TransactionID>x-1</TransactionID></env:Header><env:Body><DeliveryReportReq><MessageID>&lol2;</MessageID><MMStatus>Retrieved</MMStatus></DeliveryReportReq></env:Body></env:Envelope>`;
    const r = await post(xml, 'text/xml');
    expect(r.status).toBe(500);
    expect(answer(r).code).toBe(2007);
    expect(r.body).not.toContain('lollol');
    expect(answer(r).env.transactionId).toBe('x-1'); // the MMSC correlates the fault by it (§9.2.3)
    expect(sink.reports).toHaveLength(0);
  });

  it('rejects a body over maxBodyBytes with 413', async () => {
    ctx.maxBodyBytes = 1024;
    const r = await sendDeliveryReport(url, { messageId: 'M'.repeat(2000), mmStatus: 'Retrieved' }, AUTH);
    expect(r.status).toBe(413);
    expect(answer(r).code).toBe(2007);
    expect(sink.reports).toHaveLength(0);
  });

  it('takes a DeliverReq with 1000 recipients, the most the envelope limits are sized for', async () => {
    const to = Array.from({ length: 1000 }, (_, i) => `1555${String(i).padStart(7, '0')}`);
    const r = await sendDeliver(url, { sender: '15551234567', to, transactionId: 'tx-many', parts: [{ contentType: 'text/plain', contentId: 't', body: 'hi' }] }, AUTH);
    expect([r.status, answer(r).code]).toEqual([200, 1000]);
    expect(sink.mos[0]!.destinations).toEqual(to);
  });

  it('refuses an envelope over the element limit with 413 and 2007, in its own TransactionID and namespace', async () => {
    const to = Array.from({ length: 6000 }, (_, i) => `1555${String(i).padStart(7, '0')}`);
    const r = await sendDeliver(url, { sender: '15551234567', to, transactionId: 'tx-too-many', namespace: 'REL-5-MM7-1-3', parts: [{ contentType: 'text/plain', contentId: 't', body: 'hi' }] }, AUTH);
    const a = answer(r);
    expect([r.status, a.code]).toEqual([413, 2007]);
    expect(a.env.transactionId).toBe('tx-too-many');
    expect(a.env.namespace).toBe('http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-3');
    expect(sink.mos).toHaveLength(0);
  });

  it('refuses a SOAP report over the size limit with 413 and 2007, TransactionID echoed', async () => {
    const xml = deliveryReportXml({ messageId: 'M1', mmStatus: 'Retrieved', statusText: 'x'.repeat(300 * 1024), transactionId: 'tx-big-text' });
    const r = await post(xml, 'text/xml');
    const a = answer(r);
    expect([r.status, a.code, a.env.transactionId]).toEqual([413, 2007, 'tx-big-text']);
    expect(sink.reports).toHaveLength(0);
  });

  it('finds the TransactionID of an unreadable request without backtracking through it', async () => {
    // 64 KiB of unclosed TransactionID tags: each attempt of the earlier pattern ran to the end of the text (0.3 s).
    const body = '<TransactionID '.repeat(4400);
    const started = performance.now();
    const ids = sniffEnvelopeIds(Buffer.from(body));
    expect(performance.now() - started).toBeLessThan(100);
    expect(ids.transactionId).toBeNull();
  });

  it('answers a DeliverReq whose multipart framing is broken with 2007 in its own TransactionID and namespace', async () => {
    const r = await post(deliverWithAttachment('Content-Type: text/plain\nContent-ID: <c1>\n\ncut off here'), 'multipart/related; boundary=b1; type="text/xml"; start="<soap>"');
    const a = answer(r);
    expect([r.status, a.code]).toEqual([500, 2007]);
    expect(a.env.transactionId).toBe('tx-bad-mime-7');
    expect(a.env.namespace).toBe(REL5_NS);
    expect(sink.mos).toHaveLength(0);
  });

  it('answers a DeliverReq whose SOAP part cannot be decoded with 2007, its TransactionID still echoed', async () => {
    const body = deliverWithAttachment('Content-Type: text/plain\nContent-ID: <c1>\n\nhello\n--b1--\n').replace(
      'Content-ID: <soap>\r\n',
      'Content-ID: <soap>\r\nContent-Transfer-Encoding: x-soap-zip\r\n',
    );
    const r = await post(body, 'multipart/related; boundary=b1; type="text/xml"; start="<soap>"');
    const a = answer(r);
    expect([r.status, a.code, a.env.transactionId]).toEqual([500, 2007, 'tx-bad-mime-7']);
    expect(sink.mos).toHaveLength(0);
  });

  it('answers non-XML with a 2007 fault', async () => {
    const r = await post('this is not xml', 'text/xml');
    expect([r.status, answer(r).code]).toEqual([500, 2007]);
  });

  it('401 with WWW-Authenticate for missing or wrong credentials', async () => {
    const none = await sendDeliveryReport(url, { messageId: 'M', mmStatus: 'Retrieved' });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic realm=/);
    const wrong = await sendDeliveryReport(url, { messageId: 'M', mmStatus: 'Retrieved' }, { username: 'mmsc', password: 'nope' });
    expect(wrong.status).toBe(401);
    expect(sink.reports).toHaveLength(0);
  });

  it("503 with Retry-After when the node's password checks are full: nothing handled, the MMSC retries", async () => {
    ctx.auth = { checkCredentials: () => 'busy' };
    const r = await sendDeliveryReport(url, { messageId: 'M', mmStatus: 'Retrieved' }, AUTH);
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
    expect(sink.reports).toHaveLength(0);
  });

  it('403 for an address outside the allow-list (checked before anything else)', async () => {
    ctx.allowIps = ['10.20.0.0/16', '192.0.2.7'];
    const r = await handleMm7Request({ headers: { 'content-type': 'text/xml' }, body: Buffer.from('<x/>'), remoteAddress: '127.0.0.1' }, ctx);
    expect(r.status).toBe(403);
    const ok = await handleMm7Request({ headers: { 'content-type': 'text/xml' }, body: Buffer.from('<x/>'), remoteAddress: '::ffff:10.20.3.4' }, { ...ctx, auth: undefined });
    expect(ok.status).toBe(500); // allowed through; then refused as not SOAP
  });
});
