import { describe, expect, it } from 'vitest';
import { OUTCOMES } from '../../src/core/outcomes.ts';
import { TemporaryError } from '../../src/core/retry-policy.ts';
import { OperatorRejectedError } from '../../src/operators/connector.ts';
import { judgeSubmitResponse, parseSubmitResponse, retryAfterMs, type Mm7Logger } from '../../src/operators/mm7/mm7-responses.ts';
import { classifyStatusCode } from '../../src/operators/mm7/mm7-status.ts';
import { MAX_XML_ELEMENTS } from '../../src/operators/mm7/mm7-xml.ts';

// A SubmitRsp answered in a different (and non-existent) REL-6 namespace, default-namespaced, TransactionID padded
// with tabs and newlines, extra elements after MessageID.
const SUBMIT_RSP_OTHER_NS = `<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">
\t<env:Header>
\t\t<mm7:TransactionID xmlns:mm7="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-6-7" env:mustUnderstand="1">
\t\t\ttx-1
\t\t</mm7:TransactionID>
\t</env:Header>
\t<env:Body>
\t\t<SubmitRsp xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-6-7">
\t\t\t<MM7Version>6.7.0</MM7Version>
\t\t\t<Status><StatusCode>1000</StatusCode><StatusText>Success</StatusText></Status>
\t\t\t<MessageID>041502073667</MessageID>
\t\t\t<ApplicID>x</ApplicID>
\t\t</SubmitRsp>
\t</env:Body>
</env:Envelope>`;

// Fault with a bare faultcode, RSErrorRsp prefixed, soap: prefix for the envelope.
const FAULT_BARE = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>
<p6:TransactionID soap:mustUnderstand="1" xmlns:p6="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4">tx-2</p6:TransactionID>
</soap:Header><soap:Body><soap:Fault><faultcode>Client</faultcode><faultstring>Client error</faultstring><detail>
<p6:RSErrorRsp xmlns:p6="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"><p6:MM7Version>6.8.0</p6:MM7Version>
<p6:Status><p6:StatusCode>4002</p6:StatusCode><p6:StatusText>Unsupported version</p6:StatusText></p6:Status></p6:RSErrorRsp>
</detail></soap:Fault></soap:Body></soap:Envelope>`;

// Fault with prefixed fault children and REL-5 default namespace, encoding declared.
const FAULT_PREFIXED = `<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">
<env:Header><TransactionID xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-3" env:mustUnderstand="1">tx-3</TransactionID></env:Header>
<env:Body><env:Fault><env:faultcode>env:Client</env:faultcode><env:faultstring>Client error</env:faultstring><env:detail>
<RSErrorRsp xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-3"><MM7Version>5.3.0</MM7Version>
<Status><StatusCode>2002</StatusCode><StatusText>Address Error</StatusText></Status></RSErrorRsp></env:detail></env:Fault></env:Body></env:Envelope>`;

/** A Fault with this faultcode and no MM7 status in its detail. */
const faultWithoutStatus = (faultcode: string) => `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<soap:Fault><faultcode>${faultcode}</faultcode><faultstring>refused</faultstring></soap:Fault></soap:Body></soap:Envelope>`;

const recLogger = () => {
  const warnings: { obj: object; msg?: string }[] = [];
  const errors: { obj: object; msg?: string }[] = [];
  const logger: Mm7Logger = { debug() {}, info() {}, error: (obj, msg) => errors.push({ obj, msg }), warn: (obj, msg) => warnings.push({ obj, msg }) };
  return { logger, warnings, errors };
};
const res = (status: number, body: string, headers: Record<string, string> = {}) => ({ status, headers, body: Buffer.from(body) });

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('did not throw');
}

describe('parseSubmitResponse', () => {
  it('reads a SubmitRsp in another namespace with a padded TransactionID, keeping the MessageID a string', () => {
    const p = parseSubmitResponse(SUBMIT_RSP_OTHER_NS)!;
    expect(p).toMatchObject({ transactionId: 'tx-1', operation: 'SubmitRsp', statusCode: 1000, messageId: '041502073667' });
    expect(p.namespace).toMatch(/REL-6-MM7-6-7$/);
  });

  it('reads bare and prefixed faults with their RSErrorRsp status', () => {
    expect(parseSubmitResponse(FAULT_BARE)).toMatchObject({ operation: 'Fault', statusCode: 4002, fault: { faultcode: 'Client' } });
    expect(parseSubmitResponse(FAULT_PREFIXED)).toMatchObject({ operation: 'Fault', statusCode: 2002, statusText: 'Address Error', fault: { faultcode: 'Client' } });
  });

  it('returns null for empty or non-SOAP bodies', () => {
    expect(parseSubmitResponse('')).toBeNull();
    expect(parseSubmitResponse('<html><body>Bad gateway</body></html>')).toBeNull();
  });

  it('does not parse an answer over the envelope limits (same limits as inbound requests): unreadable', () => {
    const padded = SUBMIT_RSP_OTHER_NS.replace('<ApplicID>x</ApplicID>', '<x/>'.repeat(MAX_XML_ELEMENTS));
    expect(parseSubmitResponse(padded)).toBeNull();
    // What the submit worker does with it: a 2xx without a readable status, so no blind resend.
    expect(thrown(() => judgeSubmitResponse(res(200, padded), 'tx-1', recLogger().logger))).toMatchObject({ outcome: OUTCOMES.OPERATOR_ANSWER_UNREADABLE });
  });
});

describe('judgeSubmitResponse', () => {
  it('accepts 1000 and logs (but tolerates) a TransactionID mismatch', () => {
    const { logger, warnings } = recLogger();
    const r = judgeSubmitResponse(res(200, SUBMIT_RSP_OTHER_NS), 'tx-other', logger);
    expect(r.messageId).toBe('041502073667');
    expect(warnings.map((w) => w.msg)).toEqual(['MM7 TransactionID mismatch (tolerated)']);
    expect(warnings[0]!.obj).toMatchObject({ sent: 'tx-other', received: 'tx-1' });
  });

  it('does not warn when the TransactionID matches', () => {
    const { logger, warnings } = recLogger();
    judgeSubmitResponse(res(200, SUBMIT_RSP_OTHER_NS), 'tx-1', logger);
    expect(warnings).toEqual([]);
  });

  it('maps a 2002 fault to OPERATOR_ADDRESS_ERROR whether it came with HTTP 500 or 200', () => {
    for (const status of [500, 200]) {
      const e = thrown(() => judgeSubmitResponse(res(status, FAULT_PREFIXED), 'tx-3'));
      expect(e).toBeInstanceOf(OperatorRejectedError);
      expect((e as OperatorRejectedError).outcome).toBe(OUTCOMES.OPERATOR_ADDRESS_ERROR);
    }
  });

  // SOAP 1.1 §4.4.1: a dot extends a faultcode ("Client.Authentication" is a Client fault), and Client faults must not
  // be resent unchanged, while Server faults may succeed later.
  it.each(['Client', 'soap:Client', 'Client.Authentication', 'soap:Client.Authentication', 'soap:Client.Auth.BadPassword'])(
    'gives up on a %s fault without MM7 status: operator rejected (26)',
    (faultcode) => {
      const e = thrown(() => judgeSubmitResponse(res(500, faultWithoutStatus(faultcode)), 'tx'));
      expect(e).toBeInstanceOf(OperatorRejectedError);
      expect((e as OperatorRejectedError).outcome).toBe(OUTCOMES.OPERATOR_REJECTED);
    },
  );

  it.each(['Server', 'soap:Server', 'Server.Busy', 'soap:Server.Database.Down'])('retries a %s fault without MM7 status', (faultcode) => {
    expect(thrown(() => judgeSubmitResponse(res(500, faultWithoutStatus(faultcode)), 'tx'))).toBeInstanceOf(TemporaryError);
  });

  it('retries HTTP 5xx / 429 without MM7 status and honours Retry-After', () => {
    const e = thrown(() => judgeSubmitResponse(res(503, 'busy', { 'retry-after': '7' }), 'tx')) as TemporaryError;
    expect(e).toBeInstanceOf(TemporaryError);
    expect(e.retryAfterMs).toBe(7000);
    expect(thrown(() => judgeSubmitResponse(res(429, ''), 'tx'))).toBeInstanceOf(TemporaryError);
  });

  it('gives up on other HTTP 4xx', () => {
    expect((thrown(() => judgeSubmitResponse(res(404, 'nope'), 'tx')) as OperatorRejectedError).outcome).toBe(OUTCOMES.OPERATOR_REJECTED);
  });

  // One password rotated at the MMSC before ours must not fail every queued message for good.
  it.each([401, 403])('retries HTTP %i (with or without a Client fault) and logs it as an operator configuration problem', (status) => {
    for (const body of ['<html>Unauthorized</html>', faultWithoutStatus('Client.Authentication')]) {
      const { logger, errors } = recLogger();
      const e = thrown(() => judgeSubmitResponse(res(status, body, { 'retry-after': '60' }), 'tx', logger, { operatorId: 7 }));
      expect(e).toBeInstanceOf(TemporaryError);
      expect((e as TemporaryError).retryAfterMs).toBe(60_000);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.msg).toMatch(/credentials or address.*check the operator's mm7 username, password/);
      expect(errors[0]!.obj).toMatchObject({ operatorId: 7, httpStatus: status });
    }
  });

  // The same problem told in MM7 terms: Sinch/Skycore answer wrong credentials with status 2568, and 4001 says our
  // VASP identity is unknown. Either refuses every message until the link is fixed, so none is failed for good.
  it.each([
    [2568, 'Unable to authenticate', 401],
    [2568, 'Unable to authenticate', 500],
    [4001, 'Improper identification', 500],
  ])('retries MM7 status %i (%s) under HTTP %i and logs it as an operator configuration problem', (code, text, http) => {
    const body = FAULT_BARE.replace('<p6:StatusCode>4002', `<p6:StatusCode>${code}`).replace('Unsupported version', text);
    const { logger, errors } = recLogger();
    const e = thrown(() => judgeSubmitResponse(res(http, body), 'tx-2', logger, { operatorId: 7 }));
    expect(e).toBeInstanceOf(TemporaryError);
    expect((e as Error).message).toBe(`MM7 status ${code} ${text}: operator configuration problem (credentials or identity)`);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toMatch(/refused our identity.*check the operator's mm7 username, password, vaspId/);
    expect(errors[0]!.obj).toMatchObject({ operatorId: 7, statusCode: code });
  });

  // Resending after an HTTP success would deliver the message twice if the MMSC did take it.
  it.each([
    ['an empty body', ''],
    ['an HTML page', '<html><body>OK</body></html>'],
    ['a SubmitRsp without Status', SUBMIT_RSP_OTHER_NS.replace(/<Status>.*<\/Status>/, '')],
  ])('does not resend after HTTP 200 with %s: a final outcome of its own (30)', (_label, body) => {
    const { logger, errors } = recLogger();
    const e = thrown(() => judgeSubmitResponse(res(200, body), 'tx', logger));
    expect(e).toBeInstanceOf(OperatorRejectedError);
    expect((e as OperatorRejectedError).outcome).toBe(OUTCOMES.OPERATOR_ANSWER_UNREADABLE);
    expect(OUTCOMES.OPERATOR_ANSWER_UNREADABLE).toMatchObject({ id: 30, status: 'Indeterminate', final: true });
    expect(OUTCOMES.OPERATOR_ANSWER_UNREADABLE.description).toMatch(/unreadable.*may have been delivered/);
    expect(errors.map((x) => x.msg)).toEqual(['MMSC answered HTTP 2xx without a readable MM7 status']);
  });

  it('still retries an unreadable answer that came with HTTP 5xx or 3xx', () => {
    expect(thrown(() => judgeSubmitResponse(res(502, '<html>Bad gateway</html>'), 'tx'))).toBeInstanceOf(TemporaryError);
    expect(thrown(() => judgeSubmitResponse(res(302, ''), 'tx'))).toBeInstanceOf(TemporaryError);
  });
});

/** A SubmitRsp (or anything) as the `start` part of a multipart/related answer (§9.3), with an attachment after it. */
function multipartAnswer(soap: string, opts: { start?: boolean } = {}): { body: string; contentType: string } {
  const b = 'rsp-boundary-42';
  const body =
    `--${b}\r\nContent-Type: text/xml; charset=utf-8\r\nContent-ID: <soap-rsp>\r\n\r\n${soap}\r\n` +
    `--${b}\r\nContent-Type: text/plain\r\nContent-ID: <note>\r\n\r\nnothing to see\r\n--${b}--\r\n`;
  const start = opts.start === false ? '' : '; start="<soap-rsp>"';
  return { body, contentType: `multipart/related; boundary="${b}"; type="text/xml"${start}` };
}

describe('answers sent as multipart/related', () => {
  it('reads the SOAP part of a multipart SubmitRsp and accepts it: no resend, the MessageID kept', () => {
    for (const start of [true, false]) {
      const m = multipartAnswer(SUBMIT_RSP_OTHER_NS, { start });
      const r = judgeSubmitResponse(res(200, m.body, { 'content-type': m.contentType }), 'tx-1');
      expect(r).toMatchObject({ messageId: '041502073667', statusCode: 1000 });
    }
  });

  it('reads a fault in the SOAP part of a multipart answer', () => {
    const m = multipartAnswer(FAULT_PREFIXED);
    const e = thrown(() => judgeSubmitResponse(res(500, m.body, { 'content-type': m.contentType }), 'tx-3'));
    expect((e as OperatorRejectedError).outcome).toBe(OUTCOMES.OPERATOR_ADDRESS_ERROR);
  });

  it('reads a multipart SubmitRsp whose attachment is in a transfer encoding nobody decodes: accepted, not unreadable', () => {
    const m = multipartAnswer(SUBMIT_RSP_OTHER_NS);
    const body = m.body.replace('Content-ID: <note>\r\n', 'Content-ID: <note>\r\nContent-Transfer-Encoding: x-uuencode\r\n');
    const r = judgeSubmitResponse(res(200, body, { 'content-type': m.contentType }), 'tx-1');
    expect(r).toMatchObject({ messageId: '041502073667', statusCode: 1000 });
  });

  it('reads bare XML sent under a multipart Content-Type', () => {
    const r = judgeSubmitResponse(res(200, SUBMIT_RSP_OTHER_NS, { 'content-type': 'multipart/related; boundary="x"; type="text/xml"' }), 'tx-1');
    expect(r.messageId).toBe('041502073667');
  });
});

describe('what counts as an answer to SubmitReq', () => {
  it('does not take a DeliverRsp with status 1000 for an accepted submit', () => {
    const deliverRsp = SUBMIT_RSP_OTHER_NS.replace(/SubmitRsp/g, 'DeliverRsp');
    const { logger, warnings } = recLogger();
    const e = thrown(() => judgeSubmitResponse(res(200, deliverRsp), 'tx-1', logger));
    expect(e).toBeInstanceOf(OperatorRejectedError);
    expect((e as OperatorRejectedError).outcome).toBe(OUTCOMES.OPERATOR_ANSWER_UNREADABLE);
    expect(warnings.map((w) => w.msg)).toContain('MM7 answer to SubmitReq is neither SubmitRsp nor Fault');
    // With an HTTP error the HTTP status decides, as for any body without an answer.
    expect(thrown(() => judgeSubmitResponse(res(503, deliverRsp), 'tx-1'))).toBeInstanceOf(TemporaryError);
  });

  it('takes a bare RSErrorRsp (no Fault around it) by its status, under HTTP 200 or 500', () => {
    const rsError = (code: number) =>
      SUBMIT_RSP_OTHER_NS.replace(/SubmitRsp/g, 'RSErrorRsp').replace(/<([a-zA-Z0-9]+:)?StatusCode>\d+</, `<$1StatusCode>${code}<`);
    for (const http of [200, 500]) {
      const e = thrown(() => judgeSubmitResponse(res(http, rsError(2002)), 'tx-1'));
      expect(e).toBeInstanceOf(OperatorRejectedError);
      expect((e as OperatorRejectedError).outcome).toBe(OUTCOMES.OPERATOR_ADDRESS_ERROR);
    }
    expect(thrown(() => judgeSubmitResponse(res(500, rsError(3000)), 'tx-1'))).toBeInstanceOf(TemporaryError);
    // 'Success' inside an error answer is contradictory: retried, never taken for an acceptance.
    expect(thrown(() => judgeSubmitResponse(res(200, rsError(1000)), 'tx-1'))).toBeInstanceOf(TemporaryError);
  });
});

/** A SOAP 1.2 fault (SOAP 1.2 Part 1 §5.4): Code/Value, optional Subcode, Reason/Text, Detail. */
const soap12Fault = (code: string, opts: { subcode?: string; mm7Status?: number } = {}) =>
  `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault>` +
  `<env:Code><env:Value>${code}</env:Value>` +
  (opts.subcode ? `<env:Subcode><env:Value>${opts.subcode}</env:Value></env:Subcode>` : '') +
  `</env:Code><env:Reason><env:Text xml:lang="en">refused by policy</env:Text></env:Reason>` +
  (opts.mm7Status
    ? `<env:Detail><mm7:RSErrorRsp xmlns:mm7="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4">` +
      `<mm7:MM7Version>6.8.0</mm7:MM7Version><mm7:Status><mm7:StatusCode>${opts.mm7Status}</mm7:StatusCode>` +
      `<mm7:StatusText>Address Error</mm7:StatusText></mm7:Status></mm7:RSErrorRsp></env:Detail>`
    : '') +
  `</env:Fault></env:Body></env:Envelope>`;

describe('SOAP 1.2 faults', () => {
  it('reads Code/Value and Reason/Text', () => {
    expect(parseSubmitResponse(soap12Fault('env:Sender'))).toMatchObject({
      operation: 'Fault',
      statusCode: null,
      statusText: 'refused by policy',
      fault: { faultcode: 'Client', faultstring: 'refused by policy' },
    });
    expect(parseSubmitResponse(soap12Fault('env:Receiver', { subcode: 'app:Busy' }))!.fault!.faultcode).toBe('Server.Busy');
  });

  it('gives up on a Sender fault (as on a SOAP 1.1 Client fault) and retries a Receiver fault', () => {
    for (const f of [soap12Fault('env:Sender'), soap12Fault('env:Sender', { subcode: 'app:BadAddress' })]) {
      const e = thrown(() => judgeSubmitResponse(res(500, f, { 'content-type': 'application/soap+xml' }), 'tx'));
      expect(e).toBeInstanceOf(OperatorRejectedError);
      expect((e as OperatorRejectedError).outcome).toBe(OUTCOMES.OPERATOR_REJECTED);
      expect((e as Error).message).toContain('refused by policy');
    }
    expect(thrown(() => judgeSubmitResponse(res(500, soap12Fault('env:Receiver')), 'tx'))).toBeInstanceOf(TemporaryError);
  });

  it('lets an MM7 status in the Detail decide', () => {
    const e = thrown(() => judgeSubmitResponse(res(500, soap12Fault('env:Receiver', { mm7Status: 2002 })), 'tx'));
    expect((e as OperatorRejectedError).outcome).toBe(OUTCOMES.OPERATOR_ADDRESS_ERROR);
  });
});

describe('status classification table', () => {
  it.each([
    [1000, 'success', null],
    [1100, 'success', null],
    [2001, 'permanent', OUTCOMES.OPERATOR_DENIED],
    [2002, 'permanent', OUTCOMES.OPERATOR_ADDRESS_ERROR],
    [2003, 'permanent', OUTCOMES.OPERATOR_ADDRESS_ERROR],
    [2004, 'permanent', OUTCOMES.OPERATOR_CONTENT_REFUSED],
    [2007, 'permanent', OUTCOMES.OPERATOR_REJECTED],
    // 3001-3004 refuse this very request: a resend gets the same answer (and 3001 is how MMSCs say "barred").
    [3000, 'temporary', null],
    [3001, 'permanent', OUTCOMES.OPERATOR_REJECTED],
    [3002, 'permanent', OUTCOMES.OPERATOR_REJECTED],
    [3003, 'permanent', OUTCOMES.OPERATOR_REJECTED],
    [3004, 'permanent', OUTCOMES.OPERATOR_REJECTED],
    [3500, 'temporary', null],
    [3510, 'temporary', null],
    [2560, 'permanent', OUTCOMES.TOO_LARGE],
    [2568, 'link', null],
    [4001, 'link', null],
    [4006, 'temporary', null],
    [4007, 'permanent', OUTCOMES.OPERATOR_DENIED],
    [2510, 'permanent', OUTCOMES.OPERATOR_REJECTED],
    [3512, 'temporary', null],
    [4599, 'permanent', OUTCOMES.OPERATOR_REJECTED],
    [0, 'temporary', null],
  ])('%i -> %s', (code, cls, outcome) => {
    const info = classifyStatusCode(code);
    expect(info.cls).toBe(cls);
    expect(info.outcome).toBe(outcome);
  });
});

describe('retryAfterMs', () => {
  it('reads seconds and HTTP dates', () => {
    expect(retryAfterMs('120')).toBe(120_000);
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(retryAfterMs('Mon, 01 Jan 2024 00:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('soon')).toBe(0);
  });
});
