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
import { ANSWERED_BY_PARSER, bodyPending, CLIENT_CLOSED_MESSAGE, CLIENT_CLOSED_REQUEST, errorReply, isClientAbort, requestIdOf } from './replies.ts';
import type { GatewayContext } from './context.ts';
import { acceptSend } from './routes/send.ts';

const SEND_PATH = '/mms/v2/send';

/**
 * A path of the customer API: while the node drains, a request routed to one is refused with 503 SHUTTING_DOWN (the
 * client sends it to another node). The fast path takes only raw forms of SEND_PATH, all of them API paths, and
 * refuses them in serve(); app.ts applies the same rule to what Fastify routes, by raw URL and by the route chosen.
 */
export const isApiPath = (path: string): boolean => path.startsWith('/mms/');

/**
 * The path a request's raw URL names as the router reads it: the absolute form's origin dropped (RFC 9112 §3.2.2), the
 * query cut off, percent-escapes decoded (the router serves `/%6Dm7/1` as `/mm7/1`). For decisions taken before
 * routing (whether to answer `Expect: 100-continue` at once) that must agree with the route the request will reach.
 */
export function routedPath(url: string): string {
  let p = url;
  if (!p.startsWith('/')) {
    const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(p);
    if (origin) p = p.slice(origin[0].length) || '/';
  }
  const q = p.search(/[?#]/);
  if (q >= 0) p = p.slice(0, q);
  if (p.includes('%')) {
    try {
      p = decodeURIComponent(p);
    } catch {
      // A malformed escape: the router refuses such a path (404), so the raw text is as good as any.
    }
  }
  return p;
}

/**
 * How long a refused request's connection stays open to take the rest of its body (see lingerThenClose), at most.
 * Enough for the largest body the gateway reads (api.maxBodyBytes) at a few Mbit/s.
 */
const LINGER_MS = 10_000;

/** The send route's parts of the server's listeners: each returns true when it took the request, false to pass it on. */
export interface SendFastPath {
  /** For the server's 'request' event. */
  request(req: IncomingMessage, res: ServerResponse): boolean;
  /**
   * For the server's 'checkContinue' event (a request with `Expect: 100-continue`): the send's checks that need no
   * body (draining, auth, Idempotency-Key, Content-Type, Content-Encoding, announced length, the account's send rate)
   * run first, and only a request that passes them gets `100 Continue`; a refused one gets its final status at once
   * and never sends its body (RFC 9110 §10.1.1).
   */
  checkContinue(req: IncomingMessage, res: ServerResponse): boolean;
}

export function createSendFastPath(ctx: GatewayContext, opts: { logRequests: boolean }): SendFastPath {
  return {
    request: (req, res) => {
      if (req.method !== 'POST') return false;
      const url = req.url ?? '';
      if (url !== SEND_PATH && !url.startsWith(`${SEND_PATH}?`)) return false;
      void serve(ctx, opts.logRequests, req, res, undefined);
      return true;
    },
    checkContinue: (req, res) => {
      if (req.method !== 'POST') return false;
      const url = req.url ?? '';
      if (url !== SEND_PATH && !url.startsWith(`${SEND_PATH}?`)) return false;
      void serve(ctx, opts.logRequests, req, res, new ContinueGate(res));
      return true;
    },
  };
}

/** `100 Continue` for one `Expect: 100-continue` request, sent at most once, when the body is wanted. */
class ContinueGate {
  sent = false;

  constructor(private readonly res: ServerResponse) {}

  readonly open = (): void => {
    if (this.sent) return;
    this.sent = true;
    this.res.writeContinue();
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

async function serve(
  ctx: GatewayContext,
  logRequests: boolean,
  req: IncomingMessage,
  res: ServerResponse,
  expectContinue: ContinueGate | undefined,
): Promise<void> {
  const started = performance.now();
  const requestId = requestIdOf(req.headers);
  const log = new RequestLogger(ctx.log, requestId);
  if (logRequests) log.info({ req: { method: req.method, url: req.url, host: req.headers.host, remoteAddress: req.socket.remoteAddress } }, 'incoming request');
  let status: number;
  try {
    if (ctx.isDraining()) throw new ApiError('SHUTTING_DOWN');
    const result = await acceptSend(
      ctx,
      expectContinue === undefined
        ? { headers: req.headers, body: req, requestId, log }
        : { headers: req.headers, body: req, requestId, log, sendContinue: expectContinue.open },
    );
    status = 200;
    send(res, 200, result.headers, requestId, JSON.stringify(result.body));
  } catch (err) {
    status = refuse(ctx, req, res, requestId, log, err, expectContinue);
  }
  const seconds = (performance.now() - started) / 1000;
  ctx.metrics.observeRequest('POST', SEND_PATH, status, seconds);
  if (logRequests) log.info({ res: { statusCode: status }, responseTime: seconds * 1000 }, 'request completed');
}

/**
 * Answer a refusal; returns its status. When the request's body is not all read yet, the answer closes the
 * connection (RFC 9112 §9.6 "Connection: close"): keeping it open would make node:http read and discard the rest of
 * the body, however large, before the next request. An upload too large to take (413, 431, an announced length over
 * api.maxBodyBytes) or one whose client still holds its body back (Expect: 100-continue, no 100 sent) is closed right
 * after the answer; any other refusal lets the rest of the body arrive first, bounded (lingerThenClose).
 */
function refuse(
  ctx: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  log: RequestLogger,
  err: unknown,
  expectContinue: ContinueGate | undefined,
): number {
  // The client closed the connection before its answer (mostly mid-upload, when the body stream fails with
  // ECONNRESET "aborted"; or while a refusal was being decided): nobody to answer, and no failure of the gateway's.
  // A failure of the gateway's own (not an ApiError) still goes to errorReply and is logged and counted as one.
  if (isClientAbort(err) || (res.destroyed && err instanceof ApiError)) {
    // Unless node:http's parser refused the rest of the request and app.ts answered that (the status it sent).
    const answered = (req.socket as { [ANSWERED_BY_PARSER]?: number } | null)?.[ANSWERED_BY_PARSER];
    if (answered !== undefined) return answered;
    log.info({ code: (err as { code?: unknown }).code }, CLIENT_CLOSED_MESSAGE);
    if (!res.destroyed) res.destroy(); // a body stream that failed leaves no usable connection
    return CLIENT_CLOSED_REQUEST;
  }
  const maxBodyBytes = ctx.config.api.maxBodyBytes;
  const e = errorReply(err, maxBodyBytes, log);
  e.headers['content-type'] = 'application/json; charset=utf-8';
  const body = JSON.stringify(e.body);
  if (!bodyPending(req)) {
    send(res, e.status, e.headers, requestId, body);
    return e.status;
  }
  e.headers.connection = 'close';
  const declared = Number(req.headers['content-length']);
  const lingers =
    e.status !== 413 &&
    e.status !== 431 &&
    !(declared > maxBodyBytes) &&
    (expectContinue === undefined || expectContinue.sent);
  if (!lingers) {
    send(res, e.status, e.headers, requestId, body); // node:http ends the socket once the answer is out
    return e.status;
  }
  if (res.headersSent || res.destroyed) return e.status;
  res.writeHead(e.status, { 'x-request-id': requestId, 'content-length': Buffer.byteLength(body), ...e.headers });
  res.write(body);
  lingerThenClose(req, res, maxBodyBytes);
  return e.status;
}

/**
 * With the refusal already written (complete, by its Content-Length) but the response not ended: read and discard the
 * rest of the body, at most `limit` bytes and LINGER_MS, then end the response, which closes the connection. This is
 * the staged close of RFC 9112 §9.6: closing with the client's data still arriving resets the connection (RFC 9293
 * §3.6.1), and a client that writes its whole request before it reads (most blocking HTTP clients) would lose the
 * answer with it. A client that reads early sees the answer at once either way. Past either bound the socket is
 * destroyed.
 */
function lingerThenClose(req: IncomingMessage, res: ServerResponse, limit: number): void {
  const socket = req.socket;
  let left = limit;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  // The multipart reader removed its 'data' listener when it gave up; this one only counts.
  req.on('data', (chunk: Buffer) => {
    left -= chunk.length;
    if (left < 0) socket.destroy();
  });
  req.once('end', () => res.end());
  req.once('close', () => clearTimeout(timer));
  req.resume();
}

function send(res: ServerResponse, status: number, headers: Readonly<Record<string, string>>, requestId: string, body: string): void {
  if (res.headersSent || res.destroyed) return; // the client went away (or an answer already left)
  // One plain object to writeHead (no setHeader calls): node:http then writes it without keeping a header map.
  const all: Record<string, string | number> = { 'x-request-id': requestId, 'content-length': Buffer.byteLength(body) };
  for (const name in headers) all[name] = headers[name]!;
  res.writeHead(status, all);
  res.end(body);
}
