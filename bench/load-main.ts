/**
 * Load generator, run as its own child process (forked by bench/children.ts) so it never shares an event loop or a
 * core's time slice with the server under test. It receives a LoadSpec over IPC, drives undici Pools against the
 * server, and sends back a LoadResult with every latency sample, then exits.
 *
 * Two modes: closed loop (`rate: 0`: each connection sends its next request as soon as the previous answer is read,
 * which finds the maximum throughput; by default over bench/raw-http-client.ts, which takes far less CPU from the
 * server under test than undici) and open loop (`rate > 0`: requests are started on a fixed schedule, bounded
 * by `maxInFlight`, for end-to-end runs at a sustained rate).
 */
import { Pool } from 'undici';
import { buildRawRequest, RawConnection } from './raw-http-client.ts';
import { LatencyRecorder } from './stats.ts';
import { buildSendBodies, type PreparedBody } from './request-body.ts';

/** What to run. Times are in ms. */
export interface LoadSpec {
  /** Origins (http://127.0.0.1:port); connections are split evenly across them. */
  origins: string[];
  path: string;
  authorization?: string;
  /** Total connections (each pipelining 1). */
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** 0: closed loop; otherwise requests per second to start. */
  rate: number;
  /** Open loop only: most requests outstanding at once (further starts wait: the schedule falls behind). */
  maxInFlight?: number;
  /** Return [mtId, sendEpochMs] pairs of every 200 answer to a request started in the measured window. */
  recordSends: boolean;
  /** Distinct bodies to cycle through. */
  bodies: number;
  /**
   * The HTTP client of the closed loop: `raw` (default; bench/raw-http-client.ts, ~20 us of CPU per request against
   * undici's ~35) or `undici` (what the open loop always uses). BENCH_LOAD_CLIENT picks it.
   */
  client?: 'raw' | 'undici';
}

/** What happened. Latencies are in ms; times are epoch ms (see stats.epochMs). */
export interface LoadResult {
  windowStart: number;
  windowEnd: number;
  /** 200 answers completed inside the measured window. */
  completed: number;
  /** Failed requests (non-200 answers or transport errors) inside the window. */
  errors: number;
  /** Requests started in the window (open loop: compare with rate * duration). */
  started: number;
  statusCounts: Record<string, number>;
  firstError?: string;
  /** The generator's CPU over the window, 100 = one core busy. */
  cpuPercent: number;
  latencies: Float64Array;
  /** Flattened [mtId, sendEpochMs, ...] pairs when recordSends. */
  sends?: Float64Array;
}

const MT_ID = /^\{"mtId":\d+\}$/;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Run one load; `onWindow` learns the measured window (epoch ms) as it is fixed. The process entry point is at the bottom. */
export async function runLoad(spec: LoadSpec, onWindow?: (start: number, end: number) => void): Promise<LoadResult> {
  const bodies: PreparedBody[] = buildSendBodies(Math.max(1, spec.bodies));
  const perOrigin = Math.max(1, Math.floor(spec.connections / spec.origins.length));
  const pools = spec.origins.map((o) => new Pool(o, { connections: perOrigin, pipelining: 1, keepAliveTimeout: 60_000 }));
  const latencies = new LatencyRecorder(1 << 17);
  const sends = spec.recordSends ? new LatencyRecorder(1 << 17) : undefined;
  const statusCounts: Record<string, number> = {};
  let firstError: string | undefined;
  let completed = 0;
  let errors = 0;
  let started = 0;
  let seq = 0;

  const t0 = performance.now();
  const warmEnd = t0 + spec.warmupMs;
  const end = warmEnd + spec.durationMs;
  const windowStart = performance.timeOrigin + warmEnd;
  const windowEnd = performance.timeOrigin + end;
  onWindow?.(windowStart, windowEnd);
  // The generator's own CPU over the window: near 100 means it, not the server, set the pace.
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  const cpuTimer = setTimeout(() => (cpuAtStart = process.cpuUsage()), spec.warmupMs);

  /** One request over undici. */
  async function viaUndici(i: number): Promise<{ statusCode: number; text: string }> {
    const pool = pools[i % pools.length]!;
    const b = bodies[i % bodies.length]!;
    const res = await pool.request({
      path: spec.path,
      method: 'POST',
      headers: { 'content-type': b.contentType, ...(spec.authorization ? { authorization: spec.authorization } : {}) },
      body: b.body,
    });
    return { statusCode: res.statusCode, text: await res.body.text() };
  }

  /** One request; never throws. `conn`: the closed loop's own raw connection, else undici. */
  async function one(conn?: { c: RawConnection; requests: Buffer[] }): Promise<boolean> {
    const i = seq++;
    const start = performance.now();
    const inWindow = start >= warmEnd && start < end;
    if (inWindow) started++;
    try {
      let res: { statusCode: number; text: string };
      if (conn) {
        const a = await conn.c.request(conn.requests[i % conn.requests.length]!);
        res = { statusCode: a.status, text: a.body.toString('utf8') };
      } else {
        res = await viaUndici(i);
      }
      const done = performance.now();
      const counted = done >= warmEnd && done < end;
      if (counted || inWindow) statusCounts[res.statusCode] = (statusCounts[res.statusCode] ?? 0) + 1;
      // A 200 counts only with an mtId in it (the bare baseline answers the same shape).
      if (res.statusCode !== 200 || !MT_ID.test(res.text)) {
        if (counted) errors++;
        firstError ??= `HTTP ${res.statusCode}: ${res.text.slice(0, 200)}`;
        return false;
      }
      if (counted) {
        completed++;
        latencies.record(done - start);
      }
      if (sends && inWindow) {
        const mtId = (JSON.parse(res.text) as { mtId?: unknown }).mtId;
        if (typeof mtId === 'number') {
          sends.record(mtId);
          sends.record(performance.timeOrigin + start);
        }
      }
      return true;
    } catch (err) {
      const done = performance.now();
      if (done >= warmEnd && done < end) errors++;
      const e = err as Error & { code?: string };
      firstError ??= `${e.code ?? e.name}: ${e.message}`;
      statusCounts.error = (statusCounts.error ?? 0) + 1;
      return false;
    }
  }

  const raw: RawConnection[] = [];
  // The raw client's requests, prebuilt once per origin (its Host header differs).
  const prebuilt = new Map<string, Buffer[]>();
  const requestsFor = (origin: URL): Buffer[] => {
    let r = prebuilt.get(origin.host);
    if (!r) {
      const auth: Record<string, string> = spec.authorization ? { authorization: spec.authorization } : {};
      r = bodies.map((b) => buildRawRequest({ host: origin.host, path: spec.path, headers: { 'content-type': b.contentType, ...auth }, body: b.body }));
      prebuilt.set(origin.host, r);
    }
    return r;
  };
  if (spec.rate <= 0) {
    const loops = Array.from({ length: perOrigin * pools.length }, async (_, k) => {
      let conn: { c: RawConnection; requests: Buffer[] } | undefined;
      if ((spec.client ?? 'raw') === 'raw') {
        // Connections are spread evenly over the origins, as with undici's pools.
        const origin = new URL(spec.origins[k % spec.origins.length]!);
        const c = new RawConnection(origin.hostname, Number(origin.port));
        raw.push(c);
        conn = { c, requests: requestsFor(origin) };
      }
      while (performance.now() < end) {
        // Back off after a transport error so a dead server does not turn this into a busy loop.
        if (!(await one(conn))) await sleep(5);
      }
    });
    await Promise.all(loops);
  } else {
    const maxInFlight = spec.maxInFlight ?? spec.connections * 4;
    let inFlight = 0;
    let issued = 0;
    const pending = new Set<Promise<unknown>>();
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - t0) * spec.rate) / 1000);
      while (issued < due && inFlight < maxInFlight) {
        issued++;
        inFlight++;
        const p: Promise<unknown> = one().finally(() => {
          inFlight--;
          pending.delete(p);
        });
        pending.add(p);
      }
      await sleep(1);
    }
    await Promise.all(pending);
  }
  clearTimeout(cpuTimer);
  const cpu = cpuAtStart ? process.cpuUsage(cpuAtStart) : undefined;
  const cpuPercent = cpu ? ((cpu.user + cpu.system) / 1000 / (performance.now() - warmEnd)) * 100 : NaN;
  for (const c of raw) c.close();
  await Promise.all(pools.map((p) => p.close()));
  return {
    windowStart,
    windowEnd,
    completed,
    errors,
    started,
    statusCounts,
    firstError,
    cpuPercent,
    latencies: latencies.toArray(),
    sends: sends?.toArray(),
  };
}

// Entry point when forked: one {type:'start', spec} message in, one {type:'result', result} message out.
if (process.send) {
  // The parent went away (crashed or was interrupted): stop at once rather than keep loading a server.
  process.on('disconnect', () => process.exit(0));
  process.once('message', (msg: { type: string; spec: LoadSpec }) => {
    if (msg.type !== 'start') return;
    // Tell the parent when the measured window opens and closes, so it can sample the server's CPU time then.
    runLoad(msg.spec, (start, end) => process.send!({ type: 'window', start, end })).then(
      (result) => process.send!({ type: 'result', result }, () => process.disconnect()),
      (err: Error) => process.send!({ type: 'failed', error: String(err.stack ?? err) }, () => process.disconnect()),
    );
  });
}
