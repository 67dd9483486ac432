/**
 * `POST /mms/v2/send` served straight from the node:http server, in front of Fastify's router (app.ts wires it in
 * through Fastify's `serverFactory`; every other request goes to Fastify unchanged).
 *
 * Why: it is the one hot route. Measured on the benchmark machine, Fastify's per-request work (routing,
 * content-type parsing, request and reply objects, hooks, reply pipeline) costs about 8 us on top of node:http's
 * ~29 us for the same request, against ~85 us for a whole accepted MT on the event loop (docs/benchmarks.md).
 *
 * Same behaviour as the Fastify route it stands in for (routes/send.ts holds the logic both use, and the API tests
 * run against this path): X-Request-Id on every answer and in every log line, 503 SHUTTING_DOWN while draining,
 * refusals from the error registry with the same status, headers and body (app.ts errorReply), the request metric,
 * and Fastify's "incoming request" / "request completed" log lines when request logging is on.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ApiError } from '../core/errors.ts';
import { errorReply, requestIdOf } from './replies.ts';
import type { GatewayContext } from './context.ts';
import { acceptSend } from './routes/send.ts';

const SEND_PATH = '/mms/v2/send';

/** Returns a request listener part: true when it took the request (POST /mms/v2/send), false to pass it on. */
export function createSendFastPath(ctx: GatewayContext, opts: { logRequests: boolean }): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    if (url !== SEND_PATH && !url.startsWith(`${SEND_PATH}?`)) return false;
    void serve(ctx, opts.logRequests, req, res);
    return true;
  };
}

/**
 * The request's logger: a child logger carrying the request id, made only when something is logged (most accepted
 * requests log nothing). One object per request rather than closures: this runs ~10,000 times a second.
 */
class RequestLogger {
  private child: Logger | undefined;

  constructor(
    private readonly root: Logger,
    private readonly requestId: string,
  ) {}

  get log(): Logger {
    return (this.child ??= this.root.child({ requestId: this.requestId }));
  }

  error(o: object, m: string): void {
    this.log.error(o, m);
  }

  info(o: object, m: string): void {
    this.log.info(o, m);
  }
}

async function serve(ctx: GatewayContext, logRequests: boolean, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const requestId = requestIdOf(req.headers);
  const log = new RequestLogger(ctx.log, requestId);
  if (logRequests) log.info({ req: { method: req.method, url: req.url, host: req.headers.host, remoteAddress: req.socket.remoteAddress } }, 'incoming request');
  let status: number;
  try {
    if (ctx.isDraining()) throw new ApiError('SHUTTING_DOWN');
    const result = await acceptSend(ctx, { headers: req.headers, body: req, requestId, log });
    status = 200;
    send(res, 200, result.headers, requestId, JSON.stringify(result.body));
  } catch (err) {
    const e = errorReply(err, ctx.config.api.maxBodyBytes, log);
    status = e.status;
    e.headers['content-type'] = 'application/json; charset=utf-8';
    send(res, e.status, e.headers, requestId, JSON.stringify(e.body));
  }
  const seconds = (performance.now() - started) / 1000;
  ctx.metrics.observeRequest('POST', SEND_PATH, status, seconds);
  if (logRequests) log.info({ res: { statusCode: status }, responseTime: seconds * 1000 }, 'request completed');
}

function send(res: ServerResponse, status: number, headers: Readonly<Record<string, string>>, requestId: string, body: string): void {
  if (res.headersSent || res.destroyed) return; // the client went away (or an answer already left)
  // One plain object to writeHead (no setHeader calls): node:http then writes it without keeping a header map.
  const all: Record<string, string | number> = { 'x-request-id': requestId, 'content-length': Buffer.byteLength(body) };
  for (const name in headers) all[name] = headers[name]!;
  res.writeHead(status, all);
  res.end(body);
}
