/**
 * The MM7 connector: submits MTs to an operator's MMSC as MM7_submit.REQ (3GPP TS 23.140 §8.1, SOAP binding §9)
 * over HTTP POST with Basic authentication, on a keep-alive connection pool, within the operator's limits.
 *
 * Failure contract (operators/connector.ts): TemporaryError for timeouts, connection errors, HTTP 5xx/429/401/403 and
 * MM7 3000, other 3xxx and 4006; OperatorRejectedError for MM7 2xxx/4xxx/3001-3004, other HTTP 4xx, and an HTTP 2xx
 * whose answer cannot be read (mm7-responses.ts). Callers wait for capacity, never fail on it.
 */
import { Pool } from 'undici';
import { OUTCOMES } from '../../core/outcomes.ts';
import { parseDuration, TemporaryError } from '../../core/retry-policy.ts';
import { OperatorRejectedError, type Connector, type SubmitAccepted, type SubmitRequest } from '../connector.ts';
import { newTransactionId } from './mm7-envelope.ts';
import { Semaphore, ThrottleClosedError } from './mm7-limits.ts';
import { judgeSubmitResponse, silentLogger, type Mm7Logger } from './mm7-responses.ts';
import { defaultVersionFor, mm7Namespace } from './mm7-status.ts';
import { absoluteExpiry, buildSubmitHttp, formatExpiry, type SubmitContentPart } from './mm7-submit.ts';

/** Configuration of one MM7 operator link. */
export interface Mm7ConnectorOptions {
  /** mobileOperatorId this connector serves. */
  operatorId: number;
  /** The MMSC's MM7 endpoint (http or https). */
  url: string;
  /** HTTP Basic credentials toward the MMSC (omit both for none). */
  username?: string;
  password?: string;
  /** VASPID in SenderIdentification (operator-assigned). */
  vaspId: string;
  /** VASID; default: the message's mtConfig name. */
  vasId?: string;
  /** MM7Version; default by namespace: 5.3.0 for REL-5-*, 6.8.0 for REL-6-*. */
  version?: string;
  /** Schema name (`REL-6-MM7-1-4`, `REL-5-MM7-1-2`, ...) or full namespace URI. Default REL-6-MM7-1-4. */
  namespace?: string;
  /** ExpiryDate: xs:duration ("PT24H"), absolute xs:dateTime, or a project duration ("24h"). Omitted when unset. */
  expiry?: string | number;
  /**
   * 'absolute': ExpiryDate is the xs:dateTime `expiry` after each submission (UTC, whole seconds), for MMSCs that
   * take no xs:duration; `expiry` must then be a project duration ("24h") or milliseconds. Default 'relative'.
   */
  expiryFormat?: 'relative' | 'absolute';
  /** ServiceCode, when the operator bills by it. */
  serviceCode?: string;
  /** Content@allowAdaptations; default true (let the MMSC adapt content to the handset). */
  allowAdaptations?: boolean;
  /** Write Number values with a leading "+" (default false). */
  plusPrefix?: boolean;
  /** Whole-request timeout, ms (default 30 000). */
  timeoutMs?: number;
  /** Concurrent requests to the MMSC, also the pool size (default 4). */
  maxConcurrent?: number;
  /** Largest HTTP body we send, bytes (default 600 KiB, a common MMSC limit). Larger -> TOO_LARGE, permanent. */
  maxMessageBytes?: number;
  /** Largest response body read, bytes (default 256 KiB). */
  maxResponseBytes?: number;
  /** PEM certificates to trust for an https MMSC instead of the system's roots (its certificate is always verified). */
  ca?: string;
  logger?: Mm7Logger;
}

/** Defaults of the optional numeric settings. */
export const MM7_CONNECTOR_DEFAULTS = Object.freeze({
  timeoutMs: 30_000,
  maxConcurrent: 4,
  maxMessageBytes: 600 * 1024,
  maxResponseBytes: 256 * 1024,
});

/** Submits MTs to one operator over MM7. */
export class Mm7Connector implements Connector {
  readonly operatorId: number;
  private readonly opts: Mm7ConnectorOptions;
  private readonly pool: Pool;
  private readonly path: string;
  private readonly namespace: string;
  private readonly version: string;
  private readonly expiry: string | undefined;
  /** Set with expiryFormat 'absolute': ExpiryDate is computed at each submission. */
  private readonly expiryMs: number | undefined;
  private readonly auth: string | undefined;
  private readonly slots: Semaphore;
  private readonly logger: Mm7Logger;
  private readonly timeoutMs: number;
  private readonly maxMessageBytes: number;
  private readonly maxResponseBytes: number;

  /** Validates the options (throws on a bad URL or expiry) and opens no connection yet. */
  constructor(opts: Mm7ConnectorOptions) {
    const url = new URL(opts.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`MM7 url must be http(s): ${opts.url}`);
    this.opts = opts;
    this.operatorId = opts.operatorId;
    this.path = url.pathname + url.search;
    this.namespace = mm7Namespace(opts.namespace ?? 'REL-6-MM7-1-4');
    this.version = opts.version ?? defaultVersionFor(this.namespace);
    this.expiry = opts.expiry === undefined ? undefined : formatExpiry(opts.expiry);
    this.expiryMs = opts.expiryFormat === 'absolute' && opts.expiry !== undefined ? parseDuration(opts.expiry) : undefined;
    this.auth =
      opts.username !== undefined ? 'Basic ' + Buffer.from(`${opts.username}:${opts.password ?? ''}`, 'utf8').toString('base64') : undefined;
    const maxConcurrent = opts.maxConcurrent ?? MM7_CONNECTOR_DEFAULTS.maxConcurrent;
    this.slots = new Semaphore(maxConcurrent);
    this.logger = opts.logger ?? silentLogger;
    this.timeoutMs = opts.timeoutMs ?? MM7_CONNECTOR_DEFAULTS.timeoutMs;
    this.maxMessageBytes = opts.maxMessageBytes ?? MM7_CONNECTOR_DEFAULTS.maxMessageBytes;
    this.maxResponseBytes = opts.maxResponseBytes ?? MM7_CONNECTOR_DEFAULTS.maxResponseBytes;
    this.pool = new Pool(url.origin, {
      connections: maxConcurrent,
      keepAliveTimeout: 30_000,
      connectTimeout: Math.min(this.timeoutMs, 10_000),
      ...(opts.ca !== undefined ? { connect: { ca: opts.ca } } : {}),
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  /** The pre-send refusal of submit() (the encoded request over maxMessageBytes), without sending. */
  check(req: SubmitRequest): void {
    this.build(req, newTransactionId(`mt${req.mt.mtId}`));
  }

  /** Submit one MT as a SubmitReq. See the class comment for the failure contract. */
  async submit(req: SubmitRequest): Promise<SubmitAccepted> {
    const { mt } = req;
    const transactionId = newTransactionId(`mt${mt.mtId}`);
    const http = this.build(req, transactionId);
    const log = { operatorId: this.operatorId, mtId: mt.mtId, transactionId };
    let release: () => void;
    try {
      release = await this.slots.acquire(req.signal);
    } catch (err) {
      if (err instanceof ThrottleClosedError) throw new TemporaryError('MM7 connector closed');
      throw err;
    }
    try {
      const res = await this.post(http.contentType, http.body, req.signal);
      const result = judgeSubmitResponse(res, transactionId, this.logger, log);
      this.logger.debug({ ...log, messageId: result.messageId, statusCode: result.statusCode }, 'MM7 submit accepted');
      return {
        operatorMessageId: result.messageId,
        detail: { mm7StatusCode: result.statusCode, mm7StatusText: result.statusText, transactionId },
      };
    } finally {
      release();
    }
  }

  /** The SubmitReq of `req` as it would go out; throws OperatorRejectedError (TOO_LARGE) over maxMessageBytes. */
  private build(req: SubmitRequest, transactionId: string) {
    const { mt } = req;
    const parts: SubmitContentPart[] = req.parts.map((p) => ({ contentType: p.part.contentType, contentId: p.part.contentId, bytes: p.bytes }));
    const http = buildSubmitHttp(
      {
        namespace: this.namespace,
        version: this.version,
        transactionId,
        vaspId: this.opts.vaspId,
        vasId: this.opts.vasId ?? req.mtConfig,
        sender: mt.source,
        recipients: [mt.destination],
        plusPrefix: this.opts.plusPrefix,
        serviceCode: this.opts.serviceCode,
        expiryDate: this.expiryMs !== undefined ? absoluteExpiry(Date.now() + this.expiryMs) : this.expiry,
        deliveryReport: true,
        subject: mt.subject,
        contentId: 'mm7-content',
        allowAdaptations: this.opts.allowAdaptations ?? true,
      },
      parts,
    );
    if (http.body.length > this.maxMessageBytes) {
      throw new OperatorRejectedError(OUTCOMES.TOO_LARGE, `MM7 request is ${http.body.length} bytes, over ${this.maxMessageBytes}`, {
        size: http.body.length,
        limit: this.maxMessageBytes,
      });
    }
    return http;
  }

  private async post(
    contentType: string,
    body: Buffer,
    stop: AbortSignal | undefined,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
    const headers: Record<string, string> = {
      'content-type': contentType,
      soapaction: '""',
      'user-agent': 'mmsgate-mm7',
      accept: 'text/xml, multipart/related, */*',
    };
    if (this.auth) headers.authorization = this.auth;
    // The answer's status once its head has arrived: a 2xx whose body then breaks off is an answer we cannot read.
    let answered: number | undefined;
    try {
      const res = await this.pool.request({
        path: this.path,
        method: 'POST',
        headers,
        body,
        signal: stop ? AbortSignal.any([AbortSignal.timeout(this.timeoutMs), stop]) : AbortSignal.timeout(this.timeoutMs),
      });
      answered = res.statusCode;
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > this.maxResponseBytes) {
          res.body.destroy();
          if (res.statusCode >= 200 && res.statusCode < 300) {
            // As any 2xx we cannot read (mm7-responses.ts): the MMSC may have taken the message, so no resend.
            throw new OperatorRejectedError(
              OUTCOMES.OPERATOR_ANSWER_UNREADABLE,
              `MMSC answered HTTP ${res.statusCode} with a body over ${this.maxResponseBytes} bytes; the message may have been delivered`,
              { httpStatus: res.statusCode, limit: this.maxResponseBytes },
            );
          }
          throw new TemporaryError(`MMSC response over ${this.maxResponseBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
      return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
    } catch (err) {
      if (err instanceof TemporaryError || err instanceof OperatorRejectedError) throw err;
      if (answered !== undefined && answered >= 200 && answered < 300) {
        // The MMSC said 2xx, then the body broke off (reset, timeout, stopped): it may have taken the message, and a
        // resend would reach the handset twice (mm7-responses.ts, as for any 2xx we cannot read).
        const e = err as { code?: string; name?: string };
        throw new OperatorRejectedError(
          OUTCOMES.OPERATOR_ANSWER_UNREADABLE,
          `MMSC answered HTTP ${answered} but its body broke off (${e.code ?? e.name ?? 'error'}); the message may have been delivered`,
          { httpStatus: answered },
        );
      }
      if (stop?.aborted) throw new TemporaryError(`MM7 request stopped: ${(stop.reason as Error).message}`);
      // Timeouts, refused/reset connections, TLS failures: the MMSC may be back soon.
      const e = err as { name?: string; code?: string; message?: string };
      throw new TemporaryError(`MM7 request failed: ${e.code ?? e.name ?? 'error'} ${e.message ?? ''}`.trim());
    }
  }

  /** Reject waiting submissions and close the pool. */
  async close(): Promise<void> {
    this.slots.close();
    await this.pool.close();
  }
}
