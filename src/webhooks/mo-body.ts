/**
 * The MO webhook body, in exactly the OpenMarket HTTP MMS v2 MO shape: multipart/mixed; first part JSON with
 * Content-Id `main` ({type "MO", destinations, ccs, bccs, source, subject, moId, mobileOperatorId, date, userAgent}),
 * then each content part base64-encoded with Content-Type and Content-Id. The boundary is a bare token, as in the
 * seed's `Content-Type: multipart/mixed; boundary=mimeboundary`.
 */
import type { MoMessage } from '../core/message.ts';
import { base64Body, buildMultipart } from '../shared/multipart-writer.ts';
import { reportDate } from '../pipeline/units.ts';

export function moJson(mo: MoMessage): Record<string, unknown> {
  return {
    type: 'MO',
    destinations: mo.destinations,
    ccs: mo.ccs,
    bccs: mo.bccs,
    source: mo.source,
    subject: mo.subject ?? '',
    moId: mo.moId,
    mobileOperatorId: mo.operatorId,
    date: reportDate(mo.receivedAt),
    userAgent: mo.userAgent ?? '',
  };
}

/** Build the multipart body; `bytesOf` supplies each part's bytes (from the blob store). */
export function buildMoBody(mo: MoMessage, bytesOf: (sha256: string) => Buffer): { contentType: string; body: Buffer } {
  const parts = [
    { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: JSON.stringify(moJson(mo)) },
    ...mo.parts.map((p) => ({
      headers: { 'Content-Type': p.contentType, 'Content-Id': p.contentId, 'Content-Transfer-Encoding': 'base64' },
      body: base64Body(bytesOf(p.sha256!)),
    })),
  ];
  // A boundary of token characters, written bare as in the seed's MO (`boundary=mimeboundary`): the default one starts
  // with "=", which RFC 2045 §5.1 makes the writer quote, and a customer parser written against the seed's example
  // (one that takes everything after "boundary=") would then look for a delimiter with quotes in it. Every part is
  // checked against the boundary, and the content parts are base64, so the prefix costs no safety.
  const { contentType, body } = buildMultipart(parts, { subtype: 'mixed', boundaryPrefix: 'mmsgate_' });
  return { contentType, body };
}
