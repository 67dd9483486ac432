/**
 * Sandbox endpoints; registered only while a simulator operator is configured.
 * - `POST /sandbox/mo`: a virtual handset sends an MO (multipart/mixed in the OpenMarket MO shape: JSON main part
 *   with source, destinations (or destination), subject, optional mobileOperatorId; then content parts).
 * - `GET /sandbox/handsets/{number}/messages`: what a virtual handset received, newest first, each part with a URL
 *   serving its exact bytes.
 * - `POST /sandbox/inbox/{box}` / `GET /sandbox/inbox`: the built-in customer endpoint of the sandbox defaults;
 *   records exactly what a customer endpoint would have received.
 */
import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../core/errors.ts';
import { isInternationalNumber, isShortCode } from '../../core/message.ts';
import { parseContentType } from '../../mime/content-type.ts';
import type { GatewayContext } from '../context.ts';
import { parseControlJson, pickControlPart, readMultipartRequest } from '../multipart-request.ts';

const MAX_LIST = 200;

/**
 * The Host names the sandbox answers to. It takes no credentials and trusts being reached on loopback only, but a web
 * page open in a browser on that machine can resolve a name of its own to 127.0.0.1 (DNS rebinding): its scripts then
 * read /sandbox/events, the inbox and the handsets, and inject MOs, as same-origin requests. Such a request carries the
 * page's name in Host; an IP address, localhost, listen.host and the names in sandbox.hosts cannot be one.
 */
export function sandboxHostAllowed(hostHeader: string | undefined, listenHost: string, extra: readonly string[]): boolean {
  if (hostHeader === undefined) return true; // HTTP/1.0 without Host: not a browser
  let host = hostHeader.trim().toLowerCase();
  if (host.startsWith('[')) host = host.slice(1, host.indexOf(']') >>> 0);
  else host = host.replace(/:\d*$/, '');
  host = host.replace(/\.$/, '');
  if (isIP(host) !== 0 || host === 'localhost' || host.endsWith('.localhost')) return true;
  return host === listenHost.toLowerCase() || extra.some((h) => h.toLowerCase().replace(/\.$/, '') === host);
}

/** True for the paths served by the sandbox (this file and sandbox-console.ts). */
const isSandboxPath = (url: string): boolean => url === '/sandbox' || url.startsWith('/sandbox/') || url.startsWith('/sandbox?');

export function registerSandboxRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const simulators = ctx.config.operators.filter((o) => o.type === 'simulator');
  const api = ctx.config.api;
  const { host: listenHost } = ctx.config.listen;
  const extraHosts = ctx.config.sandbox.hosts;

  app.addHook('onRequest', (req, _reply, done) => {
    // The router decodes percent-escapes (`/%73andbox/inbox` is served by /sandbox/inbox, and browsers send it as
    // written), so the route it chose decides, not the raw URL; the raw URL still covers paths no route serves.
    const sandbox = isSandboxPath(req.url) || (req.routeOptions.url !== undefined && isSandboxPath(req.routeOptions.url));
    if (sandbox && !sandboxHostAllowed(req.headers.host, listenHost, extraHosts)) {
      done(new ApiError('SANDBOX_HOST_REFUSED', { host: String(req.headers.host).slice(0, 100) }));
    } else done();
  });

  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

    scope.post('/sandbox/mo', async (req) => {
      const parts = await readMultipartRequest(req, api);
      const main = pickControlPart(parts);
      const j = parseControlJson(main.body, api.lenientMultipart) as Record<string, unknown>;
      if (typeof j !== 'object' || j === null) throw new ApiError('INVALID_JSON', { reason: 'not an object' });
      const source = String(j.source ?? '');
      if (!isInternationalNumber(source)) throw new ApiError('INVALID_SOURCE');
      const list = (v: unknown, field: string): string[] => {
        if (v === undefined || v === null) return [];
        const arr = Array.isArray(v) ? v : [v];
        return arr.map((x) => {
          const s = String(x);
          if (!isShortCode(s) && !isInternationalNumber(s)) throw new ApiError('INVALID_FIELD', { field, reason: `${s} is not a number` });
          return s;
        });
      };
      const destinations = list(j.destinations ?? j.destination, 'destinations');
      if (destinations.length === 0) throw new ApiError('MISSING_FIELD', { field: 'destinations' });
      const operatorId = j.mobileOperatorId !== undefined ? Number(j.mobileOperatorId) : simulators[0]!.id;
      if (!simulators.some((o) => o.id === operatorId)) throw new ApiError('UNKNOWN_OPERATOR', { operatorId: String(j.mobileOperatorId) });
      const content = parts.filter((p) => p !== main);
      const { moId } = await ctx.sink.mo({
        operatorId,
        source,
        destinations,
        ccs: list(j.ccs, 'ccs'),
        bccs: list(j.bccs, 'bccs'),
        subject: typeof j.subject === 'string' ? j.subject : null,
        userAgent: typeof j.userAgent === 'string' ? j.userAgent : simulators.find((o) => o.id === operatorId)?.simulator?.userAgent ?? null,
        parts: content.map((p) => ({ contentType: p.contentType, contentId: p.contentId, bytes: p.body })),
      });
      return { moId };
    });

    scope.post<{ Params: { box: string } }>('/sandbox/inbox/:box', async (req) => {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of req.body as AsyncIterable<Buffer>) {
        size += c.length;
        if (size > api.maxBodyBytes) throw new ApiError('BODY_TOO_LARGE', { limit: api.maxBodyBytes });
        chunks.push(c);
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'authorization') headers[k] = v;
      await ctx.commit({
        inbox: [{ box: req.params.box.slice(0, 64), receivedAt: Date.now(), headers, contentType: req.headers['content-type'] ?? '', body: Buffer.concat(chunks) }],
      });
      return '';
    });
  });

  app.get<{ Params: { number: string }; Querystring: { limit?: string } }>('/sandbox/handsets/:number/messages', async (req) => {
    const limit = Math.min(Number(req.query.limit ?? 50) || 50, MAX_LIST);
    const msgs = await ctx.store.listHandsetMessages(req.params.number, limit);
    return msgs.map((m) => ({
      mtId: m.mtId,
      source: m.source,
      subject: m.subject,
      receivedAt: new Date(m.receivedAt).toISOString(),
      parts: m.parts.map((p, i) => ({
        contentType: p.contentType,
        contentId: p.contentId,
        size: p.size,
        url: `/sandbox/handsets/${m.number}/messages/${m.mtId}/parts/${i}`,
      })),
    }));
  });

  app.get<{ Params: { number: string; mtId: string; index: string } }>(
    '/sandbox/handsets/:number/messages/:mtId/parts/:index',
    async (req, reply) => {
      const mtId = /^[0-9]{1,16}$/.test(req.params.mtId) ? Number(req.params.mtId) : NaN;
      if (!Number.isSafeInteger(mtId)) throw new ApiError('NOT_FOUND');
      const [m] = await ctx.store.listHandsetMessages(req.params.number, 1, mtId);
      const part = m?.parts[Number(req.params.index)];
      const bytes = part?.sha256 ? await ctx.store.getBlob(part.sha256) : undefined;
      if (!part || !bytes) throw new ApiError('NOT_FOUND');
      // The bytes are the customer's, served from the gateway's own origin (where a browser may hold Basic
      // credentials): never let a browser run them. Media types a handset shows inline are shown inline; anything
      // else (HTML, SVG, ...) downloads, and in any case runs sandboxed without scripts, with no type sniffing.
      reply.header('content-type', partContentTypeHeader(part.contentType));
      reply.header('x-content-type-options', 'nosniff');
      reply.header('content-security-policy', "sandbox; default-src 'none'; img-src 'self'; media-src 'self'");
      reply.header('content-disposition', INLINE_TYPES.test(part.contentType) ? 'inline' : 'attachment');
      return reply.send(bytes);
    },
  );

  app.get<{ Querystring: { box?: string; limit?: string } }>('/sandbox/inbox', async (req) => {
    const limit = Math.min(Number(req.query.limit ?? 50) || 50, MAX_LIST);
    const entries = await ctx.store.listInbox(req.query.box, limit);
    return entries.map((e) => ({
      id: e.id,
      box: e.box,
      receivedAt: new Date(e.receivedAt).toISOString(),
      headers: e.headers,
      contentType: e.contentType,
      body: describeBody(e.contentType, e.body),
    }));
  });
}

const PRINTABLE_ASCII = /^[\t\x20-\x7e]*$/;
const MEDIA_TYPE = /^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** RFC 8187 attr-char: the bytes an ext-value carries as they are; every other byte is %XX. */
const ATTR_CHAR = /^[A-Za-z0-9!#$&+.^_`|~-]$/;

/**
 * The part's Content-Type as an HTTP header value. It is what the customer sent, and a customer may write UTF-8 into a
 * parameter (`name="Grüße.txt"`): node:http refuses a header character above U+00FF (the part would answer 500) and
 * sends U+0080-U+00FF as single Latin-1 bytes. Such a value is rebuilt with each non-ASCII parameter in RFC 8187 form
 * (`name*=utf-8''Gr%C3%BC%C3%9Fe.txt`), and a type that is no media type becomes application/octet-stream.
 */
export function partContentTypeHeader(value: string): string {
  if (PRINTABLE_ASCII.test(value)) return value;
  const { type, params } = parseContentType(value);
  const out = [MEDIA_TYPE.test(type) ? type : 'application/octet-stream'];
  for (const [name, v] of Object.entries(params)) {
    if (!TOKEN.test(name)) continue;
    if (PRINTABLE_ASCII.test(v)) {
      out.push(`${name}=${TOKEN.test(v) ? v : `"${v.replace(/["\\]/g, '\\$&')}"`}`);
      continue;
    }
    let pct = '';
    for (const b of Buffer.from(v, 'utf8')) {
      const c = String.fromCharCode(b);
      pct += ATTR_CHAR.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    }
    out.push(`${name.replace(/\*$/, '')}*=utf-8''${pct}`);
  }
  return out.join('; ');
}

/** Part types a browser shows without running anything: raster images, audio, video, plain text. */
const INLINE_TYPES = /^\s*(image\/(jpeg|png|gif|webp|bmp)|audio\/[a-z0-9.+-]+|video\/[a-z0-9.+-]+|text\/plain)\s*(;|$)/i;

/** JSON bodies as objects, text as text, anything else (multipart) as text when printable, else base64. */
function describeBody(contentType: string, body: Buffer): unknown {
  const type = parseContentType(contentType).type;
  if (type === 'application/json') {
    try {
      return JSON.parse(body.toString('utf8'));
    } catch {
      /* fall through */
    }
  }
  const text = body.toString('utf8');
  return /[\u0000-\u0008\u000e-\u001f\ufffd]/.test(text) ? { base64: body.toString('base64') } : text;
}
