import { describe, expect, it } from 'vitest';
import { OUTCOMES } from '../../src/core/outcomes.ts';
import { TemporaryError } from '../../src/core/retry-policy.ts';
import { OperatorRejectedError } from '../../src/operators/connector.ts';
import { judgeSubmitResponse, parseSubmitResponse, retryAfterMs, type Mm7Logger } from '../../src/operators/mm7/mm7-responses.ts';
import { classifyStatusCode } from '../../src/operators/mm7/mm7-status.ts';

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
  const logger: Mm7Logger = { debug() {}, info() {}, error() {}, warn: (obj, msg) => warnings.push({ obj, msg }) };
  return { logger, warnings };
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

  it('gives up on other HTTP 4xx; 401/403 mean denied', () => {
    expect((thrown(() => judgeSubmitResponse(res(404, 'nope'), 'tx')) as OperatorRejectedError).outcome).toBe(OUTCOMES.OPERATOR_REJECTED);
    expect((thrown(() => judgeSubmitResponse(res(401, ''), 'tx')) as OperatorRejectedError).outcome).toBe(OUTCOMES.OPERATOR_DENIED);
  });

  it('retries a 200 whose body says nothing readable', () => {
    expect(thrown(() => judgeSubmitResponse(res(200, ''), 'tx'))).toBeInstanceOf(TemporaryError);
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
    [3001, 'temporary', null],
    [4001, 'permanent', OUTCOMES.OPERATOR_DENIED],
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
