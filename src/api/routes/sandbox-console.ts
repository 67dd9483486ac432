/**
 * The sandbox console: `GET /sandbox` (one self-contained HTML page) and `GET /sandbox/events` (the live event log
 * as Server-Sent Events, WHATWG HTML section 9.2). Registered next to the other sandbox routes, only while a
 * simulator operator is configured.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { SANDBOX_ACCOUNT } from '../../config/load.ts';
import { ApiError } from '../../core/errors.ts';
import type { GatewayContext } from '../context.ts';
import { consolePage, type ConsoleDefaults } from '../../ui/console-page.ts';
import { TooManySubscribersError, type LiveDelivery, type LiveEvents } from '../../ui/live-events.ts';

/** A comment line every 15 s keeps proxies and the browser from treating an idle stream as dead. */
export const HEARTBEAT_MS = 15_000;
/** How long the browser waits before reconnecting (the SSE `retry:` field). */
const RECONNECT_MS = 3_000;

/** One SSE frame (data is JSON: it never contains CR or LF, so one `data:` line is enough). */
function frame(d: LiveDelivery, id: number): string {
  if ('dropped' in d) return `event: dropped\ndata: ${JSON.stringify({ dropped: d.dropped })}\n\n`;
  return `id: ${id}\ndata: ${JSON.stringify(d.summary)}\n\n`;
}

/** Register GET /sandbox and GET /sandbox/events. `ctx` is read for `config.sandboxDefaults` only. */
export function registerSandboxConsole(app: FastifyInstance, ctx: GatewayContext, live: LiveEvents): void {
  // The page shows (and uses) the sandbox credentials only when the gateway runs with the sandbox defaults;
  // with a real configuration the user types an account in.
  const defaults: ConsoleDefaults = ctx.config.sandboxDefaults
    ? { username: SANDBOX_ACCOUNT.id, password: SANDBOX_ACCOUNT.password, source: '88600', destination: '15551230001' }
    : { username: '', password: '', source: '', destination: '15551230001' };
  const open = new Set<ServerResponse>();

  // Fastify waits for open connections on close; an event stream never ends by itself, so end them first.
  app.addHook('preClose', (done) => {
    for (const res of open) res.end();
    open.clear();
    done();
  });

  // Browsers ask for it; an empty answer keeps the console's log free of 404s.
  app.get('/favicon.ico', async (_req, reply) => reply.status(204).send());
  app.get('/sandbox', async (_req, reply) => {
    const nonce = randomBytes(16).toString('base64');
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header(
        'content-security-policy',
        `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src 'self'; connect-src 'self'; ` +
          "form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
      );
    return consolePage(defaults, nonce);
  });

  app.get('/sandbox/events', async (req, reply) => {
    const res = reply.raw;
    let nextId = 1;
    let skipped = 0;
    let unsubscribe: () => void;
    try {
      unsubscribe = live.subscribe((d) => {
        // A slow reader: skip rather than buffer without bound, and say so once the socket has drained.
        if (res.writableNeedDrain) {
          skipped += 'dropped' in d ? d.dropped : 1;
          return;
        }
        if (skipped > 0) {
          res.write(frame({ dropped: skipped }, 0));
          skipped = 0;
        }
        res.write(frame(d, nextId++));
      });
    } catch (err) {
      if (err instanceof TooManySubscribersError) throw new ApiError('RATE_LIMITED', { cause: 'too many live event subscribers', retryAfter: 5 });
      throw err;
    }
    reply.hijack();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(reply.getHeaders())) if (typeof v === 'string') headers[k] = v;
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${RECONNECT_MS}\n: connected\n\n`);
    open.add(res);
    const heartbeat = setInterval(() => {
      if (!res.writableNeedDrain) res.write(': heartbeat\n\n');
    }, HEARTBEAT_MS);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
      open.delete(res);
      if (!res.writableEnded) res.end();
    };
    req.raw.once('close', close);
    res.once('close', close);
    res.once('error', close);
  });
}
