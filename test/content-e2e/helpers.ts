/**
 * Helpers of the remote-content end-to-end tests: a recording content origin (node:http on a loopback address,
 * counting both requests and TCP connections, so a test can tell "refused before connecting" from "fetched"),
 * send builders with remote and inline parts, and readers for the simulated handset, the status API and the
 * customer's report sink.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import sharp from 'sharp';
import { encodeBase64Lines } from '../../src/mime/transfer-encoding.ts';
import type { MultipartPartInput } from '../../src/shared/multipart-writer.ts';
import {
  buildMultipartRequest,
  eventually,
  http,
  send,
  startSink,
  startTestGateway,
  status,
  type BuiltRequest,
  type HttpResult,
  type Sink,
  type SinkRequest,
  type TestGateway,
} from '../support/gateway.ts';

/** Media type of a remote-content part (OpenMarket HTTP MMS v2): its body is the URL to fetch. */
export const REMOTE = 'application/vnd.openmarket.remoteContent';

/** One request the origin answered. */
export interface OriginRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Status the origin answered with. */
  answered: number;
}

/** Answers one request; returns nothing, writes to `res`. */
export type OriginHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** A recording content origin. */
export interface Origin {
  /** Base URL, e.g. http://127.0.0.1:40123 or http://[::1]:40124 */
  url: string;
  port: number;
  /** Every request received, in arrival order. */
  requests: OriginRequest[];
  /** TCP connections accepted so far (a refused fetch must leave this at 0). */
  connections(): number;
  /** Requests for one path. */
  hits(path: string): OriginRequest[];
  /** Answer `path` with `handler` (unknown paths answer 404). */
  route(path: string, handler: OriginHandler): void;
  close(): Promise<void>;
}

/** Start an origin on a loopback address (127.0.0.1 unless given). */
export async function startOrigin(host = '127.0.0.1'): Promise<Origin> {
  const requests: OriginRequest[] = [];
  const routes = new Map<string, OriginHandler>();
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    const rec: OriginRequest = { method: req.method ?? '', path, headers: req.headers, answered: 0 };
    requests.push(rec);
    res.on('finish', () => (rec.answered = res.statusCode));
    const handler = routes.get(path);
    if (!handler) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    void Promise.resolve(handler(req, res)).catch(() => res.destroy());
  });
  server.on('connection', (s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${hostPart}:${port}`,
    port,
    requests,
    connections: () => connections,
    hits: (p) => requests.filter((r) => r.path === p),
    route: (p, h) => void routes.set(p, h),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A handler serving fixed bytes with the given headers. */
export function serveBytes(body: Buffer, headers: Record<string, string>): OriginHandler {
  return (_req, res) => {
    res.writeHead(200, { 'content-length': String(body.length), ...headers });
    res.end(body);
  };
}

/** A random-noise PNG (noise does not compress: width x height x 3 bytes, give or take). */
export function noisePng(width: number, height: number, seed = 1): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  // xorshift32: deterministic noise, so a failing run can be reproduced.
  let x = seed >>> 0 || 1;
  for (let i = 0; i < raw.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    raw[i] = x & 0xff;
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
}

/** A small flat-colour PNG. */
export function smallPng(width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 40 } } }).png().toBuffer();
}

/** A remote-content part whose body is `url`. */
export function remotePart(url: string, contentId: string): MultipartPartInput {
  return { headers: { 'Content-Type': REMOTE, 'Content-Id': `<${contentId}>` }, body: url };
}

/** A text/plain part. */
export function textPart(text: string, contentId: string): MultipartPartInput {
  return { headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Id': `<${contentId}>` }, body: text };
}

/** An inline binary part, base64-encoded in 76-character lines (RFC 2045 §6.8). */
export function base64Part(bytes: Buffer, contentType: string, contentId: string): MultipartPartInput {
  return {
    headers: { 'Content-Type': contentType, 'Content-Id': `<${contentId}>`, 'Content-Transfer-Encoding': 'base64' },
    body: encodeBase64Lines(bytes),
  };
}

/** An MT from 88600 to `destination` carrying `parts`. */
export function mtWith(destination: string, parts: MultipartPartInput[], extra: Record<string, unknown> = {}): BuiltRequest {
  return buildMultipartRequest({ type: 'MT', source: '88600', destination, subject: 'Content test', ...extra }, parts);
}

/** Send and return the mtId (fails the test with the answer when the send is not accepted). */
export async function sendOk(baseUrl: string, req: BuiltRequest): Promise<number> {
  const r = await send(baseUrl, req);
  if (r.status !== 200 || typeof r.json?.mtId !== 'number') throw new Error(`send answered ${r.status}: ${r.body.toString()}`);
  return r.json.mtId as number;
}

/** A part as the simulated handset lists it. */
export interface HandsetPart {
  contentType: string;
  contentId: string;
  size: number;
  url: string;
}

/** A message on the simulated handset. */
export interface HandsetMessage {
  mtId: number;
  source: string;
  subject: string | null;
  parts: HandsetPart[];
}

/** Messages on a simulated handset (newest first). */
export async function handsetMessages(baseUrl: string, number: string): Promise<HandsetMessage[]> {
  const r = await http(`${baseUrl}/sandbox/handsets/${number}/messages`);
  if (r.status !== 200) throw new Error(`handset list answered ${r.status}: ${r.body.toString()}`);
  return r.json as HandsetMessage[];
}

/** Wait until message `mtId` is on the handset of `number`. */
export function waitForHandset(baseUrl: string, number: string, mtId: number, timeoutMs = 15_000): Promise<HandsetMessage> {
  return eventually(async () => (await handsetMessages(baseUrl, number)).find((m) => m.mtId === mtId), timeoutMs, `message ${mtId} on handset ${number}`);
}

/** The exact bytes of a handset part. */
export async function partBytes(baseUrl: string, part: HandsetPart): Promise<Buffer> {
  const r = await http(`${baseUrl}${part.url}`);
  if (r.status !== 200) throw new Error(`part ${part.url} answered ${r.status}`);
  return r.body;
}

/** The status API's view of an MT. */
export async function statusOf(baseUrl: string, mtId: number): Promise<HttpResult['json']> {
  const r = await status(baseUrl, mtId);
  if (r.status !== 200) throw new Error(`status of ${mtId} answered ${r.status}: ${r.body.toString()}`);
  return r.json;
}

/** An event of the status timeline. */
export interface StatusEvent {
  type: string;
  detail: any;
}

/** Wait until the status shows an event of `type`; returns that event. */
export function waitForEvent(baseUrl: string, mtId: number, type: string, timeoutMs = 15_000): Promise<StatusEvent> {
  return eventually(
    async () => ((await statusOf(baseUrl, mtId)).events as StatusEvent[]).find((e) => e.type === type),
    timeoutMs,
    `event ${type} of message ${mtId}`,
  );
}

/** Reports at the sink for one mtId (parsed). */
export function reportsFor(sink: Sink, mtId: number): any[] {
  return sink.requests.map((r: SinkRequest) => JSON.parse(r.body.toString('utf8'))).filter((b) => b.mtId === mtId);
}

/** Wait for the first report of `mtId` at the sink. */
export async function waitForReport(sink: Sink, mtId: number, timeoutMs = 15_000): Promise<any> {
  await sink.waitFor(() => reportsFor(sink, mtId).length > 0, timeoutMs);
  return reportsFor(sink, mtId)[0];
}

/** A gateway with its own report sink (mtIds restart in every fresh database, so sinks must not be shared). */
export interface GatewayWithSink {
  gw: TestGateway;
  sink: Sink;
  stop(): Promise<void>;
}

/** Start a test gateway (startTestGateway overrides) whose account reports to a sink of its own. */
export async function startGatewayWithSink(overrides: Record<string, unknown> = {}): Promise<GatewayWithSink> {
  const sink = await startSink();
  const gw = await startTestGateway(overrides, { reportUrl: `${sink.url}/reports` });
  return {
    gw,
    sink,
    async stop() {
      await gw.stop();
      await sink.close();
    },
  };
}
