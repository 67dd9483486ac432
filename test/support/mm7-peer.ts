/**
 * A small MMSC on loopback for tests: records every SubmitReq it receives and answers per a programmable script;
 * also plays the MMSC toward our inbound endpoint (DeliveryReportReq, DeliverReq), optionally with the interop quirks
 * seen in real peers (NOTES quirks 1-9).
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { buildMultipart } from '../../src/shared/multipart-writer.ts';
import { contentIdOf, parseEnvelope, type ParsedEnvelope } from '../../src/operators/mm7/mm7-envelope.ts';
import { resolveContent, splitInbound, type LeafPart } from '../../src/operators/mm7/mm7-mime.ts';
import { escapeXml } from '../../src/operators/mm7/mm7-xml.ts';

const NS_BASE = 'http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/';
const SOAP = 'http://schemas.xmlsoap.org/soap/envelope/';

/** How the peer answers one SubmitReq. */
export interface PeerReply {
  /** MM7 StatusCode (default 1000). */
  mm7Status?: number;
  statusText?: string;
  /** HTTP status (default 200, or 500 for a fault). */
  httpStatus?: number;
  /** Answer with a SOAP Fault holding RSErrorRsp. */
  fault?: boolean;
  /** Write faultcode bare ("Client") instead of "env:Client" (quirk 2). */
  bareFaultcode?: boolean;
  delayMs?: number;
  messageId?: string;
  /** TransactionID to answer with (default: echo the request's). */
  transactionId?: string;
  /** Namespace to answer in (default: the request's). */
  namespace?: string;
  headers?: Record<string, string>;
  /** Send this body verbatim instead of building one. */
  rawBody?: string;
  /** Announce the whole body's length, send only this many bytes of it, then reset the connection. */
  breakOffAfterBytes?: number;
}

/** One SubmitReq as received. */
export interface RecordedSubmit {
  /** performance.now() when the request arrived. */
  receivedAt: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  soapXml: string;
  envelope: ParsedEnvelope | null;
  content: LeafPart[];
}

export interface Mm7Peer {
  /** URL of the peer's MM7 endpoint. */
  url: string;
  requests: RecordedSubmit[];
  /** Replies used in order; the last repeats. Or a function of the request. */
  script(replies: PeerReply[] | ((req: RecordedSubmit, index: number) => PeerReply)): void;
  close(): Promise<void>;
}

/** Start the peer on 127.0.0.1 (random port); with `tls` (PEM text) it speaks HTTPS. */
export async function startMm7Peer(opts: { tls?: { cert: string; key: string } } = {}): Promise<Mm7Peer> {
  const requests: RecordedSubmit[] = [];
  let plan: PeerReply[] | ((req: RecordedSubmit, index: number) => PeerReply) = [{}];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const receivedAt = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const rec: RecordedSubmit = { receivedAt, headers: req.headers, body, soapXml: '', envelope: null, content: [] };
        try {
          const split = await splitInbound(req.headers['content-type'], body);
          rec.soapXml = split.soap.toString('utf8');
          rec.envelope = parseEnvelope(rec.soapXml);
          rec.content = await resolveContent(split.attachments, contentIdOf(rec.envelope.operation));
        } catch {
          // recorded as is; the test decides
        }
        const index = requests.length;
        requests.push(rec);
        const reply = typeof plan === 'function' ? plan(rec, index) : (plan[Math.min(index, plan.length - 1)] ?? {});
        if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
        const ns = reply.namespace ?? rec.envelope?.namespace ?? `${NS_BASE}REL-6-MM7-1-4`;
        const tx = reply.transactionId ?? rec.envelope?.transactionId ?? 'none';
        const text = reply.rawBody ?? submitRsp(reply, ns, tx);
        const length = reply.breakOffAfterBytes !== undefined ? { 'content-length': String(Buffer.byteLength(text)) } : {};
        res.writeHead(reply.httpStatus ?? (reply.fault ? 500 : 200), { 'content-type': 'text/xml; charset=utf-8', ...length, ...reply.headers });
        if (reply.breakOffAfterBytes !== undefined) {
          res.write(Buffer.from(text).subarray(0, reply.breakOffAfterBytes), () => setTimeout(() => res.socket?.destroy(), 20));
          return;
        }
        res.end(text);
      })().catch(() => {
        res.statusCode = 599;
        res.end();
      });
    });
  };
  const server: Server = opts.tls ? createHttpsServer(opts.tls, handler) : createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${opts.tls ? "https" : "http"}://127.0.0.1:${port}/mm7/submit`,
    requests,
    script(r) {
      plan = r;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function submitRsp(r: PeerReply, ns: string, tx: string): string {
  const code = r.mm7Status ?? 1000;
  const status = `<mm7:Status><mm7:StatusCode>${code}</mm7:StatusCode><mm7:StatusText>${escapeXml(r.statusText ?? 'Status')}</mm7:StatusText></mm7:Status>`;
  const header = `<env:Header><mm7:TransactionID env:mustUnderstand="1">${escapeXml(tx)}</mm7:TransactionID></env:Header>`;
  const body = r.fault
    ? `<env:Fault><faultcode>${r.bareFaultcode ? 'Client' : 'env:Client'}</faultcode><faultstring>Client error</faultstring>` +
      `<detail><mm7:RSErrorRsp><mm7:MM7Version>6.8.0</mm7:MM7Version>${status}</mm7:RSErrorRsp></detail></env:Fault>`
    : `<mm7:SubmitRsp><mm7:MM7Version>6.8.0</mm7:MM7Version>${status}` +
      (code < 2000 ? `<mm7:MessageID>${escapeXml(r.messageId ?? 'peer-msg-1')}</mm7:MessageID>` : '') +
      `</mm7:SubmitRsp>`;
  return `<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="${SOAP}" xmlns:mm7="${ns}">${header}<env:Body>${body}</env:Body></env:Envelope>`;
}

/** Our inbound endpoint's answer. */
export interface PostResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Credentials for Basic auth toward our endpoint. */
export interface PeerAuth {
  username: string;
  password: string;
}

/** POST raw bytes (loopback URLs only). */
export async function postRaw(url: string, req: { headers: Record<string, string>; body: Buffer | string }, auth?: PeerAuth): Promise<PostResult> {
  const u = new URL(url);
  if (u.hostname !== '127.0.0.1' && u.hostname !== '[::1]' && u.hostname !== 'localhost') throw new Error('mm7-peer posts to loopback only');
  const headers: Record<string, string> = { soapaction: '""', ...req.headers };
  if (auth) headers.authorization = 'Basic ' + Buffer.from(`${auth.username}:${auth.password}`).toString('base64');
  const res = await request(url, { method: 'POST', headers, body: req.body });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

/** Options of a DeliveryReportReq. */
export interface DeliveryReportOptions {
  messageId: string;
  mmStatus: string;
  statusText?: string;
  transactionId?: string;
  /** Schema name; null for no namespace at all (quirk 1). Default REL-6-MM7-1-4. */
  namespace?: string | null;
  uaProf?: string;
  /** Swap Sender and Recipient (quirk 6). */
  swapped?: boolean;
  /** Pad the TransactionID with whitespace (quirk 3). */
  padTransactionId?: boolean;
  /** Send as multipart/related with no boundary over a bare XML body (as some operator docs show). */
  multipartWithoutBoundary?: boolean;
}

/** Build a DeliveryReportReq envelope. */
export function deliveryReportXml(o: DeliveryReportOptions): string {
  const nsAttr = o.namespace === null ? '' : ` xmlns="${NS_BASE}${o.namespace ?? 'REL-6-MM7-1-4'}"`;
  const tx = o.transactionId ?? 'dr-tx-1';
  const recipient = '<Recipient><Number>+15551234567/TYPE=PLMN</Number></Recipient>';
  const sender = '<Sender><ShortCode>12345</ShortCode></Sender>';
  return (
    `<?xml version="1.0" encoding="UTF-8"?><soap-env:Envelope xmlns:soap-env="${SOAP}"${nsAttr}>` +
    `<soap-env:Header><TransactionID soap-env:mustUnderstand="1">${o.padTransactionId ? `\n\t  ${tx}  \n` : tx}</TransactionID></soap-env:Header>` +
    `<soap-env:Body><DeliveryReportReq><MM7Version>6.8.0</MM7Version><MessageID>${escapeXml(o.messageId)}</MessageID>` +
    (o.swapped ? sender + recipient : recipient + sender) +
    `<Date>2024-03-16T14:03:51.749Z</Date><MMStatus>${escapeXml(o.mmStatus)}</MMStatus>` +
    (o.statusText ? `<StatusText>${escapeXml(o.statusText)}</StatusText>` : '') +
    (o.uaProf ? `<UACapabilities UAProf="${escapeXml(o.uaProf)}"/>` : '') +
    `</DeliveryReportReq></soap-env:Body></soap-env:Envelope>`
  );
}

/** POST a DeliveryReportReq to our inbound endpoint. */
export function sendDeliveryReport(url: string, o: DeliveryReportOptions, auth?: PeerAuth): Promise<PostResult> {
  const contentType = o.multipartWithoutBoundary ? 'multipart/related; type="text/xml";' : 'text/xml; charset=utf-8';
  return postRaw(url, { headers: { 'content-type': contentType }, body: deliveryReportXml(o) }, auth);
}

/** One content part of a DeliverReq. */
export interface DeliverPart {
  contentType: string;
  /** Content-ID without brackets; omitted when undefined. */
  contentId?: string;
  body: Buffer | string;
  /** Transfer encoding to write (default binary); "BASE64" upper-case is a quirk; another name is written as given. */
  encoding?: string;
  /** Write `body` as it is, whatever `encoding` says (a broken or unknown encoding). */
  verbatim?: boolean;
  location?: string;
}

/** Options of a DeliverReq. */
export interface DeliverOptions {
  sender: string;
  to: string[];
  subject?: string;
  transactionId?: string;
  parts: DeliverPart[];
  /** Schema name (default REL-6-MM7-1-4). */
  namespace?: string;
  /** Write Content-IDs without angle brackets (quirk 8). */
  bareContentIds?: boolean;
  /** Leave out the `start` parameter (quirk 8). */
  noStart?: boolean;
  /** Content@href that matches no Content-ID exactly (quirk 8). */
  hrefMismatch?: boolean;
  /** Capitalised parameter names (`Type=`, `Start=`) (quirk 8). */
  upperCaseParams?: boolean;
  /** Encode the SOAP part as UTF-16LE with a BOM and encoding="utf-16" (quirk 9). */
  utf16?: boolean;
  /** The MO's LinkedID (its id at the MMSC); a new one per call unless given (a resend repeats it). */
  linkedId?: string;
}

let linkedIds = 0;

/**
 * POST a DeliverReq: outer multipart/related (SOAP part + content part), the content part itself multipart/related
 * with the SMIL part as start when one exists, else multipart/mixed.
 */
export function sendDeliver(url: string, o: DeliverOptions, auth?: PeerAuth): Promise<PostResult> {
  const cid = (id: string): string => (o.bareContentIds ? id : `<${id}>`);
  const ns = `${NS_BASE}${o.namespace ?? 'REL-6-MM7-1-4'}`;
  const addr = (n: string): string => (/^\d{3,6}$/.test(n) ? `<mm7:Number>${n}</mm7:Number>` : `<mm7:Number>+${n}/TYPE=PLMN</mm7:Number>`);
  const xml =
    `<?xml version="1.0" encoding="${o.utf16 ? 'utf-16' : 'UTF-8'}"?>` +
    `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${SOAP}"><SOAP-ENV:Header><mm7:TransactionID xmlns:mm7="${ns}" SOAP-ENV:mustUnderstand="1">` +
    `${escapeXml(o.transactionId ?? 'deliver-tx-1')}</mm7:TransactionID></SOAP-ENV:Header><SOAP-ENV:Body>` +
    `<mm7:DeliverReq xmlns:mm7="${ns}"><mm7:MM7Version>6.8.0</mm7:MM7Version><mm7:MMSRelayServerID>peer</mm7:MMSRelayServerID>` +
    `<mm7:LinkedID>${escapeXml(o.linkedId ?? `mo-linked-${process.pid}-${++linkedIds}`)}</mm7:LinkedID><mm7:Sender>${addr(o.sender)}</mm7:Sender>` +
    `<mm7:Recipients><mm7:To>${o.to.map(addr).join('')}</mm7:To></mm7:Recipients>` +
    `<mm7:TimeStamp>2024-09-03T15:55:25.000+02:00</mm7:TimeStamp>` +
    (o.subject !== undefined ? `<mm7:Subject>${escapeXml(o.subject)}</mm7:Subject>` : '') +
    `<mm7:Content href="cid:${o.hrefMismatch ? 'content-X' : 'content-1'}" allowAdaptations="True"/></mm7:DeliverReq></SOAP-ENV:Body></SOAP-ENV:Envelope>`;
  const soapBody = o.utf16 ? Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xml, 'utf16le')]) : Buffer.from(xml, 'utf8');
  const smil = o.parts.find((p) => p.contentType.startsWith('application/smil'));
  const inner = buildMultipart(
    o.parts.map((p) => {
      const headers: Record<string, string> = { 'Content-Type': p.contentType };
      if (p.contentId !== undefined) headers['Content-ID'] = cid(p.contentId);
      if (p.location) headers['Content-Location'] = p.location;
      const enc = p.encoding ?? 'binary';
      headers['Content-Transfer-Encoding'] = enc;
      const raw = typeof p.body === 'string' ? Buffer.from(p.body, 'utf8') : p.body;
      const base64 = /^base64$/i.test(enc) && !p.verbatim;
      return { headers, body: base64 ? raw.toString('base64').replace(/.{76}/g, '$&\r\n') : raw };
    }),
    smil?.contentId ? { subtype: 'related', params: { type: 'application/smil', start: `<${smil.contentId}>` } } : { subtype: 'mixed' },
  );
  const innerType = o.upperCaseParams ? inner.contentType.replace('; type=', '; Type=').replace('; start=', '; Start=') : inner.contentType;
  const params: Record<string, string> = { type: 'text/xml' };
  if (!o.noStart) params.start = '<soap-part>';
  const outer = buildMultipart(
    [
      { headers: { 'Content-Type': `text/xml; charset=${o.utf16 ? 'utf-16' : 'utf-8'}`, 'Content-ID': cid('soap-part') }, body: soapBody },
      { headers: { 'Content-Type': innerType, 'Content-ID': cid('content-1') }, body: inner.body },
    ],
    { subtype: 'related', params },
  );
  const outerType = o.upperCaseParams ? outer.contentType.replace('; type=', '; Type=').replace('; start=', '; Start=') : outer.contentType;
  return postRaw(url, { headers: { 'content-type': outerType }, body: outer.body }, auth);
}
