import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { parseContentType } from '../../src/mime/content-type.ts';
import { parseMultipartBuffer } from '../../src/mime/multipart-reader.ts';
import { DEFAULT_MULTIPART_LIMITS } from '../../src/mime/types.ts';
import { buildSubmitHttp, buildSubmitReqXml, formatExpiry, type SubmitReqFields } from '../../src/operators/mm7/mm7-submit.ts';

const NS6 = 'http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4';
const NS5 = 'http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-2';

const fields = (over: Partial<SubmitReqFields> = {}): SubmitReqFields => ({
  namespace: NS6,
  version: '6.8.0',
  transactionId: 'tx-123',
  vaspId: 'vasp1',
  vasId: 'promo',
  sender: '12345',
  recipients: ['15551234567'],
  expiryDate: 'PT2M',
  deliveryReport: true,
  subject: 'Hi & <bye>',
  contentId: 'mm7-content',
  allowAdaptations: true,
  ...over,
});

/** Ordered, namespace-preserving view of an XML document, parsed independently of the code under test. */
interface Node {
  name: string;
  attrs: Record<string, string>;
  children: Node[];
  text: string;
}
const independent = new XMLParser({ preserveOrder: true, ignoreAttributes: false, attributeNamePrefix: '', parseTagValue: false, processEntities: true });
function tree(xml: string): Node {
  const conv = (n: Record<string, unknown>): Node => {
    const name = Object.keys(n).find((k) => k !== ':@')!;
    const kids = (n[name] as Record<string, unknown>[]) ?? [];
    return {
      name,
      attrs: (n[':@'] as Record<string, string>) ?? {},
      children: kids.filter((k) => !('#text' in k)).map(conv),
      text: kids.filter((k) => '#text' in k).map((k) => String(k['#text'])).join(''),
    };
  };
  const docs = independent.parse(xml) as Record<string, unknown>[];
  return conv(docs.find((d) => !('?xml' in d))!);
}
const kid = (n: Node, name: string): Node => {
  const c = n.children.find((x) => x.name === name);
  if (!c) throw new Error(`no ${name} under ${n.name}: ${n.children.map((x) => x.name).join(',')}`);
  return c;
};

/**
 * submitReqType as a sequence: [local name, min, max]. REL-6-MM7-1-4 transcribed from zxid_id-mm7-R6-1-4.sg
 * (genericVASPRequestType: MM7Version, SenderIdentification, Extension*; then submitReqType's own children).
 */
const REL6_SUBMIT_REQ: [string, number, number][] = [
  ['MM7Version', 1, 1], ['SenderIdentification', 1, 1], ['Extension', 0, Infinity],
  ['Recipients', 1, 1], ['PreferredChannels', 0, 1], ['ServiceCode', 0, 1], ['LinkedID', 0, 1], ['MessageClass', 0, 1],
  ['TimeStamp', 0, 1], ['ReplyCharging', 0, 1], ['EarliestDeliveryTime', 0, 1], ['ExpiryDate', 0, 1],
  ['DeliveryReport', 0, 1], ['ReadReply', 0, 1], ['Priority', 0, 1], ['Subject', 0, 1], ['ChargedParty', 0, 1],
  ['ChargedPartyID', 0, 1], ['ThirdPartyPayer', 0, 1], ['DistributionIndicator', 0, 1], ['DeliveryCondition', 0, 1],
  ['ApplicID', 0, 1], ['ReplyApplicID', 0, 1], ['AuxApplicInfo', 0, 1], ['ContentClass', 0, 1], ['DRMContent', 0, 1],
  ['Content', 0, Infinity], ['AdditionalInformation', 0, Infinity], ['MessageExtraData', 0, 1],
];
/** REL-5-MM7-1-2 SubmitReq (3GPP schema): the Rel-5 subset, same relative order. */
const REL5_SUBMIT_REQ: [string, number, number][] = [
  ['MM7Version', 1, 1], ['SenderIdentification', 1, 1], ['Recipients', 1, 1], ['ServiceCode', 0, 1], ['LinkedID', 0, 1],
  ['MessageClass', 0, 1], ['TimeStamp', 0, 1], ['ReplyCharging', 0, 1], ['EarliestDeliveryTime', 0, 1], ['ExpiryDate', 0, 1],
  ['DeliveryReport', 0, 1], ['ReadReply', 0, 1], ['Priority', 0, 1], ['Subject', 0, 1], ['ChargedParty', 0, 1],
  ['DistributionIndicator', 0, 1], ['Content', 0, 1],
];
const SENDER_ID: [string, number, number][] = [['VASPID', 0, 1], ['VASID', 0, 1], ['SenderAddress', 0, 1]];
const RECIPIENTS: [string, number, number][] = [['To', 0, 1], ['Cc', 0, 1], ['Bcc', 0, 1]];

/** Check that `names` follow `seq` in order with allowed names and cardinalities; returns problems. */
function conformance(names: string[], seq: [string, number, number][]): string[] {
  const problems: string[] = [];
  let pos = 0;
  const counts = new Map<string, number>();
  for (const n of names) {
    let i = pos;
    while (i < seq.length && seq[i]![0] !== n) i++;
    if (i === seq.length) {
      problems.push(seq.some((s) => s[0] === n) ? `${n} out of order` : `${n} not allowed`);
      continue;
    }
    pos = i;
    counts.set(n, (counts.get(n) ?? 0) + 1);
    if (counts.get(n)! > seq[i]![2]) problems.push(`${n} repeated`);
  }
  for (const [n, min] of seq) if ((counts.get(n) ?? 0) < min) problems.push(`${n} missing`);
  return problems;
}

describe('SubmitReq conformance to the schema sequence', () => {
  for (const [label, ns, version, seq] of [
    ['REL-6-MM7-1-4 / 6.8.0', NS6, '6.8.0', REL6_SUBMIT_REQ],
    ['REL-5-MM7-1-2 / 5.3.0', NS5, '5.3.0', REL5_SUBMIT_REQ],
  ] as const) {
    it(`orders every child as ${label} requires, all in the MM7 namespace`, () => {
      const env = tree(buildSubmitReqXml(fields({ namespace: ns, version, serviceCode: 'SVC1' })));
      expect(env.name).toBe('env:Envelope');
      expect(env.attrs['xmlns:mm7']).toBe(ns);
      const req = kid(kid(env, 'env:Body'), 'mm7:SubmitReq');
      const names = req.children.map((c) => c.name);
      expect(names.every((n) => n.startsWith('mm7:'))).toBe(true);
      const local = names.map((n) => n.slice(4));
      expect(conformance(local, [...seq])).toEqual([]);
      // what we promise to send, in that order
      expect(local).toEqual(['MM7Version', 'SenderIdentification', 'Recipients', 'ServiceCode', 'ExpiryDate', 'DeliveryReport', 'Subject', 'Content']);
      expect(kid(req, 'mm7:MM7Version').text).toBe(version);
      const sid = kid(req, 'mm7:SenderIdentification');
      expect(conformance(sid.children.map((c) => c.name.slice(4)), SENDER_ID)).toEqual([]);
      expect(conformance(kid(req, 'mm7:Recipients').children.map((c) => c.name.slice(4)), RECIPIENTS)).toEqual([]);
    });
  }

  it('the checker itself catches a wrong order, a foreign name and a missing element', () => {
    expect(conformance(['MM7Version', 'Recipients', 'SenderIdentification'], REL6_SUBMIT_REQ)).toContain('SenderIdentification out of order');
    expect(conformance(['MM7Version', 'SenderIdentification', 'Recipients', 'Bogus'], REL6_SUBMIT_REQ)).toContain('Bogus not allowed');
    expect(conformance(['MM7Version', 'SenderIdentification'], REL6_SUBMIT_REQ)).toContain('Recipients missing');
    expect(conformance(['MM7Version', 'SenderIdentification', 'Recipients', 'PreferredChannels'], REL5_SUBMIT_REQ)).toContain('PreferredChannels not allowed');
  });
});

describe('SubmitReq content', () => {
  it('carries TransactionID with mustUnderstand, identification, addresses, expiry, report flag, escaped subject', () => {
    const env = tree(buildSubmitReqXml(fields()));
    const tx = kid(kid(env, 'env:Header'), 'mm7:TransactionID');
    expect(tx.text).toBe('tx-123');
    expect(tx.attrs['env:mustUnderstand']).toBe('1');
    const req = kid(kid(env, 'env:Body'), 'mm7:SubmitReq');
    const sid = kid(req, 'mm7:SenderIdentification');
    expect(kid(sid, 'mm7:VASPID').text).toBe('vasp1');
    expect(kid(sid, 'mm7:VASID').text).toBe('promo');
    expect(kid(kid(sid, 'mm7:SenderAddress'), 'mm7:ShortCode').text).toBe('12345');
    expect(kid(kid(kid(req, 'mm7:Recipients'), 'mm7:To'), 'mm7:Number').text).toBe('15551234567');
    expect(kid(req, 'mm7:ExpiryDate').text).toBe('PT2M');
    expect(kid(req, 'mm7:DeliveryReport').text).toBe('true');
    expect(kid(req, 'mm7:Subject').text).toBe('Hi & <bye>');
    expect(kid(req, 'mm7:Content').attrs).toEqual({ href: 'cid:mm7-content', allowAdaptations: 'true' });
  });

  it('sends a long sender as Number (with "+" only when configured) and keeps leading zeros', () => {
    const req = kid(kid(tree(buildSubmitReqXml(fields({ sender: '447700900750', recipients: ['0044123'] }))), 'env:Body'), 'mm7:SubmitReq');
    expect(kid(kid(kid(req, 'mm7:SenderIdentification'), 'mm7:SenderAddress'), 'mm7:Number').text).toBe('447700900750');
    expect(kid(kid(kid(req, 'mm7:Recipients'), 'mm7:To'), 'mm7:Number').text).toBe('0044123');
    const plus = kid(kid(tree(buildSubmitReqXml(fields({ plusPrefix: true }))), 'env:Body'), 'mm7:SubmitReq');
    expect(kid(kid(kid(plus, 'mm7:Recipients'), 'mm7:To'), 'mm7:Number').text).toBe('+15551234567');
  });

  it('omits an empty subject and an unset expiry', () => {
    const req = kid(kid(tree(buildSubmitReqXml(fields({ subject: null, expiryDate: undefined }))), 'env:Body'), 'mm7:SubmitReq');
    expect(req.children.map((c) => c.name)).not.toContain('mm7:Subject');
    expect(req.children.map((c) => c.name)).not.toContain('mm7:ExpiryDate');
  });
});

describe('SubmitReq HTTP framing', () => {
  const smil = '<smil><body><par><img src="cid:img1"/><text src="cid:txt1"/></par></body></smil>';
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2, 3, 255]);
  const parts = [
    { contentType: 'application/smil', contentId: 'smil1', bytes: Buffer.from(smil) },
    { contentType: 'image/png', contentId: 'img1', bytes: png },
    { contentType: 'text/plain; charset=utf-8', contentId: 'txt1', bytes: Buffer.from('héllo') },
  ];
  const read = (ct: string, body: Buffer) => {
    const p = parseContentType(ct);
    return { ct: p, parts: parseMultipartBuffer(body, { boundary: p.params.boundary!, limits: DEFAULT_MULTIPART_LIMITS, lenient: false }) };
  };

  it('puts the SOAP part first as start, then a multipart/related content part with the SMIL as start', () => {
    const http = buildSubmitHttp(fields(), parts);
    const outer = read(http.contentType, http.body);
    expect(outer.ct.type).toBe('multipart/related');
    expect(outer.ct.params.type).toBe('text/xml');
    expect(outer.ct.params.start).toBe('<mm7-soap>');
    expect(outer.parts).toHaveLength(2);
    expect(outer.parts[0]!.contentId).toBe('mm7-soap');
    expect(outer.parts[0]!.contentType).toMatch(/^text\/xml/);
    const soap = tree(outer.parts[0]!.body.toString('utf8'));
    const href = kid(kid(kid(soap, 'env:Body'), 'mm7:SubmitReq'), 'mm7:Content').attrs.href;
    expect(href).toBe(`cid:${outer.parts[1]!.contentId}`);

    const inner = read(outer.parts[1]!.contentType, outer.parts[1]!.body);
    expect(inner.ct.type).toBe('multipart/related');
    expect(inner.ct.params.type).toBe('application/smil');
    expect(inner.ct.params.start).toBe('<smil1>');
    expect(inner.parts.map((p) => p.contentId)).toEqual(['smil1', 'img1', 'txt1']);
    expect(inner.parts.map((p) => p.headers['content-location'])).toEqual(['smil1', 'img1', 'txt1']);
    expect(inner.parts[1]!.transferEncoding).toBe('base64');
    expect(inner.parts[1]!.body.equals(png)).toBe(true);
    expect(inner.parts[2]!.body.toString('utf8')).toBe('héllo');
    expect(inner.parts[0]!.body.toString('utf8')).toBe(smil);
  });

  // RFC 2046 §4.1.2: text without a charset is US-ASCII to the handset, so UTF-8 text would show as mojibake.
  it('declares charset=utf-8 on UTF-8 text and SMIL parts sent without a charset; leaves declared, ASCII and other text alone', () => {
    const latin1 = Buffer.from('caf\xe9', 'latin1');
    const http = buildSubmitHttp(fields(), [
      { contentType: 'application/smil', contentId: 'smil1', bytes: Buffer.from('<smil><body><par><text src="cid:t1"/></par></body><!-- é --></smil>') },
      { contentType: 'text/plain', contentId: 't1', bytes: Buffer.from('Grüße, 你好 👋') },
      { contentType: 'text/plain; format=flowed', contentId: 't2', bytes: Buffer.from('señor') },
      { contentType: 'text/plain; charset=iso-8859-1', contentId: 't3', bytes: latin1 },
      { contentType: 'text/plain', contentId: 't4', bytes: Buffer.from('plain ascii') },
      { contentType: 'text/plain', contentId: 't5', bytes: latin1 },
      { contentType: 'image/png', contentId: 'img1', bytes: png },
    ]);
    const outer = read(http.contentType, http.body);
    const inner = read(outer.parts[1]!.contentType, outer.parts[1]!.body);
    expect(inner.parts.map((p) => p.headers['content-type'])).toEqual([
      'application/smil; charset=utf-8',
      'text/plain; charset=utf-8',
      'text/plain; format=flowed; charset=utf-8',
      'text/plain; charset=iso-8859-1',
      'text/plain',
      'text/plain',
      'image/png',
    ]);
    expect(inner.parts[1]!.body.toString('utf8')).toBe('Grüße, 你好 👋');
    expect(inner.parts[3]!.body.equals(latin1)).toBe(true);
  });

  it('uses multipart/mixed for content without SMIL', () => {
    const http = buildSubmitHttp(fields(), parts.slice(1));
    const outer = read(http.contentType, http.body);
    const inner = read(outer.parts[1]!.contentType, outer.parts[1]!.body);
    expect(inner.ct.type).toBe('multipart/mixed');
    expect(inner.parts).toHaveLength(2);
  });
});

describe('formatExpiry', () => {
  it('passes xs:duration and absolute times through and converts project durations', () => {
    expect(formatExpiry('PT2M')).toBe('PT2M');
    expect(formatExpiry('P1DT12H')).toBe('P1DT12H');
    expect(formatExpiry('2030-01-02T03:04:05Z')).toBe('2030-01-02T03:04:05Z');
    expect(formatExpiry('24h')).toBe('PT86400S');
    expect(formatExpiry(90_000)).toBe('PT90S');
    expect(() => formatExpiry('tomorrow')).toThrow();
    expect(() => formatExpiry('P')).toThrow();
  });
});
