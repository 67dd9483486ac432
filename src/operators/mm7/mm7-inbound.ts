/**
 * Inbound MM7: what an operator's MMSC posts to us (3GPP TS 23.140 §8.2 DeliverReq, §8.4 DeliveryReportReq,
 * §8.5 ReadReplyReq), as a framework-agnostic handler. Mount it at `POST /mm7/:operatorId` with a raw Buffer body.
 *
 * Answers:
 * - 200 with the matching response (DeliverRsp / DeliveryReportRsp / ReadReplyRsp, StatusCode 1000). A DeliverReq
 *   whose content has parts that cannot be transfer-decoded is taken too, those parts kept as they arrived, labelled
 *   application/octet-stream (mm7-mime.ts); a SOAP part that cannot be decoded is a 2007 fault.
 * - 500 with a SOAP Fault holding VASPErrorRsp for every MM7-level error. SOAP 1.1 §6.2 requires HTTP 500 for a
 *   response carrying a Fault, so we do so consistently: 2007 Message format corrupt (not XML / not SOAP / DOCTYPE /
 *   malformed multipart), 4004 Validation error (a required element missing), 4003 Unsupported operation,
 *   2005 Message ID not found (the sink does not know the MessageID), 3000 Server error (the sink failed; the MMSC
 *   retries). Responses echo the request's TransactionID (trimmed) and namespace; without one we use our own
 *   (a fresh TransactionID, the operator's default namespace), so what we write is always schema-valid.
 * - 413 with a 2007 fault when the body exceeds maxBodyBytes or the SOAP envelope the limits of mm7-xml.ts;
 *   401 (WWW-Authenticate) on bad credentials; 403 for an address outside the allow-list. No stack trace or internal
 *   message ever reaches the peer.
 */
import { ApiError } from '../../core/errors.ts';
import { outcomeFromMmStatus } from '../../core/outcomes.ts';
import { DEFAULT_MULTIPART_LIMITS } from '../../mime/types.ts';
import { compileAllowList } from '../../shared/ip-allow-list.ts';
import type { InboundSink } from '../connector.ts';
import { parseBasicAuth } from './mm7-access.ts';
import { buildFault, buildGenericResponse, contentIdOf, newTransactionId, parseEnvelope, responseNamespace } from './mm7-envelope.ts';
import { resolveContent, splitInbound } from './mm7-mime.ts';
import { Mm7ValidationError, readDeliverReq, readDeliveryReportReq, readReadReplyReq } from './mm7-requests.ts';
import { silentLogger, type Mm7Logger } from './mm7-responses.ts';
import { defaultVersionFor, mm7Namespace, statusText } from './mm7-status.ts';
import { decodeXmlBytes, Mm7XmlTooLargeError } from './mm7-xml.ts';

/** The HTTP request, as any framework can give it. */
export interface Mm7HttpRequest {
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  remoteAddress: string;
}

/** The HTTP response to write. */
export interface Mm7HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Per-operator context of the inbound handler. */
export interface Mm7InboundContext {
  operatorId: number;
  /** Basic authentication required of the MMSC; omit to accept any caller (then use allowIps). */
  auth?: {
    /** Check a username/password pair (constant-time on the caller's side, e.g. scrypt verify). */
    /** 'busy': the node's password checks are full (a flood of new credentials); answered 503, retried by the MMSC. */
    checkCredentials(username: string, password: string): boolean | 'busy' | Promise<boolean | 'busy'>;
    /** Realm in WWW-Authenticate (default "mmsgate-mm7"). */
    realm?: string;
  };
  /** Allowed source addresses: exact IPs or CIDR blocks, IPv4 or IPv6. Omit or empty to allow all. */
  allowIps?: string[];
  sink: InboundSink;
  logger?: Mm7Logger;
  /** Largest body accepted, bytes (default 5 MiB). */
  maxBodyBytes?: number;
  /** Namespace (schema name or URI) to answer in when a request has none (default REL-6-MM7-1-4). */
  defaultNamespace?: string;
}

const XML_HEADERS = Object.freeze({ 'content-type': 'text/xml; charset=utf-8' });

/** An MM7-level error to answer with a Fault. */
class FaultAnswer extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly httpStatus = 500,
  ) {
    super(message);
  }
}

function header(h: Mm7HttpRequest['headers'], name: string): string | undefined {
  const direct = h[name];
  const v = direct !== undefined ? direct : Object.entries(h).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Is the TCP peer on the operator's allow-list? An IPv4-mapped peer (`::ffff:10.1.2.3`, or `::ffff:a01:203`) is the
 * IPv4 peer a dual-stack socket reports that way, and matches IPv4 entries. A NAT64 (64:ff9b::/96) or 6to4
 * (2002::/16) source is NOT the IPv4 host embedded in it, unlike the outbound guard's destinations: anyone with IPv6
 * connectivity can send from 2002:0a01:0203::1, so admitting it as 10.1.2.3 would let them past a list of the
 * MMSC's addresses. It matches only an IPv6 entry that contains it.
 */
function ipAllowed(ctx: Pick<Mm7InboundContext, 'allowIps'>, ip: string): boolean {
  if (!ctx.allowIps || ctx.allowIps.length === 0) return true;
  return compileAllowList(ctx.allowIps).has(ip);
}

/**
 * The door of an operator's endpoint: source address (403) then Basic credentials (401, WWW-Authenticate). Null when
 * the caller may proceed. Needs only the headers and the peer address, so an HTTP layer can run it before it reads a
 * byte of the body (api/routes/mm7-inbound.ts does): a stranger must not make us buffer an upload.
 */
export async function checkMm7Access(
  req: Pick<Mm7HttpRequest, 'headers' | 'remoteAddress'>,
  ctx: Pick<Mm7InboundContext, 'operatorId' | 'auth' | 'allowIps' | 'logger'>,
): Promise<Mm7HttpResponse | null> {
  const logger = ctx.logger ?? silentLogger;
  const log = { operatorId: ctx.operatorId, remoteAddress: req.remoteAddress };
  if (!ipAllowed(ctx, req.remoteAddress)) {
    logger.warn(log, 'MM7 request from an address outside the allow-list');
    return { status: 403, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Forbidden\n' };
  }
  if (ctx.auth) {
    const cred = parseBasicAuth(header(req.headers, 'authorization'));
    const verdict = cred ? await ctx.auth.checkCredentials(cred.username, cred.password) : false;
    if (verdict === 'busy') {
      logger.warn(log, 'MM7 request refused for now: the password checks of this node are full');
      return { status: 503, headers: { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '1' }, body: 'Busy, retry\n' };
    }
    if (!verdict) {
      logger.warn({ ...log, username: cred?.username ?? null }, 'MM7 request with missing or wrong credentials');
      return {
        status: 401,
        headers: { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': `Basic realm="${ctx.auth.realm ?? 'mmsgate-mm7'}", charset="UTF-8"` },
        body: 'Unauthorized\n',
      };
    }
  }
  return null;
}

/**
 * A SOAP fault for a request that never reached the handler (refused by the HTTP layer before its body was read:
 * unparseable Content-Type, transport errors), in the operator's default namespace.
 */
export function mm7FaultResponse(code: number, reason: string, httpStatus: number, defaultNamespace?: string): Mm7HttpResponse {
  const ns = responseNamespace(null, defaultNamespace && mm7Namespace(defaultNamespace));
  return {
    status: httpStatus,
    headers: { ...XML_HEADERS },
    body: buildFault({
      namespace: ns,
      transactionId: newTransactionId(),
      version: defaultVersionFor(ns),
      statusCode: code,
      statusText: statusText(code),
      faultstring: reason,
    }),
  };
}

/** Handle one inbound MM7 request (access checked first, see checkMm7Access). Never throws; every failure becomes an HTTP answer. */
export async function handleMm7Request(req: Mm7HttpRequest, ctx: Mm7InboundContext): Promise<Mm7HttpResponse> {
  const logger = ctx.logger ?? silentLogger;
  const log = { operatorId: ctx.operatorId, remoteAddress: req.remoteAddress };
  let transactionId: string | null = null;
  let namespace: string | null = null;
  let version: string | null = null;
  const fault = (code: number, reason: string, httpStatus = 500): Mm7HttpResponse => {
    const ns = responseNamespace(namespace, ctx.defaultNamespace && mm7Namespace(ctx.defaultNamespace));
    return {
      status: httpStatus,
      headers: { ...XML_HEADERS },
      body: buildFault({
        namespace: ns,
        transactionId: transactionId ?? newTransactionId(),
        version: version ?? defaultVersionFor(ns),
        statusCode: code,
        statusText: statusText(code),
        faultstring: reason,
      }),
    };
  };

  try {
    const refused = await checkMm7Access(req, ctx);
    if (refused) return refused;
    const maxBody = ctx.maxBodyBytes ?? DEFAULT_MULTIPART_LIMITS.maxBodyBytes;
    if (req.body.length > maxBody) return fault(2007, `Message larger than ${maxBody} bytes`, 413);

    const limits = { ...DEFAULT_MULTIPART_LIMITS, maxBodyBytes: maxBody, maxPartBytes: maxBody };
    let split;
    try {
      split = await splitInbound(header(req.headers, 'content-type'), req.body, limits);
    } catch (err) {
      logger.warn({ ...log, err: errText(err) }, 'MM7 request with a malformed or oversized multipart body');
      // The SOAP part could not be taken apart from the rest (broken multipart framing, a SOAP part that cannot be
      // decoded): still answer in the request's own TransactionID and namespace, which the MMSC correlates our fault
      // by (§9.2.3), read off the raw bytes.
      ({ transactionId, namespace } = sniffEnvelopeIds(req.body));
      return tooLarge(err) ? fault(2007, 'Message too large', 413) : fault(2007, 'Malformed MIME body');
    }

    let env;
    const soapText = decodeXmlBytes(split.soap);
    try {
      env = parseEnvelope(soapText);
    } catch (err) {
      if (err instanceof Mm7XmlTooLargeError) {
        // Refused before the parse (mm7-xml.ts says why); answered as an oversized body is, in the request's own
        // TransactionID and namespace so that the MMSC can correlate the fault (§9.2.3).
        logger.warn({ ...log, err: errText(err), soapBytes: split.soap.length }, 'MM7 request whose SOAP envelope is over the limits');
        ({ transactionId, namespace } = sniffEnvelopeIds(soapText));
        return fault(2007, 'SOAP envelope too large', 413);
      }
      logger.warn({ ...log, err: errText(err) }, 'MM7 request that is not a SOAP envelope');
      // Still in the request's own TransactionID where one can be read off the text (§9.2.3), as for the faults above.
      ({ transactionId, namespace } = sniffEnvelopeIds(soapText));
      return fault(2007, 'Malformed SOAP envelope');
    }
    transactionId = env.transactionId;
    namespace = env.namespace;
    const op = env.operation;
    const v = op.children.find((c) => c.local === 'MM7Version')?.text.trim();
    version = v && /^\d+\.\d+\.\d+$/.test(v) ? v : null;
    const ns = responseNamespace(namespace, ctx.defaultNamespace && mm7Namespace(ctx.defaultNamespace));
    const ok = (rsp: string): Mm7HttpResponse => ({
      status: 200,
      headers: { ...XML_HEADERS },
      body: buildGenericResponse(rsp, {
        namespace: ns,
        transactionId: transactionId ?? newTransactionId(),
        version: version ?? defaultVersionFor(ns),
        statusCode: 1000,
        statusText: 'Success',
      }),
    });
    const ctxLog = { ...log, transactionId, operation: op.local };

    switch (op.local) {
      case 'DeliverReq': {
        const d = readDeliverReq(op, contentIdOf(op));
        let parts;
        try {
          parts = await resolveContent(split.attachments, d.contentHref, limits);
        } catch (err) {
          logger.warn({ ...ctxLog, err: errText(err) }, 'MM7 DeliverReq with malformed or oversized content');
          return tooLarge(err) ? fault(2007, 'Message too large', 413) : fault(2007, 'Malformed content');
        }
        const { moId } = await sinkCall(() =>
          ctx.sink.mo({
            operatorId: ctx.operatorId,
            source: d.sender,
            destinations: d.to,
            ccs: d.cc,
            bccs: d.bcc,
            subject: d.subject,
            userAgent: d.userAgent,
            operatorMessageId: d.linkedId,
            parts,
          }),
          logger,
          ctxLog,
        );
        logger.info({ ...ctxLog, moId, parts: parts.length }, 'MM7 MO received');
        const undecoded = parts.filter((p) => p.undecodable !== undefined);
        if (undecoded.length > 0) {
          // Taken all the same (mm7-mime.ts says why): the customer gets these parts as application/octet-stream.
          logger.warn(
            { ...ctxLog, moId, undecodedParts: undecoded.map((p) => ({ contentId: p.contentId, reason: p.undecodable })) },
            'MM7 MO with content parts that could not be decoded: delivered as the bytes that arrived, labelled application/octet-stream',
          );
        }
        return ok('DeliverRsp');
      }
      case 'DeliveryReportReq': {
        const r = readDeliveryReportReq(op);
        const res = await sinkCall(() =>
          ctx.sink.deliveryReport({
            operatorId: ctx.operatorId,
            operatorMessageId: r.messageId,
            outcome: outcomeFromMmStatus(r.mmStatus),
            statusText: r.statusText,
            userAgent: r.userAgent,
            at: r.at,
          }),
          logger,
          ctxLog,
        );
        if (res === 'unknown') {
          // The sink parks reports for IDs it does not know yet; 'unknown' means it could not (the operator's cap).
          logger.warn({ ...ctxLog, messageId: r.messageId }, 'MM7 delivery report for an unknown MessageID, not kept: too many of this operator are parked');
          return fault(2005, `MessageID ${r.messageId} not found`);
        }
        return ok('DeliveryReportRsp');
      }
      case 'ReadReplyReq': {
        const r = readReadReplyReq(op);
        const res = await sinkCall(() =>
          ctx.sink.readReply({ operatorId: ctx.operatorId, operatorMessageId: r.messageId, mmStatus: r.mmStatus, at: r.at }),
          logger,
          ctxLog,
        );
        if (res === 'unknown') return fault(2005, `MessageID ${r.messageId} not found`);
        return ok('ReadReplyRsp');
      }
      default:
        logger.warn(ctxLog, 'MM7 operation not supported');
        return fault(4003, `Unsupported operation ${op.local.slice(0, 64)}`);
    }
  } catch (err) {
    if (err instanceof Mm7ValidationError) return fault(4004, err.message.slice(0, 200));
    if (err instanceof FaultAnswer) return fault(err.statusCode, err.message, err.httpStatus);
    logger.error({ ...log, transactionId, err: errText(err) }, 'MM7 inbound request failed');
    return fault(3000, 'Server error');
  }
}

/** Run a sink call; its failure becomes a 3000 Server error fault (the MMSC retries), never a crash. */
async function sinkCall<T>(fn: () => Promise<T>, logger: Mm7Logger, log: Record<string, unknown>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    logger.error({ ...log, err: errText(err) }, 'MM7 inbound: the pipeline failed to take the request');
    throw new FaultAnswer(3000, 'Temporary failure, retry later');
  }
}

/** The MIME reader's limit errors (ApiError with HTTP 413) and our part-count RangeError. */
function tooLarge(err: unknown): boolean {
  return (err instanceof ApiError && err.status === 413) || err instanceof RangeError;
}

function errText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** MM7 schema namespaces (REL-5-MM7-1-0 ... REL-6-MM7-1-4 and operators' own minor numbers). */
const MM7_NAMESPACE = /http:\/\/www\.3gpp\.org\/ftp\/Specs\/archive\/23_series\/23\.140\/schema\/REL-\d+-MM7-\d+-\d+/;
// `[^<>]*`, not `[^>]*`: a tag cannot hold `<` (XML 1.0 §3.1), and with `[^>]*` 64 KiB of `<TransactionID ` without
// a `>` took 0.3 s of backtracking (each attempt ran to the end of the text); now each stops at the next `<`.
const TRANSACTION_ID = /<(?:[A-Za-z_][\w.-]*:)?TransactionID\b[^<>]*>\s*([^<\s][^<]{0,199}?)\s*<\//;

/**
 * The TransactionID and MM7 namespace of a request that could not be parsed (its MIME, or an envelope over the
 * limits), read from its first 64 KiB (of the body as UTF-8: the SOAP part comes first in every MMSC's requests we
 * know; or of the SOAP document's text); null where not found.
 */
export function sniffEnvelopeIds(body: Buffer | string): { transactionId: string | null; namespace: string | null } {
  const text = typeof body === 'string' ? body.slice(0, 64 * 1024) : body.subarray(0, 64 * 1024).toString('utf8');
  const raw = TRANSACTION_ID.exec(text)?.[1];
  // The five predefined XML entities (XML 1.0 §4.6), so that the echo is the ID itself, not its escaped form.
  const transactionId = raw?.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e]!) ?? null;
  return { transactionId, namespace: MM7_NAMESPACE.exec(text)?.[0] ?? null };
}
