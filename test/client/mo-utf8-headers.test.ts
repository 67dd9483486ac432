/**
 * An MO whose parts carry non-ASCII Content-Ids and file names (a handset's "Grüße.jpg"), as the gateway writes it
 * (src/webhooks/mo-body.ts: UTF-8, the way its own reader takes them), read back with the customer client's parseMo.
 */
import { describe, expect, it } from 'vitest';
import { parseMo } from '../../src/client/index.ts';
import type { MoMessage } from '../../src/core/message.ts';
import { buildMoBody } from '../../src/webhooks/mo-body.ts';

const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('Grüße\r\n--x\r\n', 'utf8'), Buffer.alloc(200, 0xc3)]);
const TEXT = Buffer.from('Grüße aus Köln 日本語', 'utf8');

const mo: MoMessage = {
  moId: 100000000000001,
  operatorId: 77,
  source: '14155550100',
  destinations: ['88600'],
  ccs: [],
  bccs: [],
  subject: 'Grüße 🎉',
  userAgent: 'SimPhone MMS/1.0',
  accountId: 'acme',
  number: '88600',
  state: 'delivered',
  operatorMessageId: null,
  receivedAt: Date.UTC(2026, 0, 2, 3, 4, 5),
  parts: [
    { contentType: 'text/plain; charset=utf-8', contentId: 'Grüße.txt', sha256: 'text', size: TEXT.length },
    { contentType: 'image/jpeg; name="Grüße Bild.jpg"', contentId: '写真 1.jpg', sha256: 'jpeg', size: JPEG.length },
  ],
};

describe('parseMo on an MO with non-ASCII part headers', () => {
  it('gives back the Content-Ids and Content-Types the handset sent, and the exact bytes', () => {
    const { contentType, body } = buildMoBody(mo, (sha) => (sha === 'text' ? TEXT : JPEG));
    const parsed = parseMo(contentType, body);
    expect(parsed.mo.subject).toBe('Grüße 🎉');
    expect(parsed.parts.map((p) => [p.contentType, p.contentId])).toEqual([
      ['text/plain; charset=utf-8', 'Grüße.txt'],
      ['image/jpeg; name="Grüße Bild.jpg"', '写真 1.jpg'],
    ]);
    expect(parsed.parts[0]!.bytes.equals(TEXT)).toBe(true);
    expect(parsed.parts[1]!.bytes.equals(JPEG)).toBe(true);
  });
});
