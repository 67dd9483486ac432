import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, http, send, simpleMt, startSink, startTestGateway, status, type Sink, type TestGateway } from '../support/gateway.ts';

/** The simulator with deliveryDelay 0 delivers and reports within the submission's own unit (no sim-deliver job). */
describe('simulator with deliveryDelay 0', () => {
  let sink: Sink;
  let gw: TestGateway;
  beforeAll(async () => {
    sink = await startSink();
    gw = await startTestGateway(
      { operators: [{ id: 77, name: 'Sim', type: 'simulator', prefixes: ['1'], simulator: { deliveryDelay: 0 } }] },
      { reportUrl: `${sink.url}/reports` },
    );
  });
  afterAll(async () => {
    await gw.stop();
    await sink.close();
  });

  const reportsFor = (mtId: number) => sink.requests.filter((r) => JSON.parse(r.body.toString()).mtId === mtId);

  it('delivers to the handset and reports Retrieved/1 once, with no separate delivery job', async () => {
    const r = await send(gw.url, simpleMt('15551230001'));
    const mtId = r.json.mtId as number;
    await eventually(async () => (reportsFor(mtId).length > 0 ? true : undefined));
    const [report] = reportsFor(mtId);
    expect(JSON.parse(report!.body.toString())).toMatchObject({ type: 'REPORT', mtId, status: 'Retrieved', outcomeId: 1 });
    const st = (await status(gw.url, mtId)).json;
    expect(st.state).toBe('delivered');
    const types = (st.events as { type: string }[]).map((e) => e.type);
    expect(types.indexOf('submitted')).toBeLessThan(types.indexOf('report-received'));
    expect((st.jobs as { kind: string }[]).map((j) => j.kind).sort()).toEqual(['report', 'submit']);
    const handset = (await http(`${gw.url}/sandbox/handsets/15551230001/messages`)).json as { mtId: number }[];
    expect(handset.map((m) => m.mtId)).toContain(mtId);
  });

  it('keeps the test numbers: 15550100009 -> Rejected/9 without a handset copy; 15550199000 -> handset, no report', async () => {
    const rejected = (await send(gw.url, simpleMt('15550100009'))).json.mtId as number;
    const silent = (await send(gw.url, simpleMt('15550199000'))).json.mtId as number;
    await eventually(async () => (reportsFor(rejected).length > 0 ? true : undefined));
    expect(JSON.parse(reportsFor(rejected)[0]!.body.toString())).toMatchObject({ status: 'Rejected', outcomeId: 9 });
    expect(((await http(`${gw.url}/sandbox/handsets/15550100009/messages`)).json as unknown[]).length).toBe(0);
    await eventually(async () => (((await http(`${gw.url}/sandbox/handsets/15550199000/messages`)).json as unknown[]).length > 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    expect(reportsFor(silent)).toHaveLength(0);
    expect((await status(gw.url, silent)).json.state).toBe('submitted');
  });
});
