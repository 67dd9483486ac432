/**
 * What a customer whose endpoint misbehaves notices: reports held back while the endpoint is down arrive once it is
 * back, each retry of one delivery carrying the same X-Mmsgate-Delivery-Id; an endpoint answering 400 is tried
 * `webhooks.max4xxAttempts` times and then the delivery is kept as a dead job, visible in the status output.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  send,
  simpleMt,
  sleep,
  startSink,
  startTestGateway,
  status,
  type Sink,
  type SinkRequest,
  type TestGateway,
} from '../support/gateway.ts';
import { sendDeliveryReport, startMm7Peer, type Mm7Peer, type PeerAuth } from '../support/mm7-peer.ts';

let sink: Sink;
let gw: TestGateway;
beforeAll(async () => {
  sink = await startSink();
  gw = await startTestGateway({}, { reportUrl: `${sink.url}/reports` });
});
afterAll(async () => {
  await gw?.stop();
  await sink?.close();
});
afterEach(() => {
  sink.respondWith(200);
});

/** mtId of a report; reports of the MM7 gateway (its own store, so its mtIds repeat ours) are told apart by path. */
const mtIdOf = (r: SinkRequest): number => (r.url === '/reports' ? JSON.parse(r.body.toString()).mtId : -1);
const eventTypes = (st: { json: { events: { type: string }[] } }) => st.json.events.map((e) => e.type);
type StatusJob = { kind: string; state: string; attempts: number };
const reportJobs = (st: { json: { jobs: StatusJob[] } }) => st.json.jobs.filter((j) => j.kind === 'report');

/**
 * The status of `mtId` once the gateway has finished its `count` report jobs. The sink records a request before it
 * answers, but the gateway logs the attempt (report-delivered, the job done) only after reading that answer and
 * committing: a check of the event log made as soon as the sink has answered races that commit. The status is read
 * once more after the wait, since one status read takes the events and the jobs in two queries that a commit may
 * fall between.
 */
async function afterReports(url: string, mtId: number, count: number): Promise<Awaited<ReturnType<typeof status>>> {
  await eventually(async () => {
    const jobs = reportJobs(await status(url, mtId));
    return jobs.length === count && jobs.every((j) => j.state === 'done' || j.state === 'dead') ? true : undefined;
  }, 15_000, `report jobs of ${mtId} finished`);
  return status(url, mtId);
}

async function sendMany(destinations: string[]): Promise<number[]> {
  const ids: number[] = [];
  for (const d of destinations) {
    const r = await send(gw.url, simpleMt(d));
    expect(r.status).toBe(200);
    ids.push(r.json.mtId as number);
  }
  return ids;
}

describe('an endpoint that is down for a while', () => {
  it('refused connections, then 503s, then back: every report arrives, with a stable delivery id', async () => {
    await sink.refuse();
    const ids = await sendMany(['15551230001', '15550100009', '15551230002', '15550100002', '15551230003']);
    // While it is down the attempts fail and are logged on the message.
    for (const mtId of ids) {
      await eventually(async () => {
        const st = await status(gw.url, mtId);
        return eventTypes(st).filter((t) => t === 'report-attempt-failed').length >= 2 ? true : undefined;
      }, 10_000, `failed attempts logged for ${mtId}`);
    }
    expect(sink.requests.filter((r) => ids.includes(mtIdOf(r)))).toHaveLength(0);

    // Back, but overloaded: the first request of each delivery gets a 503.
    const seen = new Set<string>();
    sink.respondWith((r) => {
      const id = String(r.headers['x-mmsgate-delivery-id']);
      if (seen.has(id)) return 200;
      seen.add(id);
      return 503;
    });
    await sink.resume();

    for (const mtId of ids) {
      // Not merely answered 200 by the sink: committed as delivered by the gateway.
      const st = await afterReports(gw.url, mtId, 1);
      const got = sink.requests.filter((r) => mtIdOf(r) === mtId);
      // One 503 then one success, both the same delivery: same id, same request id, same body.
      expect(got.map((r) => r.answered)).toEqual([503, 200]);
      const deliveryId = got[0]!.headers['x-mmsgate-delivery-id'];
      expect(deliveryId).toMatch(/^\S+$/);
      expect(got[1]!.headers['x-mmsgate-delivery-id']).toBe(deliveryId);
      expect(got[1]!.headers['x-request-id']).toBe(got[0]!.headers['x-request-id']);
      expect(got[1]!.body.equals(got[0]!.body)).toBe(true);
      expect(JSON.parse(got[1]!.body.toString()).type).toBe('REPORT');

      const types = eventTypes(st);
      // The failed attempts come before the delivery in the event log, and the failure says why.
      expect(types.lastIndexOf('report-attempt-failed')).toBeLessThan(types.indexOf('report-delivered'));
      const failures = st.json.events.filter((e: { type: string }) => e.type === 'report-attempt-failed');
      expect(failures.length).toBeGreaterThanOrEqual(3);
      expect(failures.some((e: { detail: { error: string } }) => /ECONNREFUSED|connect/i.test(e.detail.error))).toBe(true);
      expect(failures.some((e: { detail: { error: string } }) => /503/.test(e.detail.error))).toBe(true);
      expect(st.json.jobs.find((j: { kind: string }) => j.kind === 'report')).toMatchObject({ state: 'done' });
    }
    // Delivery ids differ between messages.
    const ids200 = sink.requests.filter((r) => ids.includes(mtIdOf(r)) && r.answered === 200).map((r) => r.headers['x-mmsgate-delivery-id']);
    expect(new Set(ids200).size).toBe(ids.length);

    // Nothing more arrives once each was answered 200.
    const count = sink.requests.length;
    await sleep(500);
    expect(sink.requests.length).toBe(count);
  });
});

describe('several reports for one message (MM7 operator: Deferred, Forwarded, then Retrieved)', () => {
  let peer: Mm7Peer;
  let mm7gw: TestGateway;
  const inbound: PeerAuth = { username: 'mmsc-in', password: 'mmsc-in-secret' };
  beforeAll(async () => {
    peer = await startMm7Peer();
    let n = 0;
    peer.script(() => ({ messageId: `peer-msg-${++n}` }));
    mm7gw = await startTestGateway(
      {
        operators: [
          {
            id: 310,
            name: 'MM7 Mobile',
            type: 'mm7',
            prefixes: ['44'],
            mm7: { url: peer.url, timeout: '5s' },
            inbound: { username: inbound.username, password: inbound.password },
          },
        ],
      },
      { reportUrl: `${sink.url}/mm7-reports` },
    );
  });
  afterAll(async () => {
    await mm7gw?.stop();
    await peer?.close();
  });

  it('a gateway with an MM7 operator whose limits are left at their defaults starts', async () => {
    // limits.messagesPerSecond defaults to 0, documented as "unlimited" (src/config/operators.ts).
    const g = await startTestGateway({
      operators: [{ id: 311, type: 'mm7', prefixes: ['44'], mm7: { url: peer.url } }],
    });
    await g.stop();
  });

  it('reports held back while the endpoint is down arrive in the order the operator sent them, per mtId', async () => {
    await sink.refuse();
    const mtIds: number[] = [];
    for (const d of ['447700900001', '447700900002', '447700900003']) {
      const r = await send(mm7gw.url, simpleMt(d));
      expect(r.status, r.body.toString()).toBe(200);
      mtIds.push(r.json.mtId as number);
    }
    // The operator accepted each (SubmitReq answered with a MessageID).
    const messageIdOf = new Map<number, string>();
    for (const mtId of mtIds) {
      const st = await eventually(async () => {
        const s = await status(mm7gw.url, mtId);
        return s.json.operatorMessageId ? s : undefined;
      }, 10_000, `submission of ${mtId}`);
      messageIdOf.set(mtId, st.json.operatorMessageId);
    }
    // The operator reports each message three times; the endpoint is down all along.
    const sequence = ['Deferred', 'Forwarded', 'Retrieved'];
    for (const mmStatus of sequence) {
      for (const mtId of mtIds) {
        const res = await sendDeliveryReport(`${mm7gw.url}/mm7/310`, { messageId: messageIdOf.get(mtId)!, mmStatus }, inbound);
        expect(res.status, res.body).toBe(200);
      }
      if (mmStatus === sequence[0]) {
        // The first reports are being retried before the later ones exist (a wait on the event log, not on the clock).
        for (const mtId of mtIds) {
          await eventually(async () => {
            const types = eventTypes(await status(mm7gw.url, mtId));
            return types.filter((t) => t === 'report-attempt-failed').length >= 2 ? true : undefined;
          }, 10_000, `failed attempts of the first report of ${mtId}`);
        }
      }
    }
    // Held back: while the first report of a message fails, its later ones are not even tried.
    for (const mtId of mtIds) {
      const jobs = reportJobs(await status(mm7gw.url, mtId)); // newest first
      expect(jobs.map((j) => j.attempts > 0)).toEqual([false, false, true]);
    }
    await sink.resume();
    const mine = (r: SinkRequest) => r.url === '/mm7-reports';
    const mm7MtIdOf = (r: SinkRequest): number => JSON.parse(r.body.toString()).mtId;
    for (const mtId of mtIds) {
      // Every report job finished: the sink holds every request the gateway will make for this message.
      const finished = await afterReports(mm7gw.url, mtId, sequence.length);
      expect(reportJobs(finished).map((j) => j.state)).toEqual(['done', 'done', 'done']);
      const got = sink.requests.filter((r) => mine(r) && mm7MtIdOf(r) === mtId);
      // Three distinct deliveries, each with its own stable id.
      expect(new Set(got.map((r) => r.headers['x-mmsgate-delivery-id'])).size).toBe(3);
      // Deliveries are at least once (a repeat of one delivery carries its id, for the customer to drop); the order
      // is what is promised: with repeats of a delivery folded into one, the operator's order, and no delivery's
      // request comes after a later delivery's.
      const deliveries = got.filter((r, i) => i === 0 || r.headers['x-mmsgate-delivery-id'] !== got[i - 1]!.headers['x-mmsgate-delivery-id']);
      expect(deliveries.map((r) => JSON.parse(r.body.toString()).status)).toEqual(sequence);
      expect(deliveries.map((r) => JSON.parse(r.body.toString()).outcomeId)).toEqual([4, 5, 1]);
    }
    const st = await status(mm7gw.url, mtIds[0]!);
    expect(st.json).toMatchObject({ state: 'delivered', status: 'Retrieved', outcomeId: 1 });
  });
});

describe('an endpoint answering 400', () => {
  it('is tried max4xxAttempts (3) times, then the report is a dead job in the status output', async () => {
    sink.respondWith(400);
    const [mtId] = await sendMany(['15551230007']);
    const st = await eventually(async () => {
      const s = await status(gw.url, mtId!);
      return s.json.jobs.some((j: { kind: string; state: string }) => j.kind === 'report' && j.state === 'dead') ? s : undefined;
    }, 10_000, 'report job dead');
    const job = st.json.jobs.find((j: { kind: string }) => j.kind === 'report');
    expect(job).toMatchObject({ state: 'dead', attempts: 3 });
    expect(job.lastError).toMatch(/400/);
    expect(eventTypes(st)).toContain('report-gave-up');
    // The message itself was delivered; only the report gave up.
    expect(st.json).toMatchObject({ state: 'delivered', status: 'Retrieved' });

    await sleep(500); // longer than the whole retry schedule: no fourth attempt
    const got = sink.requests.filter((r) => mtIdOf(r) === mtId);
    expect(got.map((r) => r.answered)).toEqual([400, 400, 400]);
    expect(new Set(got.map((r) => r.headers['x-mmsgate-delivery-id'])).size).toBe(1);
  });
});
