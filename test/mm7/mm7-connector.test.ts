import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.ts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MtMessage } from '../../src/core/message.ts';
import { OUTCOMES } from '../../src/core/outcomes.ts';
import { TemporaryError } from '../../src/core/retry-policy.ts';
import { OperatorRejectedError, type SubmitRequest } from '../../src/operators/connector.ts';
import { Mm7Connector, type Mm7ConnectorOptions } from '../../src/operators/mm7/mm7-connector.ts';
import { SimulatorConnector } from '../../src/operators/simulator/simulator-connector.ts';
import { child, childText } from '../../src/operators/mm7/mm7-xml.ts';
import { startMm7Peer, type Mm7Peer } from '../support/mm7-peer.ts';

let peer: Mm7Peer;
const open: Mm7Connector[] = [];

beforeAll(async () => {
  peer = await startMm7Peer();
});
afterAll(async () => {
  await peer.close();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  peer.requests.length = 0;
  peer.script([{}]);
});

function connector(over: Partial<Mm7ConnectorOptions> = {}): Mm7Connector {
  const c = new Mm7Connector({
    operatorId: 7,
    url: peer.url,
    username: 'vasp-user',
    password: 's3cr:et',
    vaspId: 'VASP1',
    namespace: 'REL-6-MM7-1-4',
    expiry: '24h',
    timeoutMs: 5000,
    ...over,
  });
  open.push(c);
  return c;
}

function request(mtId = 1): SubmitRequest {
  const mt: MtMessage = {
    mtId,
    accountId: 'acc',
    requestId: 'req',
    source: '12345',
    destination: '15551234567',
    mtConfig: 'promo-config',
    subject: 'Hello',
    operatorId: 7,
    state: 'accepted',
    status: null,
    outcomeId: null,
    outcomeDescription: null,
    userAgent: null,
    operatorMessageId: null,
    createdAt: 0,
    updatedAt: 0,
    parts: [],
  };
  const text = { contentType: 'text/plain; charset=utf-8', contentId: 'text1', size: 5 };
  const img = { contentType: 'image/gif', contentId: 'img1', size: 6 };
  return {
    mt,
    mtConfig: 'promo-config',
    parts: [
      { part: text, bytes: Buffer.from('hello') },
      { part: img, bytes: Buffer.from('GIF89a') },
    ],
  };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('Mm7Connector against a loopback MMSC', () => {
  it('submits a SubmitReq with Basic auth and SOAPAction, and returns the MessageID on 1000', async () => {
    peer.script([{ mm7Status: 1000, messageId: 'MSG-0001' }]);
    const accepted = await connector().submit(request());
    expect(accepted.operatorMessageId).toBe('MSG-0001');
    expect(accepted.detail).toMatchObject({ mm7StatusCode: 1000 });

    const rec = peer.requests[0]!;
    expect(rec.headers.authorization).toBe('Basic ' + Buffer.from('vasp-user:s3cr:et').toString('base64'));
    expect(rec.headers.soapaction).toBe('""');
    expect(rec.headers['content-type']).toMatch(/^multipart\/related;/);
    const op = rec.envelope!.operation;
    expect(op.local).toBe('SubmitReq');
    expect(rec.envelope!.transactionId).toMatch(/^mt1-/);
    expect(childText(child(op, 'SenderIdentification'), 'VASPID')).toBe('VASP1');
    expect(childText(child(op, 'SenderIdentification'), 'VASID')).toBe('promo-config');
    expect(childText(op, 'ExpiryDate')).toBe('PT86400S');
    expect(rec.content.map((p) => [p.contentId, p.bytes.toString()])).toEqual([
      ['text1', 'hello'],
      ['img1', 'GIF89a'],
    ]);
  });

  it("with expiryFormat 'absolute', ExpiryDate is the xs:dateTime `expiry` after the submission (UTC, whole seconds)", async () => {
    const before = Date.now();
    await connector({ expiry: '24h', expiryFormat: 'absolute' }).submit(request());
    const after = Date.now();
    const expiry = childText(peer.requests[0]!.envelope!.operation, 'ExpiryDate')!;
    expect(expiry).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    const at = Date.parse(expiry);
    expect(at).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 86_400_000);
    expect(at).toBeLessThanOrEqual(after + 86_400_000);
    // An xs:duration cannot be turned into a date reliably (months): refused when the link is set up.
    expect(() => connector({ expiry: 'P1M', expiryFormat: 'absolute' })).toThrow();
  });

  it('sends REL-5 namespace with 5.3.0 when configured', async () => {
    await connector({ namespace: 'REL-5-MM7-1-2' }).submit(request());
    const env = peer.requests[0]!.envelope!;
    expect(env.namespace).toBe('http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-2');
    expect(childText(env.operation, 'MM7Version')).toBe('5.3.0');
  });

  it('throws TemporaryError on MM7 3000, and gives up on 3001 Not Possible (a resend gets the same refusal)', async () => {
    peer.script([{ mm7Status: 3000, statusText: 'Server Error' }, { mm7Status: 3001, statusText: 'Not Possible' }]);
    const c = connector();
    expect(await rejection(c.submit(request(1)))).toBeInstanceOf(TemporaryError);
    const e = await rejection(c.submit(request(2)));
    expect(e).toBeInstanceOf(OperatorRejectedError);
    expect((e as OperatorRejectedError).outcome).toBe(OUTCOMES.OPERATOR_REJECTED);
  });

  it('accepts a SubmitRsp sent back as multipart/related with the SOAP part inside', async () => {
    const b = 'mmsc-rsp-7';
    const soap =
      '<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">' +
      '<env:Body><mm7:SubmitRsp xmlns:mm7="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4">' +
      '<mm7:MM7Version>6.8.0</mm7:MM7Version><mm7:Status><mm7:StatusCode>1000</mm7:StatusCode><mm7:StatusText>Success</mm7:StatusText>' +
      '</mm7:Status><mm7:MessageID>MP-0001</mm7:MessageID></mm7:SubmitRsp></env:Body></env:Envelope>';
    peer.script([
      {
        rawBody: `--${b}\r\nContent-Type: text/xml; charset=utf-8\r\nContent-ID: <rsp>\r\n\r\n${soap}\r\n--${b}--\r\n`,
        headers: { 'content-type': `multipart/related; boundary="${b}"; type="text/xml"; start="<rsp>"` },
      },
    ]);
    expect((await connector().submit(request())).operatorMessageId).toBe('MP-0001');
    expect(peer.requests).toHaveLength(1);
  });

  it('gives up without a resend when an HTTP 200 answer cannot be read, or is over maxResponseBytes', async () => {
    peer.script([{ rawBody: 'OK', headers: { 'content-type': 'text/plain' } }, { rawBody: 'x'.repeat(4096), headers: { 'content-type': 'text/plain' } }]);
    const c = connector({ maxResponseBytes: 1024 });
    for (const mtId of [1, 2]) {
      const e = await rejection(c.submit(request(mtId)));
      expect(e).toBeInstanceOf(OperatorRejectedError);
      expect((e as OperatorRejectedError).outcome).toBe(OUTCOMES.OPERATOR_ANSWER_UNREADABLE);
    }
  });

  it('gives up without a resend when an HTTP 200 answer breaks off in its body', async () => {
    peer.script([{ breakOffAfterBytes: 40 }]);
    const e = await rejection(connector().submit(request()));
    expect(e).toBeInstanceOf(OperatorRejectedError);
    expect((e as OperatorRejectedError).outcome).toBe(OUTCOMES.OPERATOR_ANSWER_UNREADABLE);
    expect((e as Error).message).toMatch(/HTTP 200 but its body broke off/);
  });

  it('retries HTTP 401 from the MMSC (credentials rotated on one side) instead of failing the message', async () => {
    const errors: string[] = [];
    peer.script([{ httpStatus: 401, rawBody: 'Unauthorized', headers: { 'content-type': 'text/plain', 'www-authenticate': 'Basic realm="mmsc"' } }]);
    const c = connector({ logger: { debug() {}, info() {}, warn() {}, error: (_o, m) => errors.push(m ?? '') } });
    expect(await rejection(c.submit(request()))).toBeInstanceOf(TemporaryError);
    expect(errors.join()).toMatch(/MMSC refused our credentials or address \(HTTP 401\)/);
  });

  it('throws TemporaryError on HTTP 503 with the Retry-After delay', async () => {
    peer.script([{ httpStatus: 503, rawBody: 'Service Unavailable', headers: { 'retry-after': '12', 'content-type': 'text/plain' } }]);
    const e = await rejection(connector().submit(request()));
    expect(e).toBeInstanceOf(TemporaryError);
    expect((e as TemporaryError).retryAfterMs).toBe(12_000);
  });

  it('maps a 2002 SubmitRsp to OperatorRejectedError with OPERATOR_ADDRESS_ERROR', async () => {
    peer.script([{ mm7Status: 2002, statusText: 'Address Error' }]);
    const e = await rejection(connector().submit(request()));
    expect(e).toBeInstanceOf(OperatorRejectedError);
    expect((e as OperatorRejectedError).outcome).toBe(OUTCOMES.OPERATOR_ADDRESS_ERROR);
  });

  it('reads a fault with HTTP 500 and one with HTTP 200 (bare faultcode)', async () => {
    peer.script([
      { fault: true, mm7Status: 2004, httpStatus: 500 },
      { fault: true, mm7Status: 4007, httpStatus: 200, bareFaultcode: true },
    ]);
    const c = connector();
    const e1 = (await rejection(c.submit(request(1)))) as OperatorRejectedError;
    expect(e1.outcome).toBe(OUTCOMES.OPERATOR_CONTENT_REFUSED);
    const e2 = (await rejection(c.submit(request(2)))) as OperatorRejectedError;
    expect(e2.outcome).toBe(OUTCOMES.OPERATOR_DENIED);
  });

  it('tolerates a TransactionID mismatch and logs it', async () => {
    const warnings: string[] = [];
    peer.script([{ transactionId: 'their-own-id', messageId: 'M2' }]);
    const c = connector({ logger: { debug() {}, info() {}, error() {}, warn: (_o, m) => warnings.push(m ?? '') } });
    expect((await c.submit(request())).operatorMessageId).toBe('M2');
    expect(warnings).toContain('MM7 TransactionID mismatch (tolerated)');
  });

  it('throws TemporaryError on a timeout', async () => {
    peer.script([{ delayMs: 1500 }]);
    expect(await rejection(connector({ timeoutMs: 200 }).submit(request()))).toBeInstanceOf(TemporaryError);
  });

  it('stops a submission in flight, and one waiting for a slot before it is sent, when the job signal aborts', async () => {
    peer.script([{ delayMs: 3000 }]);
    const c = connector({ maxConcurrent: 1, timeoutMs: 10_000 });
    const stop = new AbortController();
    const started = Date.now();
    const inFlight = rejection(c.submit({ ...request(1), signal: stop.signal }));
    const waiting = rejection(c.submit({ ...request(2), signal: stop.signal }));
    for (const end = Date.now() + 5000; peer.requests.length === 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    stop.abort(new Error('lease gone'));
    const [e1, e2] = await Promise.all([inFlight, waiting]);
    expect(Date.now() - started).toBeLessThan(2000); // not the peer's 3 s, nor the 10 s timeout
    expect(e1).toBeInstanceOf(TemporaryError);
    expect((e1 as Error).message).toContain('lease gone');
    expect((e2 as Error).message).toContain('lease gone');
    expect(peer.requests).toHaveLength(1); // the waiting one was never sent
  });

  it('check() refuses what submit() would refuse before sending (the encoded size), and a test stand-in runs it', async () => {
    // 15,000 raw bytes fit a 20,000-byte limit; base64 in the SOAP request does not.
    const big: SubmitRequest = { ...request(9), parts: [{ part: { contentType: 'audio/amr', contentId: 'a.amr', size: 15_000 }, bytes: Buffer.alloc(15_000, 7) }] };
    const c = connector({ maxMessageBytes: 20_000 });
    expect(() => c.check(big)).toThrow(OperatorRejectedError);
    expect(() => c.check(request(10))).not.toThrow();
    const standIn = new SimulatorConnector({ id: 7, maxMessageBytes: 20_000, simulator: undefined }, 'n', Math.random, Date.now, {
      handsetCopies: false,
      detail: { simulator: true, testMtConfig: true },
      precheck: (r) => c.check(r),
    });
    const e = (await rejection(standIn.submit(big))) as OperatorRejectedError;
    expect(e.outcome).toBe(OUTCOMES.TOO_LARGE);
    expect((await standIn.submit(request(11))).detail).toEqual({ simulator: true, testMtConfig: true });
    expect(peer.requests).toHaveLength(0);
  });

  it('throws TemporaryError when the MMSC refuses connections', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    expect(await rejection(connector({ url: `http://127.0.0.1:${port}/mm7` }).submit(request()))).toBeInstanceOf(TemporaryError);
  });

  it('refuses a message over maxMessageBytes as TOO_LARGE without sending it', async () => {
    const e = (await rejection(connector({ maxMessageBytes: 500 }).submit(request()))) as OperatorRejectedError;
    expect(e.outcome).toBe(OUTCOMES.TOO_LARGE);
    expect(peer.requests).toHaveLength(0);
  });

  it('keeps at most maxConcurrent requests in flight; the others wait instead of failing', async () => {
    let inFlight = 0;
    let peak = 0;
    peer.script(() => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      setTimeout(() => inFlight--, 100);
      return { delayMs: 100 };
    });
    const c = connector({ maxConcurrent: 2 });
    const results = await Promise.all([1, 2, 3, 4, 5].map((i) => c.submit(request(i))));
    expect(results).toHaveLength(5);
    expect(peak).toBeLessThanOrEqual(2);
    expect(peer.requests).toHaveLength(5);
  });
});

describe('Mm7Connector to an https MMSC with a private certificate', () => {
  const cert = readFileSync(fileURLToPath(new URL('../support/tls/cert.pem', import.meta.url)), 'utf8');
  const key = readFileSync(fileURLToPath(new URL('../support/tls/key.pem', import.meta.url)), 'utf8');
  let tlsPeer: Mm7Peer;
  beforeAll(async () => {
    tlsPeer = await startMm7Peer({ tls: { cert, key } });
  });
  afterAll(async () => {
    await tlsPeer.close();
  });

  it('submits when given the certificate to trust (operators[].mm7.ca), and refuses the link without it', async () => {
    expect(tlsPeer.url).toMatch(/^https:/);
    const trusting = connector({ url: tlsPeer.url, ca: cert });
    expect((await trusting.submit(request(20))).operatorMessageId).toBeTruthy();
    const untrusting = connector({ url: tlsPeer.url, timeoutMs: 3000 });
    const e = await rejection(untrusting.submit(request(21)));
    expect(e).toBeInstanceOf(TemporaryError);
    expect((e as Error).message).toMatch(/self[- ]signed|certificate/i);
    expect(tlsPeer.requests).toHaveLength(1);
  });

  it('reads the PEM file at start, and names the key when it cannot', () => {
    const op = (ca: string) => ({
      operators: [{ id: 5, type: 'mm7' as const, prefixes: ['1'], mm7: { url: 'https://127.0.0.1:1/mm7', ca } }],
    });
    const certFile = fileURLToPath(new URL('../support/tls/cert.pem', import.meta.url));
    expect(loadConfig({ raw: op(certFile) }).operators[0]!.mm7!.ca).toContain('-----BEGIN CERTIFICATE-----');
    expect(() => loadConfig({ raw: op('/nonexistent/ca.pem') })).toThrow(/operators\.0\.mm7\.ca: cannot read/);
    // A private key given by mistake (TLS would ignore it and then refuse every connection) is refused, not kept.
    const keyFile = fileURLToPath(new URL('../support/tls/key.pem', import.meta.url));
    expect(() => loadConfig({ raw: op(keyFile) })).toThrow(/operators\.0\.mm7\.ca: .* holds a PRIVATE KEY block/);
    expect(() => loadConfig({ raw: op(keyFile), readPemFiles: false })).not.toThrow();
  });
});
