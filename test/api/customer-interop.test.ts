/**
 * Sends as customers' own MIME and HTTP stacks write them, replayed from captured bytes (no Python needed to run):
 * what the customer sees in the status API and what the handset receives.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pythonContentIdsRequest } from '../mime/support.ts';
import { eventually, http, send, simpleMt, startTestGateway, status, type TestGateway } from '../support/gateway.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.stop();
});

describe("a send written by Python's email package (EmailMessage, policy.SMTP)", () => {
  it('keeps the Content-Ids Python wrote as RFC 2047 encoded-words, and the exact JPEG bytes', async () => {
    // test/mime/encoded-words.test.ts describes the fixture: Content-Ids `<Grüße Bild.jpg>` and a 94-character one.
    const r = await send(gw.url, pythonContentIdsRequest());
    expect(r.status, r.body.toString()).toBe(200);
    const mtId = r.json.mtId as number;
    const s = await status(gw.url, mtId);
    expect(s.json.parts.map((p: { contentId: string }) => p.contentId)).toEqual(['Grüße Bild.jpg', `${'a'.repeat(90)}.jpg`]);

    const msg = await eventually(async () => {
      const h = await http(`${gw.url}/sandbox/handsets/15550108001/messages`);
      return (h.json as { mtId: number; parts: { contentId: string; url: string }[] }[]).find((m) => m.mtId === mtId);
    });
    for (const part of msg.parts) {
      const bytes = (await http(`${gw.url}${part.url}`)).body;
      expect(createHash('sha256').update(bytes).digest('hex')).toBe('cde388fc3b766faceb7f3907b4725dadd08bd87d804dff57d9a80206619d47be');
    }
  });
});

describe('a compressed request body', () => {
  it('is refused as an unsupported Content-Encoding (415, Accept-Encoding: identity), not as malformed multipart', async () => {
    const req = simpleMt('15550108002');
    const r = await send(gw.url, { contentType: req.contentType, body: gzipSync(req.body) }, undefined, { 'content-encoding': 'gzip' });
    expect(r.status).toBe(415);
    expect(r.json.code).toBe('UNSUPPORTED_CONTENT_ENCODING');
    expect(r.json.description).toContain('gzip');
    expect(r.headers['accept-encoding']).toBe('identity');
  });

  it('"identity" is no content coding: the send is accepted', async () => {
    const r = await send(gw.url, simpleMt('15550108003'), undefined, { 'content-encoding': 'Identity' });
    expect(r.status, r.body.toString()).toBe(200);
  });
});
