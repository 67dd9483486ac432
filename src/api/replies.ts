/**
 * What every answer of the API shares, whichever path served it (Fastify's routes or api/send-fast-path.ts): the
 * request id and the rendering of refusals from the error registry.
 */
import { maxHeaderSize, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { FastifyError } from 'fastify';
import { ApiError } from '../core/errors.ts';
import { newRequestId } from '../core/ids.ts';

/** X-Request-Id values we take from the client: 1-30 safe characters; otherwise we make one. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,30}$/;

/** The request's id: the client's X-Request-Id when it is 1-30 safe characters, else a new one. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const given = headers['x-request-id'];
  return typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : newRequestId();
}

/**
 * The status recorded (request metric, "request completed" log line) for a request whose client closed the connection
 * before it could be answered: nothing is sent. No HTTP status means this; 499 is nginx's "client closed request".
 */
export const CLIENT_CLOSED_REQUEST = 499;

/** The log line of such a request (info level: a client going away is not a failure of the gateway). */
export const CLIENT_CLOSED_MESSAGE = 'the client closed the connection before the answer';

/**
 * Set on a socket (to the status) once node:http's parser refused a request on it and the 'clientError' handler
 * (app.ts) answered: a route still waiting for that request's body then records that status, not CLIENT_CLOSED_REQUEST.
 */
export const ANSWERED_BY_PARSER: unique symbol = Symbol('mmsgate.answeredByParser');

/**
 * True for what a request's body stream fails with when its client disconnects mid-upload: node:http destroys the
 * request with ECONNRESET "aborted"; stream helpers report ERR_STREAM_PREMATURE_CLOSE.
 */
export function isClientAbort(err: unknown): boolean {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/**
 * A refusal as the client gets it: status, extra headers and the registry body; logged on `log`. A client abort
 * (isClientAbort) gets CLIENT_CLOSED_REQUEST and an empty body, which cannot reach anyone anyway.
 */
export function errorReply(
  err: unknown,
  maxBodyBytes: number,
  log: { error(o: object, m: string): void; info(o: object, m: string): void },
): { status: number; headers: Record<string, string>; body: object } {
  if (isClientAbort(err)) {
    log.info({ code: (err as { code: string }).code }, CLIENT_CLOSED_MESSAGE);
    return { status: CLIENT_CLOSED_REQUEST, headers: {}, body: {} };
  }
  const apiErr = toApiError(err, maxBodyBytes);
  if (apiErr.status >= 500 && apiErr.code === 'INTERNAL') log.error({ err }, 'request failed');
  else log.info({ code: apiErr.code }, apiErr.message);
  const headers: Record<string, string> = {};
  if (apiErr.code === 'AUTH_REQUIRED' || apiErr.code === 'AUTH_INVALID') {
    headers['www-authenticate'] = 'Basic realm="mmsgate", charset="UTF-8"';
  }
  // A refused upload may still be streaming in: close instead of draining an unbounded body.
  if (apiErr.status === 413 || apiErr.status === 431) headers.connection = 'close';
  // RFC 9110 §12.5.3: a 415 for a content coding says which codings would have been accepted (none but identity).
  if (apiErr.code === 'UNSUPPORTED_CONTENT_ENCODING') headers['accept-encoding'] = 'identity';
  if (apiErr.code === 'RATE_LIMITED') headers['retry-after'] = String(apiErr.details.retryAfter ?? 1);
  return { status: apiErr.status, headers, body: apiErr.toBody() };
}

/**
 * The registry error for what node:http refused while a request arrived (the server's 'clientError' event): header
 * block over the limit, a request past its deadline, malformed framing (e.g. Content-Length together with
 * Transfer-Encoding, RFC 9112 §6.3), anything else llhttp rejects.
 */
export function clientErrorOf(err: { code?: string; reason?: string }): ApiError {
  if (err.code === 'HPE_HEADER_OVERFLOW') return new ApiError('REQUEST_HEADERS_TOO_LARGE', { limit: maxHeaderSize });
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new ApiError('REQUEST_TIMEOUT'); // api.headersTimeout / requestTimeout
  // llhttp's reason is a fixed English phrase ("Invalid method", ...); keep it printable and short all the same.
  const reason = String(err.reason ?? err.code ?? 'unparseable').replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
  return new ApiError('MALFORMED_REQUEST', { reason });
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

/**
 * Whether body bytes of this request may still be on the way. `complete` alone is not enough: a request without a
 * body (a GET) is answered by the router before node:http marks it complete, and closing its keep-alive connection
 * for nothing costs the client a new connection (and TLS handshake) per 404.
 */
export function bodyPending(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Set on a request with `Expect: 100-continue` whose route sends `100 Continue` itself, once it wants the body
 * (RFC 9110 §10.1.1): app.ts leaves it to the route instead of answering at once.
 */
export const CONTINUE_DEFERRED = Symbol('mmsgate.continueDeferred');
