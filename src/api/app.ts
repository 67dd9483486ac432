/**
 * buildApp(): the Fastify application with every route. It never listens by itself (src/gateway.ts does), so tests
 * can use it on an ephemeral port.
 */
import Fastify, { LogController, type ConnectionError, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { newRequestId } from '../core/ids.ts';
import { ApiError } from '../core/errors.ts';
import { DrainDeadlines } from './drain-deadlines.ts';
import { createSendFastPath, isApiPath, routedPath } from './send-fast-path.ts';
import { ANSWERED_BY_PARSER, bodyPending, clientErrorOf, CONTINUE_DEFERRED, errorReply, requestIdOf } from './replies.ts';
import type { GatewayContext } from './context.ts';
import { registerSendRoute } from './routes/send.ts';
import { registerStatusRoutes } from './routes/status.ts';
import { registerSandboxRoutes } from './routes/sandbox.ts';
import { registerMm7InboundRoute } from './routes/mm7-inbound.ts';
import { registerSandboxConsole } from './routes/sandbox-console.ts';
import { LiveEvents } from '../ui/live-events.ts';

/** Keep-alive longer than typical load balancer idle timeouts so they close first (no races on reuse). */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/** Longest a TLS client may take to finish its handshake (listen.tls), unless api.headersTimeout is shorter. */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * How often node:http looks for requests past their deadline (its default: every 30 s): a quarter of the shorter
 * deadline, between 100 ms and 5 s, so a deadline is overrun by at most a quarter of itself (5 s for the defaults).
 * One timer per server, walking only the connections with a request arriving.
 */
function deadlineCheckInterval(headersTimeout: number, requestTimeout: number): number {
  const deadlines = [headersTimeout, requestTimeout].filter((t) => t > 0);
  if (deadlines.length === 0) return 30_000; // nothing to check; node:http's default
  return Math.min(5_000, Math.max(100, Math.floor(Math.min(...deadlines) / 4)));
}

export function buildApp(ctx: GatewayContext, opts: { logRequests?: boolean; live?: LiveEvents } = {}): FastifyInstance {
  const logRequests = opts.logRequests ?? true;
  const sendFastPath = createSendFastPath(ctx, { logRequests });
  /** listen.tls: raw connections whose TLS handshake has not finished (see the server factory). */
  const handshaking = new Set<Socket>();
  /** Request deadlines once the server closes (node:http's own checks stop then). */
  let drainDeadlines: DrainDeadlines | undefined;
  const fastRequest = sendFastPath.request;
  const app = Fastify({
    loggerInstance: ctx.log as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: !logRequests, requestIdLogLabel: 'requestId' }),
    genReqId: (req) => requestIdOf(req.headers),
    // The same node:http server Fastify would make (its timeouts below), with POST /mms/v2/send answered by
    // api/send-fast-path.ts before Fastify's routing: the hot path of the gateway.
    serverFactory: (handler) => {
      const { headersTimeout, requestTimeout } = ctx.config.api;
      // Request deadlines (api.headersTimeout, api.requestTimeout) are node:http's own: they run from a request's
      // first byte until it has all arrived (not while it is answered, not between keep-alive requests); an expired
      // one ends in the 'clientError' handler below (408 REQUEST_TIMEOUT).
      const options = { headersTimeout, requestTimeout, connectionsCheckingInterval: deadlineCheckInterval(headersTimeout, requestTimeout) };
      const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
        if (!fastRequest(req, res)) handler(req, res);
      };
      // listen.tls: HTTPS on the same port, the same handlers (node:https takes node:http's server options too).
      const tls = ctx.config.listenTls;
      // A TLS handshake must finish within TLS_HANDSHAKE_TIMEOUT_MS or api.headersTimeout if shorter (node's
      // default, 120 s, would let silent connections pile up; headersTimeout only starts after the handshake).
      const handshakeTimeout = headersTimeout > 0 ? Math.min(headersTimeout, TLS_HANDSHAKE_TIMEOUT_MS) : TLS_HANDSHAKE_TIMEOUT_MS;
      const server = tls
        ? createHttpsServer({ ...options, cert: tls.cert, key: tls.key, minVersion: tls.minVersion, handshakeTimeout }, onRequest)
        : createServer(options, onRequest);
      drainDeadlines = new DrainDeadlines(server, {
        tls: tls !== undefined,
        headersTimeout,
        requestTimeout,
        intervalMs: options.connectionsCheckingInterval,
        answer: (err, socket) => answerClientError(ctx, err, socket),
      });
      if (tls) {
        // Connections still in their handshake are not node:http's yet, so closing the server would wait for them:
        // the preClose hook below ends them.
        server.on('connection', (raw: Socket) => {
          handshaking.add(raw);
          raw.once('close', () => handshaking.delete(raw));
        });
        server.on('secureConnection', (s: Socket) => handshaking.delete((s as Socket & { _parent?: Socket })._parent!));
      }
      // Expect: 100-continue. The send route decides itself when to send 100 Continue (only once the request passed
      // its checks that need no body); every other route gets it at once, as node:http does without this listener.
      server.on('checkContinue', (req, res) => {
        if (sendFastPath.checkContinue(req, res)) return;
        // MM7 inbound sends it itself once the caller's address and credentials pass (routes/mm7-inbound.ts): a
        // refused MMSC, or anyone else, must not be invited to upload its body (by any spelling the router serves).
        if (routedPath(req.url ?? '').startsWith('/mm7/')) (req as IncomingMessage & { [CONTINUE_DEFERRED]?: boolean })[CONTINUE_DEFERRED] = true;
        else res.writeContinue();
        handler(req, res);
      });
      // What Fastify sets on a server it makes itself (its default connectionTimeout: 0, no idle-socket timeout; the
      // deadlines above bound a request that stalls, keepAliveTimeout an idle connection).
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      server.setTimeout(0);
      return server;
    },
    bodyLimit: ctx.config.api.maxBodyBytes,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    return503OnClosing: false,
    clientErrorHandler: (err, socket) => answerClientError(ctx, err, socket),
  });

  app.addHook('preClose', (done) => {
    for (const s of handshaking) s.destroy();
    drainDeadlines?.startDrain();
    done();
  });

  // Callback-style hooks: they run on every request, and an async hook costs a promise and a microtask turn each.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    // The router percent-decodes the path and takes the absolute form (`/%6Dms/v2/send` and `http://host/mms/v2/send`
    // are served by the send route), so the route it chose decides, as for the sandbox's host check (routes/sandbox.ts);
    // the raw URL still covers the /mms/ paths no route serves. The send fast path refuses the forms it takes itself.
    if (ctx.isDraining() && (isApiPath(req.url) || (req.routeOptions.url !== undefined && isApiPath(req.routeOptions.url)))) {
      done(new ApiError('SHUTTING_DOWN'));
    } else done();
  });

  app.addHook('onResponse', (req, reply, done) => {
    ctx.metrics.observeRequest(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  if (ctx.config.metrics.enabled) {
    app.get('/metrics', async (_req, reply) => {
      const m = await ctx.metrics.render();
      reply.header('content-type', m.contentType);
      return m.body;
    });
  }

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    const e = errorReply(err, ctx.config.api.maxBodyBytes, req.log);
    // Refused before its body was all read: close rather than let node:http read and discard the rest, unbounded.
    if (bodyPending(req.raw)) e.headers.connection = 'close';
    reply.headers(e.headers).status(e.status).send(e.body);
  });

  app.setNotFoundHandler((req, reply) => {
    if (bodyPending(req.raw)) reply.header('connection', 'close'); // as in the error handler
    reply.status(404).send(new ApiError('NOT_FOUND').toBody());
  });

  registerSendRoute(app, ctx);
  registerStatusRoutes(app, ctx);
  registerMm7InboundRoute(app, ctx);
  // The sandbox takes no credentials: only where asked for (config.ts: on by default in the sandbox itself).
  if (ctx.config.sandbox.enabled && ctx.config.operators.some((o) => o.type === 'simulator')) {
    registerSandboxRoutes(app, ctx);
    registerSandboxConsole(app, ctx, opts.live ?? new LiveEvents());
  }

  // Wrong methods on the API paths get 405 from the registry rather than a bare 404, with the Allow header a 405
  // must carry (RFC 9110 §15.5.6). HEAD comes through GET.
  const others = (allowed: string[]) => ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'].filter((m) => !allowed.includes(m));
  for (const [url, allowed] of [
    ['/mms/v2/send', ['POST']],
    ['/mms/v2/status/:mtId', ['GET', 'HEAD']],
  ] as const) {
    app.route({
      method: others([...allowed]),
      url,
      handler: async (req, reply) => {
        reply.header('allow', allowed.join(', '));
        throw new ApiError('METHOD_NOT_ALLOWED', { method: req.method });
      },
    });
  }
  return app;
}

/**
 * What node:http's parser refused (the server's 'clientError' event) gets a registry error with an X-Request-Id,
 * like every other refusal, instead of Fastify's own body; the connection closes after it (the parser cannot go on
 * after an error). Mostly no request exists yet, so it is logged, not counted; a send whose body broke the framing
 * counts itself with the status sent here (ANSWERED_BY_PARSER).
 */
function answerClientError(ctx: GatewayContext, err: ConnectionError, socket: Socket): void {
  // listen.tls: node:https reports TLS handshake failures and timeouts here too. There is no HTTP to answer on a
  // connection whose handshake never finished (an HTTP answer would go out as garbage and its callback never run,
  // leaving the socket open for good): close it.
  const tlsState = socket as Socket & { encrypted?: boolean; _secureEstablished?: boolean };
  if (tlsState.encrypted && !tlsState._secureEstablished) {
    socket.destroy();
    return;
  }
  // Nobody to answer (the client reset the connection, or closed its side in the middle of a request: llhttp's
  // HPE_INVALID_EOF_STATE; a route waiting for that body counts a client abort), or an answer already on the wire
  // that another one would corrupt: just close.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const apiErr = clientErrorOf(err as ConnectionError & { reason?: string });
  // A request in flight (its body failed to parse) keeps the id its client gave; otherwise there is none to keep.
  const req = (inFlight as { req?: IncomingMessage } | undefined)?.req;
  const requestId = req ? requestIdOf(req.headers) : newRequestId();
  (socket as Socket & { [ANSWERED_BY_PARSER]?: number })[ANSWERED_BY_PARSER] = apiErr.status;
  ctx.log.info({ requestId, code: apiErr.code, err: { code: err.code, message: err.message } }, apiErr.message);
  const body = JSON.stringify(apiErr.toBody());
  socket.end(
    `HTTP/1.1 ${apiErr.status} ${STATUS_CODES[apiErr.status]}\r\n` +
      `x-request-id: ${requestId}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

