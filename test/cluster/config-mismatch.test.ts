/**
 * Nodes of one cluster whose configurations differ for a while (a rolling change: an operator or an account added on
 * some nodes first; or a node started from the deployment page's example, which names neither): any node claims any
 * job, and one that lacks the message's operator or account must leave the job to a node that has them, not fail
 * the message for good (outcome 20) or drop its delivery report.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.ts';
import { freshPgDatabase } from '../support/postgres.ts';
import { eventually, send, simpleMt, sleep, startSink, startTestGateway, status, testConfig, type Sink, type TestGateway } from '../support/gateway.ts';

/** The node configuration of docs/deployment.md ("Node configuration"): store and identity, no accounts or operators. */
function bareNode(store: string, _reportUrl: string): ConfigInput {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    store,
    node: { id: 'bare', dataCenter: 'dc1' },
    log: { level: 'silent' },
    queue: { leaseTime: '5s', pollInterval: '50ms' },
    submit: { retrySchedule: ['50ms', '100ms', '200ms'], maxAge: '1m' },
    webhooks: { reports: { retrySchedule: ['50ms', '100ms', '200ms'], maxAge: '1m' }, mo: { retrySchedule: ['50ms'], maxAge: '1m' } },
  };
}

/** The same node with the accounts of the others but no operator yet (an operator being added node by node). */
function nodeWithoutOperator(store: string, reportUrl: string): ConfigInput {
  const { accounts } = testConfig({ dir: '.', reportUrl });
  return { ...bareNode(store, reportUrl), accounts };
}

describe('nodes with different configurations on one PostgreSQL database', () => {
  const started: TestGateway[] = [];
  const sinks: Sink[] = [];
  afterAll(async () => {
    for (const g of started.reverse()) await g.stop();
    for (const s of sinks) await s.close();
  });

  it.each([
    ['neither the account nor the operator (the page\'s example)', bareNode, 'account acme'],
    ['the account but not the operator', nodeWithoutOperator, 'operator 77'],
  ])("a node knowing %s leaves the message's jobs to one that knows them: delivered, reported once", async (_what, otherConfig, unknown) => {
    const store = await freshPgDatabase();
    const sink = await startSink();
    sinks.push(sink);
    const full = async (id: string, workers: boolean) => {
      const g = await startTestGateway({ store, node: { id } }, { reportUrl: `${sink.url}/reports`, start: { workers } });
      started.push(g);
      return g;
    };
    // Accepts only (no workers), so every job of these messages is claimed by the other nodes.
    const accepting = await full('full-accepting', false);
    started.push(await startTestGateway({}, { raw: otherConfig(store, `${sink.url}/reports`) }));

    const mtIds: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await send(accepting.url, simpleMt(`1555128000${i}`));
      expect(r.status).toBe(200);
      mtIds.push((r.json as { mtId: number }).mtId);
    }
    // Only the bare node runs jobs now: it may retry them, never decide them.
    await sleep(1500);
    for (const mtId of mtIds) expect((await status(accepting.url, mtId)).json).toMatchObject({ state: 'accepted', outcomeId: null });

    await full('full-working', true);
    const reports = await sink.waitFor((reqs) => new Set(reqs.map((q) => JSON.parse(q.body.toString()).mtId)).size === mtIds.length, 20_000);
    await sleep(500); // a second report of one message would arrive by now
    const perMt = new Map<number, number>();
    for (const q of sink.requests) perMt.set(JSON.parse(q.body.toString()).mtId, (perMt.get(JSON.parse(q.body.toString()).mtId) ?? 0) + 1);
    expect([...perMt.keys()].sort()).toEqual([...mtIds].sort());
    expect([...perMt.values()].every((n) => n === 1)).toBe(true);
    expect(reports.every((q) => JSON.parse(q.body.toString()).status === 'Retrieved')).toBe(true);
    let leftByBare = 0;
    for (const mtId of mtIds) {
      const s = (await status(accepting.url, mtId)).json as { state: string; events: { type: string; node: string; detail: { error?: string } }[] };
      expect(s.state).toBe('delivered');
      expect(s.events.map((e) => e.type)).not.toContain('report-not-sent');
      expect(s.events.map((e) => e.type)).not.toContain('submit-failed');
      // The submissions the bare node left are on record, and say why.
      for (const e of s.events.filter((x) => x.node === 'bare' && x.type.startsWith('submit'))) {
        expect(e).toMatchObject({ type: 'submit-retry', detail: { error: `${unknown} is not in this node's configuration` } });
        leftByBare++;
      }
    }
    expect(leftByBare).toBeGreaterThanOrEqual(mtIds.length);
  });

  it("hands a message for an operator one node lacks to the node that has it at once, not after the schedule's first delay", async () => {
    const store = await freshPgDatabase();
    const sink = await startSink();
    sinks.push(sink);
    // A long first delay: a node leaving the job for others must not make the message wait for it.
    const submit = { retrySchedule: ['60s', '5m'], maxAge: '1h' };
    const start = async (config: ConfigInput) => {
      const g = await startTestGateway({}, { raw: config });
      started.push(g);
      return g;
    };
    const full = (id: string, workers: boolean) => startTestGateway({ store, node: { id }, submit }, { reportUrl: `${sink.url}/reports`, start: { workers } });
    // Node A lacks operator 77, so it cannot accept sends for it either: a node with workers off accepts them.
    const accepting = await full('accepting', false);
    started.push(accepting);
    await start({ ...nodeWithoutOperator(store, `${sink.url}/reports`), node: { id: 'a-lacks-77', dataCenter: 'dc1' }, submit });
    type Status = { state: string; events: { type: string; node: string }[] };
    const events = async (mtId: number) => ((await status(accepting.url, mtId)).json as Status).events;
    const sendSome = async (n: number, from: number) => {
      const ids: number[] = [];
      for (let i = 0; i < n; i++) {
        const r = await send(accepting.url, simpleMt(`15551280${from + i}`));
        expect(r.status).toBe(200);
        ids.push((r.json as { mtId: number }).mtId);
      }
      return ids;
    };
    const allSubmitted = (ids: number[], within: number) =>
      eventually(async () => {
        for (const mtId of ids) if (!(await events(mtId)).some((e) => e.type === 'submitted')) return undefined;
        return true;
      }, within, 'every message submitted');

    // A alone: it claims each submission and passes it on (one event each), and then leaves it alone.
    const first = await sendSome(4, 0);
    for (const mtId of first) {
      await eventually(async () => ((await events(mtId)).some((e) => e.node === 'a-lacks-77' && e.type === 'submit-retry') ? true : undefined), 10_000, 'passed on by A');
    }
    await sleep(500);
    // B, which has the operator, joins: it takes them at once (they would otherwise wait the 60 s on A's retry).
    const b = await full('b-has-77', true);
    started.push(b);
    const joined = Date.now();
    await allSubmitted(first, 10_000);
    expect(Date.now() - joined).toBeLessThan(10_000);

    // Both running: whichever claims a submission first, B submits it at once.
    const more = await sendSome(8, 10);
    await allSubmitted(more, 10_000);
    for (const mtId of [...first, ...more]) {
      const evs = await events(mtId);
      expect(evs.filter((e) => e.type === 'submitted').map((e) => e.node)).toEqual(['b-has-77']);
      // Held back from A after its pass: A passes each message on at most once.
      expect(evs.filter((e) => e.node === 'a-lacks-77' && e.type === 'submit-retry').length).toBeLessThanOrEqual(1);
    }
  });
});
