/**
 * Delivery reports end to end: an MT sent through the API reaches the simulated operator, whose outcome comes back
 * to the customer's reportUrl as the OpenMarket REPORT JSON (or, with the sandbox defaults, to the built-in inbox).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMultipart } from '../../src/shared/multipart-writer.ts';
import { generateWebhookSecret, verifyWebhook } from '../../src/shared/standard-webhooks.ts';
import {
  basic,
  eventually,
  http,
  send,
  simpleMt,
  sleep,
  startSandboxGateway,
  startSink,
  startTestGateway,
  status,
  testConfig,
  type Sink,
  type SinkRequest,
  type TestGateway,
} from '../support/gateway.ts';

/** "2016-05-16T19:20:30+00:00": date, time and a numeric UTC offset, as in the documentation's REPORT. */
const DATE_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}$/;

let sink: Sink;
let gw: TestGateway;
beforeAll(async () => {
  sink = await startSink();
  gw = await startTestGateway({}, { reportUrl: `${sink.url}/reports` });
});
afterAll(async () => {
  await gw?.stop();
  await sink?.close();
});

/** Reports for one mtId posted to `path` (gateways in one file have separate stores, so mtIds repeat between them). */
const reportsFor = (mtId: number, path = '/reports') => (reqs: SinkRequest[]) =>
  reqs.filter((r) => r.method === 'POST' && r.url === path && JSON.parse(r.body.toString()).mtId === mtId);

/** Send, then wait for the message's first report at the sink. */
async function sendAndAwaitReport(destination: string): Promise<{ mtId: number; requestId: string; report: SinkRequest }> {
  const r = await send(gw.url, simpleMt(destination));
  expect(r.status, r.body.toString()).toBe(200);
  const mtId = r.json.mtId as number;
  await sink.waitFor((reqs) => reportsFor(mtId)(reqs).length > 0, 10_000);
  return { mtId, requestId: r.headers['x-request-id'] as string, report: reportsFor(mtId)(sink.requests)[0]! };
}

describe('reports to the customer reportUrl', () => {
  it('a delivered MT: exactly one REPORT, Retrieved/1, same mtId as a JSON number, the send\'s X-Request-Id', async () => {
    const { mtId, requestId, report } = await sendAndAwaitReport('15551230001');
    expect(report.method).toBe('POST');
    expect(report.url).toBe('/reports');
    expect(report.headers['content-type']).toMatch(/^application\/json/);
    expect(report.headers['x-request-id']).toBe(requestId);
    const text = report.body.toString('utf8');
    expect(text).toMatch(new RegExp(`"mtId":\\s*${mtId}[,}]`)); // a number, not a string
    const body = JSON.parse(text);
    expect(body).toMatchObject({ type: 'REPORT', mtId, status: 'Retrieved', outcomeId: 1, outcomeDescription: 'Success.' });
    expect(body.date).toMatch(DATE_WITH_OFFSET);
    expect(Math.abs(Date.parse(body.date) - Date.now())).toBeLessThan(60_000);
    expect(typeof body.userAgent).toBe('string');

    // Exactly one: nothing more arrives for it.
    await sleep(600);
    expect(reportsFor(mtId)(sink.requests)).toHaveLength(1);
    const st = await status(gw.url, mtId);
    expect(st.json).toMatchObject({ state: 'delivered', status: 'Retrieved', outcomeId: 1 });
    expect(st.json.events.map((e: { type: string }) => e.type)).toContain('report-delivered');
  });

  it('15550100009: Rejected/9 "Recipient not found on mobile operator"', async () => {
    const { mtId, report } = await sendAndAwaitReport('15550100009');
    const body = JSON.parse(report.body.toString());
    expect(body).toMatchObject({ type: 'REPORT', mtId, status: 'Rejected', outcomeId: 9, outcomeDescription: 'Recipient not found on mobile operator' });
    expect(body.date).toMatch(DATE_WITH_OFFSET);
    expect(body.userAgent).toBeUndefined();
    const st = await status(gw.url, mtId);
    expect(st.json).toMatchObject({ state: 'failed', status: 'Rejected', outcomeId: 9 });
    // A rejected message never reaches the handset.
    const handset = await http(`${gw.url}/sandbox/handsets/15550100009/messages`);
    expect((handset.json as { mtId: number }[]).some((m) => m.mtId === mtId)).toBe(false);
  });

  it('15550199000: delivered to the handset, but no report ever comes', async () => {
    const r = await send(gw.url, simpleMt('15550199000'));
    expect(r.status).toBe(200);
    const mtId = r.json.mtId as number;
    // Wait until the simulator has handled it, so that the absence of a report below means something.
    await eventually(async () => {
      const st = await status(gw.url, mtId);
      return st.json.events.some((e: { type: string }) => e.type === 'operator-no-report') ? true : undefined;
    }, 10_000, 'simulated delivery');
    await sleep(800);
    expect(reportsFor(mtId)(sink.requests)).toHaveLength(0);
    const st = await status(gw.url, mtId);
    expect(st.json.state).toBe('submitted');
    expect(st.json.status).toBeNull();
  });
});

describe('remote content', () => {
  // A valid 1x1 GIF (so that content adaptation has nothing to change).
  const gif = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
  const remoteMt = (destination: string, url: string) =>
    buildMultipart([
      { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: JSON.stringify({ source: '88600', destination }) },
      { headers: { 'Content-Type': 'application/vnd.openmarket.remoteContent', 'Content-Id': 'pic.gif' }, body: url },
    ]);
  const fetchesOf = (path: string) => sink.requests.filter((x) => x.method === 'GET' && x.url === path);

  it('a URL on a private address (loopback) is refused before connecting: Rejected/23 REPORT', async () => {
    const r = await send(gw.url, remoteMt('15551230008', `${sink.url}/content/private.gif`));
    expect(r.status).toBe(200);
    const mtId = r.json.mtId as number;
    const reports = await sink.waitFor((reqs) => reportsFor(mtId)(reqs).length > 0, 10_000).then(reportsFor(mtId));
    expect(JSON.parse(reports[0]!.body.toString())).toMatchObject({ type: 'REPORT', mtId, status: 'Rejected', outcomeId: 23 });
    expect(fetchesOf('/content/private.gif')).toHaveLength(0);
    expect((await status(gw.url, mtId)).json.state).toBe('failed');
  });

  it('allowed by remoteContent.allowPrivateAddresses: fetched, and the handset gets the exact bytes', async () => {
    const allowed = await startTestGateway({ remoteContent: { allowPrivateAddresses: ['127.0.0.1/32'] } }, { reportUrl: `${sink.url}/reports-allowed` });
    sink.respondWith((x) => (x.method === 'GET' ? { status: 200, headers: { 'content-type': 'image/gif' }, body: gif } : 200));
    try {
      const r = await send(allowed.url, remoteMt('15551230009', `${sink.url}/content/pic.gif`));
      expect(r.status).toBe(200);
      const mtId = r.json.mtId as number;
      const mine = reportsFor(mtId, '/reports-allowed');
      const reports = await sink.waitFor((reqs) => mine(reqs).length > 0, 10_000).then(mine);
      expect(JSON.parse(reports[0]!.body.toString())).toMatchObject({ status: 'Retrieved', outcomeId: 1 });
      expect(fetchesOf('/content/pic.gif').length).toBeGreaterThan(0);
      const msgs = (await http(`${allowed.url}/sandbox/handsets/15551230009/messages`)).json as any[];
      const msg = msgs.find((m) => m.mtId === mtId);
      expect(msg.parts).toHaveLength(1);
      expect(msg.parts[0].contentType).toMatch(/^image\/gif/);
      expect((await http(`${allowed.url}${msg.parts[0].url}`)).body.equals(gif)).toBe(true);
    } finally {
      sink.respondWith(200);
      await allowed.stop();
    }
  });
});

describe('signed webhooks (Standard Webhooks)', () => {
  it('with webhookSecrets on the account, reports and MO carry a signature the customer can verify', async () => {
    const secret = generateWebhookSecret();
    const accounts = testConfig({ dir: '.', reportUrl: `${sink.url}/signed-reports`, moUrl: `${sink.url}/signed-mo` }).accounts!.map((a, i) =>
      i === 0 ? { ...a, webhookSecrets: [secret] } : a,
    );
    const signed = await startTestGateway({ accounts });
    try {
      const r = await send(signed.url, simpleMt('15551230001'));
      expect(r.status).toBe(200);
      const { contentType, body } = buildMultipart([
        { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: JSON.stringify({ source: '14553011955', destinations: ['88600'] }) },
        { headers: { 'Content-Type': 'text/plain' }, body: 'signed MO' },
      ]);
      expect((await http(`${signed.url}/sandbox/mo`, { method: 'POST', headers: { 'content-type': contentType }, body })).status).toBe(200);
      const got = await sink.waitFor(
        (reqs) => reqs.some((x) => x.url === '/signed-reports') && reqs.some((x) => x.url === '/signed-mo'),
        10_000,
      );
      for (const req of got.filter((x) => x.url.startsWith('/signed-'))) {
        expect(req.headers['webhook-id']).toBe(req.headers['x-mmsgate-delivery-id']);
        expect(verifyWebhook([secret], req.headers, req.body)).toBe(true);
        // A different secret does not verify: the signature really covers this body.
        expect(() => verifyWebhook([generateWebhookSecret()], req.headers, req.body)).toThrow();
      }
    } finally {
      await signed.stop();
    }
  });
});

describe('sandbox defaults', () => {
  let sandbox: TestGateway;
  beforeAll(async () => {
    sandbox = await startSandboxGateway();
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('the documentation credentials send, and the report shows up in GET /sandbox/inbox', async () => {
    const auth = basic('Aladdin', 'open sesame');
    expect(auth).toBe('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=='); // the seed's example header
    const r = await send(sandbox.url, simpleMt('15551230001', { mtConfig: 'config1', mobileOperatorId: 77 }), auth);
    expect(r.status, r.body.toString()).toBe(200);
    const mtId = r.json.mtId as number;
    const entry = await eventually(async () => {
      const inbox = await http(`${sandbox.url}/sandbox/inbox?box=reports`);
      expect(inbox.status).toBe(200);
      return (inbox.json as any[]).find((e) => e.body?.mtId === mtId);
    }, 10_000, 'report in the sandbox inbox');
    expect(entry.box).toBe('reports');
    expect(entry.body).toMatchObject({ type: 'REPORT', mtId, status: 'Retrieved', outcomeId: 1 });
    expect(entry.body.date).toMatch(DATE_WITH_OFFSET);
    expect(entry.headers['x-request-id']).toBe(r.headers['x-request-id']);
  });

  it('an MO from a virtual handset to 88600 shows up in GET /sandbox/inbox', async () => {
    const { contentType, body } = buildMultipart([
      { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: JSON.stringify({ source: '14553011955', destinations: ['88600'], subject: 'Norwegian Blue' }) },
      { headers: { 'Content-Type': 'text/plain', 'Content-Id': 'text.txt' }, body: 'Here is a picture of the bird in question' },
    ]);
    const r = await http(`${sandbox.url}/sandbox/mo`, { method: 'POST', headers: { 'content-type': contentType }, body });
    expect(r.status, r.body.toString()).toBe(200);
    const moId = r.json.moId as number;
    const entry = await eventually(async () => {
      const inbox = await http(`${sandbox.url}/sandbox/inbox?box=mo`);
      return (inbox.json as any[]).find((e) => typeof e.body === 'string' && e.body.includes(`"moId":${moId}`));
    }, 10_000, 'MO in the sandbox inbox');
    expect(entry.contentType).toMatch(/^multipart\/mixed; boundary=/);
    expect(entry.body).toContain('"type":"MO"');
    // The content part travels base64-encoded.
    expect(entry.body).toContain(Buffer.from('Here is a picture of the bird in question').toString('base64'));
  });
});
