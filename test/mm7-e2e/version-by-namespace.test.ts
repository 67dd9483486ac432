/**
 * An operator link configured with a REL-5 namespace and no `version`: the SubmitReq carries the MM7Version that goes
 * with the namespace (5.3.0), as docs/configuration.md promises. MMSCs check the pair (operators publish which
 * namespaces each MM7Version accepts) and answer a mismatch with a Fault holding RSErrorRsp 4002 Unsupported version
 * (TS 23.140 §8.7), which ends the message as rejected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childText } from '../../src/operators/mm7/mm7-xml.ts';
import { startMm7Peer, type Mm7Peer, type RecordedSubmit } from '../support/mm7-peer.ts';
import { send, simpleMt, type TestGateway } from '../support/gateway.ts';
import { NS_BASE, startMm7Gateway, waitForMt } from './helpers.ts';

let peer: Mm7Peer;
let gw: TestGateway;

/** The MMSC's check: a REL-5 namespace takes a 5.x MM7Version, a REL-6 one a 6.x. */
function versionFits(r: RecordedSubmit): boolean {
  const env = r.envelope;
  if (!env?.namespace) return false;
  const version = childText(env.operation, 'MM7Version') ?? '';
  const release = /REL-(\d+)-MM7/.exec(env.namespace)?.[1];
  return release !== undefined && version.startsWith(`${release}.`);
}

beforeAll(async () => {
  peer = await startMm7Peer();
  peer.script((r) => (versionFits(r) ? { messageId: 'rel5-msg-1' } : { fault: true, mm7Status: 4002, statusText: 'Unsupported version' }));
  gw = await startMm7Gateway(peer, { namespace: 'REL-5-MM7-1-3', version: null });
});
afterAll(async () => {
  await gw?.stop();
  await peer?.close();
});

describe('MM7Version left to the namespace', () => {
  it('a REL-5-MM7-1-3 link sends MM7Version 5.3.0 and the MMSC accepts the message', async () => {
    const r = await send(gw.url, simpleMt('15551239001'));
    expect(r.status, r.body.toString()).toBe(200);
    const doc = await waitForMt(gw, r.json.mtId, (d) => d.state !== 'accepted', 'left the queue');
    const [rec] = peer.requests;
    expect(rec!.envelope!.namespace).toBe(NS_BASE + 'REL-5-MM7-1-3');
    expect(childText(rec!.envelope!.operation, 'MM7Version')).toBe('5.3.0');
    expect([doc.state, doc.operatorMessageId, doc.outcomeId]).toEqual(['submitted', 'rel5-msg-1', null]);
  });
});
