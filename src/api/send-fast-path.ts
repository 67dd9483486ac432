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

async function serve(ctx: GatewayContext, logRequests: boolean, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const requestId = requestIdOf(req.headers);
  // A child logger only when something is logged: most accepted requests log nothing.
  let child: Logger | undefined;
  const log = (): Logger => (child ??= ctx.log.child({ requestId }));
  if (logRequests) log().info({ req: { method: req.method, url: req.url, host: req.headers.host, remoteAddress: req.socket.remoteAddress } }, 'incoming request');
  let status: number;
  try {
    if (ctx.isDraining()) throw new ApiError('SHUTTING_DOWN');
    const result = await acceptSend(ctx, { headers: req.headers, body: req, requestId, log: { error: (o, m) => log().error(o, m) } });
    status = 200;
    send(res, 200, { ...result.headers, 'x-request-id': requestId }, JSON.stringify(result.body));
  } catch (err) {
    const e = errorReply(err, ctx.config.api.maxBodyBytes, { error: (o, m) => log().error(o, m), info: (o, m) => log().info(o, m) });
    status = e.status;
    send(res, e.status, { ...e.headers, 'content-type': 'application/json; charset=utf-8', 'x-request-id': requestId }, JSON.stringify(e.body));
  }
  const seconds = (performance.now() - started) / 1000;
  ctx.metrics.observeRequest('POST', SEND_PATH, status, seconds);
  if (logRequests) log().info({ res: { statusCode: status }, responseTime: seconds * 1000 }, 'request completed');
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  if (res.headersSent || res.destroyed) return; // the client went away (or an answer already left)
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}
