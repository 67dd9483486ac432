/**
 * The server under test, run as its own child process (forked by bench/children.ts with `--import tsx`).
 *
 * BENCH_SERVER_SPEC (JSON) says what to run:
 *   {"kind":"baseline"}                         a bare node:http server that reads the request body fully and answers
 *                                               200 {"mtId":n}: the ceiling for one Node process on this machine
 *   {"kind":"gateway","raw":{...},"workers":b}  startGateway() from a raw config (loadConfig({ raw }))
 *
 * IPC: sends {type:'ready', url} once listening; answers {type:'cpu'} with process.cpuUsage() and {type:'sql'} with
 * the SQL statement timings (BENCH_SQL_TIMING=1, see sql-timing.ts); on {type:'stop'}, SIGTERM or loss of the
 * parent, closes the server and exits (so --cpu-prof profiles are written).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { loadConfig } from '../src/config/load.ts';
import type { ConfigInput } from '../src/config/schema.ts';
import { startGateway } from '../src/gateway.ts';
import { installSqlTiming, type SqlTiming } from './sql-timing.ts';

/** What the child runs. */
export type ServerSpec = { kind: 'baseline' } | { kind: 'gateway'; raw: ConfigInput; workers: boolean };

/** Bare node:http server: read the whole body, answer a fixed-shape JSON. */
async function startBaseline(): Promise<{ url: string; stop: () => Promise<void> }> {
  let next = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // Materialise the body as the gateway does before parsing it, so both pay for the copy.
      Buffer.concat(chunks);
      const out = JSON.stringify({ mtId: ++next });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  // Same keep-alive as the gateway (src/api/app.ts) so neither side closes connections mid-run.
  server.keepAliveTimeout = 72_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.BENCH_SERVER_SPEC ?? '{"kind":"baseline"}') as ServerSpec;
  const sqlTiming: (() => SqlTiming) | undefined = process.env.BENCH_SQL_TIMING === '1' ? installSqlTiming() : undefined;
  let stop: () => Promise<void>;
  let url: string;
  if (spec.kind === 'baseline') {
    ({ url, stop } = await startBaseline());
  } else {
    const logger = pino({ level: 'warn' }, pino.destination(2));
    const gw = await startGateway(loadConfig({ raw: spec.raw }), { logger, workers: spec.workers, logRequests: false });
    url = gw.url;
    stop = () => gw.stop();
  }
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    // Bounded: a stuck close must not keep the benchmark waiting (the parent also kills after a grace period).
    const timer = setTimeout(() => process.exit(0), 10_000);
    stop()
      .catch((err: Error) => process.stderr.write(`stop failed: ${err.message}\n`))
      .finally(() => {
        clearTimeout(timer);
        process.exit(0);
      });
  };
  process.on('message', (msg: { type: string }) => {
    if (msg.type === 'stop') shutdown();
    else if (msg.type === 'cpu') process.send?.({ type: 'cpu', usage: process.cpuUsage() });
    else if (msg.type === 'sql') process.send?.({ type: 'sql', timing: sqlTiming?.() ?? null });
  });
  process.on('SIGTERM', shutdown);
  process.on('disconnect', shutdown);
  process.send?.({ type: 'ready', url });
}

main().catch((err: Error) => {
  process.stderr.write(`server failed to start: ${err.stack ?? err}\n`);
  process.exit(1);
});
