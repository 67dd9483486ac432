/**
 * The bytes a customer endpoint receives, on both store backends, in the forms OpenMarket's "Things to Know" document
 * prints (the seed): a customer's code written against those examples keeps working unchanged.
 *
 * - Delivery report (seed, step 5): `Content-Type: application/json`, the fields in the order printed, `"type"` first.
 *   Order is no part of JSON's meaning, but some strict parsers depend on it: System.Text.Json's polymorphic
 *   deserialisation (a `type` discriminator) reads the discriminator only as the object's first property by default.
 * - MO (seed, "Flow for receiving an MO MMS"): `Content-Type: multipart/mixed; boundary=mimeboundary`, a bare token,
 *   and the control part's fields in the order printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMultipart } from '../../src/shared/multipart-writer.ts';
import { http, send, simpleMt, startSink, startTestGateway, type Sink, type SinkRequest, type TestGateway } from '../support/gateway.ts';
import { freshPgDatabase } from '../support/postgres.ts';

const REPORT_KEYS = ['type', 'mtId', 'date', 'status', 'outcomeId', 'outcomeDescription', 'userAgent'];
const MO_KEYS = ['type', 'destinations', 'ccs', 'bccs', 'source', 'subject', 'moId', 'mobileOperatorId', 'date', 'userAgent'];

/** The keys of a JSON object as they appear in its text (JSON.parse keeps text order for non-index keys). */
const keysOf = (text: string): string[] => Object.keys(JSON.parse(text) as object);

describe.each([
  ['SQLite', async () => undefined],
  ['PostgreSQL', async () => freshPgDatabase()],
])('on %s', (_name, storeUrl) => {
  let sink: Sink;
  let gw: TestGateway;
  beforeAll(async () => {
    sink = await startSink();
    const store = await storeUrl();
    gw = await startTestGateway(store ? { store } : {}, { reportUrl: `${sink.url}/reports`, moUrl: `${sink.url}/mo` });
  });
  afterAll(async () => {
    await gw?.stop();
    await sink?.close();
  });

  async function reportOf(destination: string): Promise<SinkRequest> {
    const r = await send(gw.url, simpleMt(destination));
    expect(r.status, r.body.toString()).toBe(200);
    const mtId = r.json.mtId as number;
    const mine = (q: SinkRequest) => q.url === '/reports' && JSON.parse(q.body.toString()).mtId === mtId;
    await sink.waitFor((reqs) => reqs.some(mine));
    return sink.requests.find(mine)!;
  }

  it('a REPORT carries its fields in the order the seed prints them, "type" first', async () => {
    const report = await reportOf('15551230001');
    expect(report.headers['content-type']).toBe('application/json');
    const text = report.body.toString('utf8');
    expect(text.startsWith('{"type":"REPORT","mtId":')).toBe(true);
    expect(keysOf(text)).toEqual(REPORT_KEYS);
  });

  it('a REPORT without a userAgent keeps the order of the fields it has', async () => {
    const report = await reportOf('15550100009');
    expect(keysOf(report.body.toString('utf8'))).toEqual(REPORT_KEYS.filter((k) => k !== 'userAgent'));
  });

  it('an MO comes with a bare-token boundary, as `boundary=mimeboundary` in the seed, and its fields in the seed order', async () => {
    const { contentType, body } = buildMultipart([
      { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: JSON.stringify({ source: '14553011955', destinations: ['88600'], subject: 'Norwegian Blue' }) },
      { headers: { 'Content-Type': 'text/plain', 'Content-Id': 'text.txt' }, body: 'Here is a picture of the bird in question' },
    ]);
    const r = await http(`${gw.url}/sandbox/mo`, { method: 'POST', headers: { 'content-type': contentType }, body });
    expect(r.status, r.body.toString()).toBe(200);
    const mine = (q: SinkRequest) => q.url === '/mo' && q.body.includes(`"moId":${r.json.moId}`);
    await sink.waitFor((reqs) => reqs.some(mine));
    const mo = sink.requests.find(mine)!;
    // RFC 2045 §5.1 token characters only: nothing for a parser to unquote.
    const m = /^multipart\/mixed; boundary=([!#$%&'*+\-.^_`|~0-9A-Za-z]+)$/.exec(String(mo.headers['content-type']));
    expect(m, String(mo.headers['content-type'])).not.toBeNull();
    const boundary = m![1]!;
    const text = mo.body.toString('utf8');
    expect(text.startsWith(`--${boundary}\r\nContent-Type: application/json\r\nContent-Id: main\r\n\r\n{`)).toBe(true);
    const json = text.slice(text.indexOf('{'), text.indexOf(`\r\n--${boundary}`));
    expect(keysOf(json)).toEqual(MO_KEYS);
    expect(text.endsWith(`\r\n--${boundary}--\r\n`)).toBe(true);
  });
});
