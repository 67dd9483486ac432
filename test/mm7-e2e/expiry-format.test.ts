/**
 * operators[].mm7.expiryFormat: absolute. TS 23.140 §8.1.1 lets ExpiryDate be relative (xs:duration) or absolute
 * (xs:dateTime); some MMSCs take only the absolute form (Skycore's MM7 documentation). With the setting, the SubmitReq
 * the MMSC receives carries the configured expiry as a date after the moment of submission.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childText } from '../../src/operators/mm7/mm7-xml.ts';
import { startMm7Peer, type Mm7Peer } from '../support/mm7-peer.ts';
import { send, simpleMt, type TestGateway } from '../support/gateway.ts';
import { startMm7Gateway, waitForPeer, waitForSubmitted } from './helpers.ts';

let peer: Mm7Peer;
let gw: TestGateway;

beforeAll(async () => {
  peer = await startMm7Peer();
  peer.script([{ messageId: 'abs-expiry-1' }]);
  gw = await startMm7Gateway(peer, { expiryFormat: 'absolute' });
});
afterAll(async () => {
  await gw?.stop();
  await peer?.close();
});

describe('ExpiryDate written as a date', () => {
  it('the SubmitReq carries the default expiry (2 days) as a UTC xs:dateTime from the time of submission', async () => {
    const before = Date.now();
    const r = await send(gw.url, simpleMt('15551239101'));
    expect(r.status, r.body.toString()).toBe(200);
    await waitForSubmitted(gw, r.json.mtId);
    const after = Date.now();
    const [rec] = await waitForPeer(peer, 1);
    const expiry = childText(rec!.envelope!.operation, 'ExpiryDate')!;
    expect(expiry).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    const twoDays = 2 * 86_400_000;
    expect(Date.parse(expiry)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + twoDays);
    expect(Date.parse(expiry)).toBeLessThanOrEqual(after + twoDays);
  });
});
