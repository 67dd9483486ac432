/**
 * MO end to end: a virtual handset sends an MMS to the account's short code (POST /sandbox/mo); the account's moUrl
 * receives it as OpenMarket's MO multipart/mixed (JSON main part + content parts), content byte-identical. An MO to
 * a number nobody owns is stored and not delivered anywhere.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boundaryOf, parseContentType } from '../../src/mime/content-type.ts';
import { readAllParts } from '../../src/mime/multipart-reader.ts';
import { DEFAULT_MULTIPART_LIMITS } from '../../src/mime/types.ts';
import { buildMultipart } from '../../src/shared/multipart-writer.ts';
import { http, sleep, startSink, startTestGateway, type HttpResult, type Sink, type TestGateway } from '../support/gateway.ts';

const DATE_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}$/;

let sink: Sink;
let gw: TestGateway;
beforeAll(async () => {
  sink = await startSink();
  gw = await startTestGateway({}, { moUrl: `${sink.url}/mo` });
});
afterAll(async () => {
  await gw?.stop();
  await sink?.close();
});

const text = 'Here is a picture of the bird in question — Norwegian Blue 🦜';
const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(5000), Buffer.from('\r\n--\r\n'), randomBytes(100)]);

function injectMo(json: Record<string, unknown>): Promise<HttpResult> {
  const { contentType, body } = buildMultipart([
    { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: JSON.stringify(json) },
    { headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Id': 'text.txt' }, body: text },
    { headers: { 'Content-Type': 'image/png', 'Content-Id': 'bird.png', 'Content-Transfer-Encoding': 'binary' }, body: png },
  ]);
  return http(`${gw.url}/sandbox/mo`, { method: 'POST', headers: { 'content-type': contentType }, body });
}

describe('MO to an owned short code', () => {
  it('arrives at the moUrl as multipart/mixed with the MO JSON and the exact content', async () => {
    const r = await injectMo({ source: '14553011955', destinations: ['88600'], subject: 'Norwegian Blue ✓' });
    expect(r.status, r.body.toString()).toBe(200);
    const moId = r.json.moId as number;
    expect(Number.isSafeInteger(moId) && moId > 0).toBe(true);

    await sink.waitFor((reqs) => reqs.some((x) => x.url === '/mo'), 10_000);
    const got = sink.requests.filter((x) => x.url === '/mo');
    expect(got).toHaveLength(1);
    const mo = got[0]!;
    expect(mo.method).toBe('POST');
    expect(mo.headers['x-request-id']).toMatch(/^[\x21-\x7e]{1,30}$/);
    expect(mo.headers['x-mmsgate-delivery-id']).toBeTruthy();
    const ct = String(mo.headers['content-type']);
    expect(parseContentType(ct).type).toBe('multipart/mixed');
    const boundary = boundaryOf(ct)!;
    expect(boundary).toBeTruthy();

    // Strict RFC 2046 parsing: what we send must not need our own leniency.
    const parts = await readAllParts(
      (async function* () {
        yield mo.body;
      })(),
      { boundary, lenient: false, limits: DEFAULT_MULTIPART_LIMITS },
    );
    expect(parts).toHaveLength(3);
    const [main, t, img] = parts as [(typeof parts)[0], (typeof parts)[0], (typeof parts)[0]];
    expect(main.contentType).toMatch(/^application\/json/);
    expect(main.contentId).toBe('main');
    const jsonText = main.body.toString('utf8');
    expect(jsonText).toMatch(new RegExp(`"moId":\\s*${moId}[,}]`)); // a JSON number
    const j = JSON.parse(jsonText);
    expect(j).toMatchObject({
      type: 'MO',
      moId,
      source: '14553011955',
      destinations: ['88600'],
      subject: 'Norwegian Blue ✓',
      mobileOperatorId: 77,
    });
    expect(j.date).toMatch(DATE_WITH_OFFSET);

    expect(t.contentType).toMatch(/^text\/plain/);
    expect(t.contentId).toBe('text.txt');
    expect(t.body.equals(Buffer.from(text, 'utf8'))).toBe(true);
    expect(img.contentType).toBe('image/png');
    expect(img.contentId).toBe('bird.png');
    expect(img.body.equals(png)).toBe(true);

    // Delivered once: no further posts.
    await sleep(400);
    expect(sink.requests.filter((x) => x.url === '/mo')).toHaveLength(1);
  });
});

describe('MO to a number nobody owns', () => {
  it('is stored (an moId comes back) and not delivered to any endpoint', async () => {
    const before = sink.requests.length;
    const r = await injectMo({ source: '14553011955', destinations: ['99999'], subject: 'Anyone?' });
    expect(r.status, r.body.toString()).toBe(200);
    expect(Number.isSafeInteger(r.json.moId) && r.json.moId > 0).toBe(true);
    // An owned MO sent afterwards arrives; the unowned one never does.
    const owned = await injectMo({ source: '14553011955', destinations: ['88600'], subject: 'Second' });
    expect(owned.status).toBe(200);
    await sink.waitFor((reqs) => reqs.slice(before).some((x) => x.body.includes(`"moId":${owned.json.moId}`)), 10_000);
    await sleep(400);
    const after = sink.requests.slice(before);
    expect(after).toHaveLength(1);
    expect(after.some((x) => x.body.includes(`"moId":${r.json.moId}`))).toBe(false);
    expect(after.some((x) => x.body.includes('Anyone?'))).toBe(false);
  });
});

describe('MO injection errors', () => {
  it('a source that is not an international number: 400 INVALID_SOURCE', async () => {
    const r = await injectMo({ source: '+1 555', destinations: ['88600'] });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ code: 'INVALID_SOURCE', description: expect.any(String) });
  });

  it('no destinations: 400 MISSING_FIELD', async () => {
    const r = await injectMo({ source: '14553011955' });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ code: 'MISSING_FIELD', description: expect.stringContaining('destinations') });
  });
});
