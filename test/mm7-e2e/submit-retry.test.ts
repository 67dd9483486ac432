/**
 * How the gateway reacts to an MMSC that refuses a SubmitReq: MM7 3xxx and HTTP 503 are temporary (retried on the
 * submit schedule, then delivered), 2002 Address Error is permanent (TS 23.140 Table 28) and becomes the customer's
 * Rejected report with outcome 27 (src/core/outcomes.ts OPERATOR_ADDRESS_ERROR).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMm7Peer, type Mm7Peer, type PeerReply } from '../support/mm7-peer.ts';
import { send, simpleMt, sleep, startSink, type Sink, type TestGateway } from '../support/gateway.ts';
import { jsonOf, recipientOf, startMm7Gateway, waitForMt, waitForReport } from './helpers.ts';

let peer: Mm7Peer;
let sink: Sink;
let gw: TestGateway;
/** Replies per destination number, used in order (the last repeats). */
const plans = new Map<string, PeerReply[]>();
const seen = new Map<string, number>();

beforeAll(async () => {
  peer = await startMm7Peer();
  peer.script((req) => {
    const to = recipientOf(req);
    const n = seen.get(to) ?? 0;
    seen.set(to, n + 1);
    const plan = plans.get(to) ?? [{}];
    return { messageId: `mmsc-${to}-${n + 1}`, ...plan[Math.min(n, plan.length - 1)] };
  });
  sink = await startSink();
  gw = await startMm7Gateway(peer, { reportUrl: `${sink.url}/reports` });
});
afterAll(async () => {
  await gw?.stop();
  await sink?.close();
  await peer?.close();
});

async function sendTo(destination: string): Promise<number> {
  const r = await send(gw.url, simpleMt(destination));
  expect(r.status, r.body.toString()).toBe(200);
  return r.json.mtId as number;
}

describe('temporary refusals are retried with backoff', () => {
  it.each([
    { label: 'MM7 3000 Server Error', destination: '15552000001', first: { mm7Status: 3000, statusText: 'Server Error' } as PeerReply },
    { label: 'HTTP 503', destination: '15552000002', first: { httpStatus: 503, rawBody: 'Service Unavailable', headers: { 'content-type': 'text/plain' } } as PeerReply },
  ])('$label, then 1000: delivered to the MMSC on the retry', async ({ destination, first }) => {
    plans.set(destination, [first, { mm7Status: 1000 }]);
    const mtId = await sendTo(destination);
    const doc = await waitForMt(gw, mtId, (d) => d.state === 'submitted', 'submitted after a retry');
    expect(doc.operatorMessageId).toBe(`mmsc-${destination}-2`);
    const attempts = peer.requests.filter((r) => recipientOf(r) === destination);
    expect(attempts).toHaveLength(2);
    // The same message both times (a retry, not a second message).
    expect(attempts[1]!.content.map((p) => p.bytes.toString())).toEqual(attempts[0]!.content.map((p) => p.bytes.toString()));
    expect(attempts[1]!.content.length).toBeGreaterThan(0);
    // Backoff: the first retry waits the first scheduled delay (100 ms, +/-20 % jitter).
    expect(attempts[1]!.receivedAt - attempts[0]!.receivedAt).toBeGreaterThanOrEqual(75);
    const types = doc.events.map((e: any) => e.type);
    expect(types.filter((t: string) => t === 'submit-retry')).toHaveLength(1);
    expect(types.indexOf('submit-retry')).toBeLessThan(types.indexOf('submitted'));
    const retry = doc.events.find((e: any) => e.type === 'submit-retry');
    expect(Date.parse(retry.detail.nextAttemptAt) - Date.parse(retry.at)).toBeGreaterThanOrEqual(75);
    // No report yet: the message waits for the operator's delivery report.
    expect(sink.requests.filter((r) => jsonOf(r).mtId === mtId)).toHaveLength(0);
  });
});

describe('a permanent refusal', () => {
  it('2002 Address Error: not retried, the customer gets Rejected with outcome 27', async () => {
    const destination = '15552000003';
    plans.set(destination, [{ mm7Status: 2002, statusText: 'Address Error' }]);
    const mtId = await sendTo(destination);
    const report = await waitForReport(sink, mtId);
    expect(jsonOf(report)).toMatchObject({
      type: 'REPORT',
      mtId,
      status: 'Rejected',
      outcomeId: 27,
      outcomeDescription: 'The mobile operator refused the recipient address.',
    });
    const doc = await waitForMt(gw, mtId, (d) => d.state === 'failed', 'failed');
    expect(doc).toMatchObject({ status: 'Rejected', outcomeId: 27 });
    expect(doc.events.map((e: any) => e.type)).toContain('submit-rejected');
    expect(doc.events.map((e: any) => e.type)).not.toContain('submit-retry');
    // Longer than the whole retry schedule: still the one attempt.
    await sleep(400);
    expect(peer.requests.filter((r) => recipientOf(r) === destination)).toHaveLength(1);
  });
});
