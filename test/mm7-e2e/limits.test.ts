/**
 * Per-operator limits toward the MMSC (operators contract a throughput and refuse VASPs that exceed it): with
 * limits.concurrency 1 the MMSC never has two SubmitReq in flight; with a higher limit it does (so the recorder
 * can see overlap at all); the schema's default limits (messagesPerSecond 0 = unlimited) give a working link.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMm7Peer, type Mm7Peer } from '../support/mm7-peer.ts';
import { send, simpleMt, type TestGateway } from '../support/gateway.ts';
import { startMm7Gateway, waitForPeer, waitForSubmitted } from './helpers.ts';

/** Script the peer to hold every SubmitReq for `delayMs`, recording how many are in flight at once. */
function recordOverlap(peer: Mm7Peer, delayMs: number): { maxInFlight(): number } {
  let inFlight = 0;
  let max = 0;
  peer.script((_req, index) => {
    inFlight++;
    max = Math.max(max, inFlight);
    // Created before the peer's own reply timer of the same length, so it fires first: the count drops just
    // before the answer leaves, never after the next request arrived.
    setTimeout(() => inFlight--, delayMs);
    return { delayMs, messageId: `mmsc-limit-${index + 1}` };
  });
  return { maxInFlight: () => max };
}

/** Send `n` MTs at once to distinct 1555 numbers; returns their mtIds. */
async function sendBurst(gw: TestGateway, n: number, base: number): Promise<number[]> {
  const results = await Promise.all(Array.from({ length: n }, (_, i) => send(gw.url, simpleMt(String(base + i)))));
  for (const r of results) expect(r.status, r.body.toString()).toBe(200);
  return results.map((r) => r.json.mtId as number);
}

describe.each([
  { concurrency: 1, delayMs: 120, expectMax: (m: number) => expect(m).toBe(1) },
  {
    concurrency: 3,
    delayMs: 300,
    expectMax: (m: number) => {
      expect(m).toBeGreaterThanOrEqual(2);
      expect(m).toBeLessThanOrEqual(3);
    },
  },
])('limits.concurrency $concurrency', ({ concurrency, delayMs, expectMax }) => {
  let peer: Mm7Peer;
  let gw: TestGateway;
  beforeAll(async () => {
    peer = await startMm7Peer();
    gw = await startMm7Gateway(peer, { concurrency });
  });
  afterAll(async () => {
    await gw?.stop();
    await peer?.close();
  });

  it(`the MMSC sees at most ${concurrency} SubmitReq in flight, and every message gets through`, async () => {
    const rec = recordOverlap(peer, delayMs);
    const mtIds = await sendBurst(gw, 5, 15554000000 + concurrency * 100);
    const docs = await Promise.all(mtIds.map((id) => waitForSubmitted(gw, id)));
    expect(new Set(docs.map((d) => d.operatorMessageId)).size).toBe(5);
    expect(peer.requests).toHaveLength(5);
    expectMax(rec.maxInFlight());
  });
});

describe('default limits', () => {
  it('an MM7 operator without limits.messagesPerSecond (schema default 0 = unlimited) starts and submits', async () => {
    const peer = await startMm7Peer();
    let gw: TestGateway | undefined;
    try {
      gw = await startMm7Gateway(peer, { messagesPerSecond: null });
      const [mtId] = await sendBurst(gw, 1, 15554000900);
      await waitForPeer(peer, 1);
      const doc = await waitForSubmitted(gw, mtId!);
      expect(doc.operatorMessageId).toBe('peer-msg-1');
    } finally {
      await gw?.stop();
      await peer.close();
    }
  });
});
