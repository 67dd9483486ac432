/**
 * buildApp(): the Fastify application with every route. It never listens by itself (src/gateway.ts does), so tests
 * can use it on an ephemeral port.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { ApiError } from '../core/errors.ts';
import { newRequestId } from '../core/ids.ts';
import type { GatewayContext } from './context.ts';
import { registerSendRoute } from './routes/send.ts';
import { registerStatusRoutes } from './routes/status.ts';
import { registerSandboxRoutes } from './routes/sandbox.ts';
import { registerMm7InboundRoute } from './routes/mm7-inbound.ts';
import { registerSandboxConsole } from './routes/sandbox-console.ts';
import { LiveEvents } from '../ui/live-events.ts';

/** X-Request-Id values we take from the client: 1-30 safe characters; otherwise we make one. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,30}$/;


export function buildApp(ctx: GatewayContext, opts: { logRequests?: boolean; live?: LiveEvents } = {}): FastifyInstance {
  const app = Fastify({
    loggerInstance: ctx.log as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: !(opts.logRequests ?? true), requestIdLogLabel: 'requestId' }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : newRequestId();
    },
    bodyLimit: ctx.config.api.maxBodyBytes,
    // Keep-alive longer than typical load balancer idle timeouts so they close first (no races on reuse).
    keepAliveTimeout: 72_000,
    return503OnClosing: false,
  });

  // Callback-style hooks: they run on every request, and an async hook costs a promise and a microtask turn each.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    if (ctx.isDraining() && req.url.startsWith('/mms/')) done(new ApiError('SHUTTING_DOWN'));
    else done();
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
    const apiErr = toApiError(err, ctx.config.api.maxBodyBytes);
    if (apiErr.status >= 500 && apiErr.code === 'INTERNAL') req.log.error({ err }, 'request failed');
    else req.log.info({ code: apiErr.code }, apiErr.message);
    if (apiErr.code === 'AUTH_REQUIRED' || apiErr.code === 'AUTH_INVALID') {
      reply.header('www-authenticate', 'Basic realm="mmsgate", charset="UTF-8"');
    }
    // A refused upload may still be streaming in: close instead of draining an unbounded body.
    if (apiErr.status === 413 || apiErr.status === 431) reply.header('connection', 'close');
    if (apiErr.code === 'RATE_LIMITED') reply.header('retry-after', String(apiErr.details.retryAfter ?? 1));
    reply.status(apiErr.status).send(apiErr.toBody());
  });

  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send(new ApiError('NOT_FOUND').toBody());
  });

  registerSendRoute(app, ctx);
  registerStatusRoutes(app, ctx);
  registerMm7InboundRoute(app, ctx);
  if (ctx.config.operators.some((o) => o.type === 'simulator')) {
    registerSandboxRoutes(app, ctx);
    registerSandboxConsole(app, ctx, opts.live ?? new LiveEvents());
  }

  // Wrong methods on the API paths get 405 from the registry rather than a bare 404.
  for (const url of ['/mms/v2/send']) {
    app.route({
      method: ['GET', 'PUT', 'DELETE', 'PATCH'],
      url,
      handler: async (req) => {
        throw new ApiError('METHOD_NOT_ALLOWED', { method: req.method });
      },
    });
  }
  return app;
}

/** Map anything thrown in a request to a registry error. */
function toApiError(err: unknown, maxBodyBytes: number): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as FastifyError;
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('BODY_TOO_LARGE', { limit: maxBodyBytes });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('UNSUPPORTED_MEDIA_TYPE', { contentType: '(unsupported)' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('INVALID_JSON', { reason: e.message });
    default:
      if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
        if (e.statusCode === 404) return new ApiError('NOT_FOUND');
        return new ApiError('MALFORMED_MULTIPART', { reason: e.message });
      }
      return new ApiError('INTERNAL');
  }
}
