/**
 * Reading an MMSC's answer to SubmitReq (MM7_submit.RES, 3GPP TS 23.140 §8.1.2; faults §9.2.3) and deciding what
 * the submit worker does with it: accept, retry (TemporaryError) or give up (OperatorRejectedError).
 *
 * The answer may be a bare SOAP document or multipart/related with the SOAP part as `start` (§9.3; our `Accept`
 * offers it): the SOAP part is what is read. Only a SubmitRsp or a Fault answers a SubmitReq (§8.1.2, §9.2.3).
 *
 * Precedence: an MM7 StatusCode in the body wins (SubmitRsp Status, or RSErrorRsp in a Fault's detail), whatever the
 * HTTP status: SOAP 1.1 sends faults with HTTP 500, some peers with 200 (NOTES quirk 2). Then HTTP 401/403: the
 * MMSC refused our credentials or address, an operator configuration problem that a fix on either side (a password
 * rotated on one side first) clears, so retried like an outage rather than failing everything queued. Without a
 * readable status a Fault's faultcode decides (SOAP 1.1 Client and Client.*, SOAP 1.2 Sender: permanent; any other
 * temporary); without a Fault the HTTP status decides: 5xx, 429, 408 and 3xx are temporary (Retry-After honoured),
 * other 4xx permanent, and a 2xx is a permanent OPERATOR_ANSWER_UNREADABLE: the MMSC may have accepted the message,
 * and a resend would reach the handset twice.
 */
import { OUTCOMES } from '../../core/outcomes.ts';
import { TemporaryError } from '../../core/retry-policy.ts';
import { OperatorRejectedError } from '../connector.ts';
import { parseEnvelope, type ParsedFault } from './mm7-envelope.ts';
import { splitBody } from './mm7-mime.ts';
import { classifyStatusCode } from './mm7-status.ts';
import { child, childText, decodeXmlBytes, findDeep } from './mm7-xml.ts';

/** What we could read from a response body. */
export interface ParsedSubmitResponse {
  transactionId: string | null;
  namespace: string | null;
  /** Local name of the Body's first element (SubmitRsp, Fault, ...). */
  operation: string;
  statusCode: number | null;
  statusText: string | null;
  messageId: string | null;
  fault: ParsedFault | null;
}

/**
 * Parse a SubmitRsp or Fault body; null when the body is not a readable SOAP envelope. With a multipart
 * `contentType` the SOAP part (the `start` part, else the first XML part) is parsed; a multipart Content-Type over a
 * bare XML body is read as XML, as on the inbound side.
 */
export function parseSubmitResponse(body: Buffer | string, contentType?: string): ParsedSubmitResponse | null {
  try {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const text = decodeXmlBytes(splitBody(contentType, bytes).soap);
    if (text.trim() === '') return null;
    const env = parseEnvelope(text);
    if (env.fault) {
      return {
        transactionId: env.transactionId,
        namespace: env.namespace,
        operation: 'Fault',
        statusCode: env.fault.statusCode,
        statusText: env.fault.statusText ?? env.fault.faultstring,
        messageId: null,
        fault: env.fault,
      };
    }
    const op = env.operation;
    const status = child(op, 'Status') ?? findDeep(op, 'Status');
    const codeText = status ? childText(status, 'StatusCode') : undefined;
    const messageId = childText(op, 'MessageID');
    return {
      transactionId: env.transactionId,
      namespace: env.namespace,
      operation: op.local,
      statusCode: codeText !== undefined && /^\d+$/.test(codeText) ? Number(codeText) : null,
      statusText: status ? (childText(status, 'StatusText') ?? null) : null,
      messageId: messageId ? messageId : null,
      fault: null,
    };
  } catch {
    return null;
  }
}

/** Parse Retry-After (delta-seconds or HTTP-date, RFC 9110 §10.2.3) into ms; 0 when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return 0;
  const s = v.trim();
  if (/^\d+$/.test(s)) return Math.min(Number(s), 86_400) * 1000;
  const at = Date.parse(s);
  return Number.isNaN(at) ? 0 : Math.max(0, Math.min(at - now, 86_400_000));
}

/** The submit was accepted. */
export interface SubmitResult {
  messageId: string;
  statusCode: number;
  statusText: string;
  /** The TransactionID the peer echoed (null when none). */
  transactionId: string | null;
}

/** Minimal logger used by the MM7 adapter (pino-compatible). */
export interface Mm7Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What to check when the MMSC refuses the link rather than a message. */
const CHECK_LINK = "check the operator's mm7 username, password, vaspId / vasId and the MMSC's allow-list";

/** A logger that drops everything (default). */
export const silentLogger: Mm7Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** The HTTP exchange to judge. */
export interface SubmitHttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * Decide the fate of a submission from the HTTP response. Returns the accepted result, or throws TemporaryError /
 * OperatorRejectedError. A TransactionID different from ours is logged and tolerated (some MMSCs generate their own).
 */
export function judgeSubmitResponse(
  res: SubmitHttpResponse,
  sentTransactionId: string,
  logger: Mm7Logger = silentLogger,
  logContext: Record<string, unknown> = {},
): SubmitResult {
  const contentType = res.headers['content-type'];
  const parsed = parseSubmitResponse(res.body, Array.isArray(contentType) ? contentType[0] : contentType);
  const retryAfter = retryAfterMs(res.headers['retry-after']);
  if (parsed && parsed.transactionId !== null && parsed.transactionId !== sentTransactionId) {
    logger.warn({ ...logContext, sent: sentTransactionId, received: parsed.transactionId }, 'MM7 TransactionID mismatch (tolerated)');
  }
  const detail = {
    httpStatus: res.status,
    operation: parsed?.operation ?? null,
    statusCode: parsed?.statusCode ?? null,
    statusText: parsed?.statusText ?? null,
    faultcode: parsed?.fault?.faultcode ?? null,
  };
  // Only SubmitRsp, RSErrorRsp (the MMSC's error answer, §8.7; most send it inside a Fault, some bare) and Fault answer
  // a SubmitReq (§8.1.2, §9.2.3): a status inside any other operation (a DeliverRsp from a misrouted or confused
  // peer) says nothing about our submission.
  const answers = parsed !== null && (parsed.operation === 'SubmitRsp' || parsed.operation === 'RSErrorRsp' || parsed.fault !== null);
  if (parsed && !answers) {
    logger.warn({ ...logContext, ...detail }, 'MM7 answer to SubmitReq is neither SubmitRsp nor Fault');
  }

  if (answers && parsed.statusCode !== null) {
    const info = classifyStatusCode(parsed.statusCode);
    const text = parsed.statusText ?? info.text;
    if (info.cls === 'success' && !parsed.fault && parsed.operation === 'SubmitRsp') {
      if (!parsed.messageId) {
        // Accepted but uncorrelatable: do not resend (the handset would get it twice); reports cannot match.
        logger.warn({ ...logContext, ...detail }, 'MM7 SubmitRsp without MessageID');
      }
      return {
        messageId: parsed.messageId ?? `tx:${sentTransactionId}`,
        statusCode: parsed.statusCode,
        statusText: text,
        transactionId: parsed.transactionId,
      };
    }
    if (info.cls === 'link') {
      // 4001 / 2568: the MMSC refused our identity or credentials (mm7-status.ts), as an HTTP 401/403 below.
      logger.error({ ...logContext, ...detail }, `MMSC refused our identity (MM7 status ${parsed.statusCode} ${text}): ${CHECK_LINK}`);
      throw new TemporaryError(`MM7 status ${parsed.statusCode} ${text}: operator configuration problem (credentials or identity)`, retryAfter);
    }
    if (info.cls === 'temporary' || info.cls === 'success') {
      // 'success' inside a Fault or an RSErrorRsp is contradictory: retry rather than guess.
      throw new TemporaryError(`MM7 status ${parsed.statusCode} ${text}`, retryAfter);
    }
    throw new OperatorRejectedError(info.outcome ?? OUTCOMES.OPERATOR_REJECTED, `MM7 status ${parsed.statusCode} ${text}`, detail);
  }

  if (res.status === 401 || res.status === 403) {
    // The MMSC refused who we are (credentials, source address), not this message: every message would fail the
    // same way until someone fixes the link's configuration, typically a password rotated on one side first. Retried
    // on the submit schedule so that queued messages survive the fix; logged loud so that someone makes it.
    logger.error(
      { ...logContext, ...detail },
      `MMSC refused our credentials or address (HTTP ${res.status}): ${CHECK_LINK}`,
    );
    throw new TemporaryError(`MMSC answered HTTP ${res.status}: operator configuration problem (credentials or address)`, retryAfter);
  }

  if (answers && parsed.fault) {
    // A fault without an MM7 status: SOAP 1.1 §4.4.1 says a Client fault means "do not resend unchanged", and a dot
    // extends a code with a more specific one (`Client.Authentication` is a Client fault); a SOAP 1.2 Sender fault
    // reads as Client (see readFault). Server faults, extended or not, and any other code may succeed later: retried.
    const code = parsed.fault.faultcode;
    if (code === 'Client' || code.startsWith('Client.')) {
      throw new OperatorRejectedError(OUTCOMES.OPERATOR_REJECTED, `SOAP fault ${code}: ${parsed.fault.faultstring}`, detail);
    }
    throw new TemporaryError(`SOAP fault ${code || '(no code)'}: ${parsed.fault.faultstring}`, retryAfter);
  }

  if (res.status >= 500 || res.status === 429 || res.status === 408) {
    throw new TemporaryError(`MMSC answered HTTP ${res.status}`, retryAfter);
  }
  if (res.status >= 400) {
    throw new OperatorRejectedError(OUTCOMES.OPERATOR_REJECTED, `MMSC answered HTTP ${res.status}`, detail);
  }
  if (res.status >= 200 && res.status < 300) {
    // HTTP success without a readable MM7 status: the MMSC may well have taken the message. Resending risks a
    // duplicate at the handset, which the customer cannot undo; ending the message with its own outcome tells the
    // customer exactly what is known. Logged with what came back, for the operator link's owner.
    logger.error({ ...logContext, ...detail, body: res.body.subarray(0, 512).toString('utf8') }, 'MMSC answered HTTP 2xx without a readable MM7 status');
    throw new OperatorRejectedError(
      OUTCOMES.OPERATOR_ANSWER_UNREADABLE,
      `MMSC answered HTTP ${res.status} without a readable MM7 status; the message may have been delivered`,
      detail,
    );
  }
  // 1xx/3xx: not an answer from the MM7 service (undici follows no redirect); nothing was accepted yet.
  throw new TemporaryError(`MMSC answered HTTP ${res.status} without a readable MM7 status`, retryAfter);
}
