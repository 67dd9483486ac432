/**
 * A test mtConfig (`simulate: true`, the OpenMarket "test mtConfig"): on a gateway whose only operator is a real MM7
 * link, messages sent with it are validated and routed as usual but never reach the MMSC; the simulator answers for
 * the routed operator per the destination's test number, and the customer gets the report as usual. The account's
 * other mtConfigs still go to the MMSC.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMm7Peer, type Mm7Peer } from '../support/mm7-peer.ts';
import { send, simpleMt, startSink, type Sink, type TestGateway } from '../support/gateway.ts';
import { jsonOf, OP_ID, startMm7Gateway, waitForMt, waitForPeer, waitForReport } from './helpers.ts';

describe('a test mtConfig in front of a real MM7 operator', () => {
  let peer: Mm7Peer;
  let sink: Sink;
  let gw: TestGateway;

  beforeAll(async () => {
    peer = await startMm7Peer();
    sink = await startSink();
    gw = await startMm7Gateway(peer, {
      reportUrl: `${sink.url}/reports`,
      moreMtConfigs: { testing: { reportUrl: `${sink.url}/reports`, simulate: true } },
    });
  });
  afterAll(async () => {
    await gw?.stop();
    await sink?.close();
    await peer?.close();
  });

  it('reports the outcomes the test numbers ask for, without a request to the MMSC or a handset copy', async () => {
    const cases = [
      { destination: '15550100009', status: 'Rejected', outcomeId: 9 },
      { destination: '15550100004', status: 'Deferred', outcomeId: 4 },
      { destination: '15551239999', status: 'Retrieved', outcomeId: 1 },
    ];
    const sent = [];
    for (const c of cases) {
      const r = await send(gw.url, simpleMt(c.destination, { mtConfig: 'testing' }));
      expect(r.status).toBe(200);
      sent.push({ ...c, mtId: (r.json as { mtId: number }).mtId });
    }
    for (const s of sent) {
      const report = jsonOf(await waitForReport(sink, s.mtId));
      expect(report).toMatchObject({ type: 'REPORT', mtId: s.mtId, status: s.status, outcomeId: s.outcomeId });
      const doc = await waitForMt(gw, s.mtId, (d) => d.events.some((e: { type: string }) => e.type === 'submitted'), 'submitted');
      // Routed to the real operator as usual; the event log says the simulator answered for it.
      expect(doc.mobileOperatorId).toBe(OP_ID);
      expect(doc.events.find((e: { type: string }) => e.type === 'submitted').detail).toMatchObject({ simulator: true, testMtConfig: true });
      expect(doc.events.find((e: { type: string }) => e.type === 'accepted').detail).toMatchObject({ testMtConfig: true });
      // No virtual handset holds a copy, so none is said to have received one.
      expect(doc.events.map((e: { type: string }) => e.type)).not.toContain('handset-received');
    }
    expect(peer.requests).toHaveLength(0);
    expect(await gw.gateway.store.listHandsetMessages('15551239999', 10)).toHaveLength(0);
  });

  it('still validates as production does (an unknown operator is refused) and sends the other mtConfigs to the MMSC', async () => {
    const refused = await send(gw.url, simpleMt('15551230005', { mtConfig: 'testing', mobileOperatorId: 999 }));
    expect(refused.status).toBe(400);
    expect((refused.json as { code: string }).code).toBe('UNKNOWN_OPERATOR');

    peer.script([{ mm7Status: 1000, messageId: 'real-1' }]);
    const live = await send(gw.url, simpleMt('15551230006', { mtConfig: 'config1' }));
    expect(live.status).toBe(200);
    await waitForPeer(peer, 1);
  });
});
