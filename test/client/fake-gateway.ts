/** A small node:http server that plays the gateway's send and status API for the client tests. */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseContentType, parseMultipart, type MimePart } from '../../src/client/mime-parse.ts';

export const ACCOUNT = 'Aladdin';
export const PASSWORD = 'open sesame';

/** One request the fake gateway received, with its multipart body parsed back. */
export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  authOk: boolean;
  control?: Record<string, unknown>;
  parts: MimePart[];
  raw: Buffer;
}

export type Reply = (r: Received, res: ServerResponse) => void;

export interface FakeGateway {
  port: number;
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/** Answers 200 `{"mtId": n}` with an X-Request-Id; 401 on wrong Basic auth. */
export const accept =
  (mtId = 1001, requestId = 'req-1'): Reply =>
  (r, res) => {
    if (!r.authOk) return json(res, 401, { code: 'AUTH_INVALID', description: 'bad auth' });
    json(res, 200, { mtId }, { 'x-request-id': requestId });
  };

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startFakeGateway(reply: Reply, host = '127.0.0.1', port = 0): Promise<FakeGateway> {
  const received: Received[] = [];
  const server = createServer(async (req, res) => {
    const raw = await readAll(req);
    const expected = 'Basic ' + Buffer.from(`${ACCOUNT}:${PASSWORD}`).toString('base64');
    const r: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, authOk: req.headers.authorization === expected, parts: [], raw };
    const ct = parseContentType(req.headers['content-type'] ?? '');
    if (ct.type === 'multipart/mixed' && ct.params.boundary) {
      r.parts = parseMultipart(raw, ct.params.boundary);
      if (r.parts[0]?.contentId === 'main') r.control = JSON.parse(r.parts[0].bytes.toString('utf8'));
    }
    received.push(r);
    reply(r, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    url: `http://${host}:${actual}`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A loopback port that nothing listens on (bound once, then released). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** POST `body` on a fresh connection (a webhook sender, for `mmsgate listen`); resolves to the answer's status. */
export function postForStatus(url: string, headers: Record<string, string>, body: Buffer | string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}
