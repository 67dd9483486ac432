/**
 * The HTTP door of POST /mm7/{operatorId} (api/routes/mm7-inbound.ts): an unknown operator is a 404, and a caller
 * without the operator's credentials or address is refused from the request headers alone, before the body is read,
 * with the connection closed: an unauthenticated client cannot make the gateway buffer an upload.
 */
import { connect } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayContext } from '../../src/api/context.ts';
import { registerMm7InboundRoute } from '../../src/api/routes/mm7-inbound.ts';
import { hashSecret } from '../../src/core/secrets.ts';
import type { InboundSink } from '../../src/operators/connector.ts';
import { deliveryReportXml, postRaw, type PeerAuth } from '../support/mm7-peer.ts';

const AUTH: PeerAuth = { username: 'mmsc-in', password: 'mmsc-in-secret' };
const OP = 410;
const OP_ELSEWHERE = 411; // its MMSC is on another network: allowIps excludes loopback
const MAX_BODY = 5 * 1024 * 1024;

const reports: string[] = [];
const sink: InboundSink = {
  async deliveryReport(ev) {
    reports.push(ev.operatorMessageId);
    return 'ok';
  },
  async readReply() {
    return 'ok';
  },
  async mo() {
    return { moId: 1 };
  },
};

let app: FastifyInstance;
let port: number;

beforeAll(async () => {
  const operator = (id: number, inbound: Record<string, unknown>) => ({ id, type: 'mm7', mm7: { namespace: 'REL-6-MM7-1-4' }, inbound });
  const config = {
    api: { maxBodyBytes: MAX_BODY },
    operators: [
      operator(OP, { username: AUTH.username, passwordHash: hashSecret(AUTH.password), allowIps: [] }),
      operator(OP_ELSEWHERE, { username: AUTH.username, passwordHash: hashSecret(AUTH.password), allowIps: ['10.0.0.0/8'] }),
    ],
  };
  app = Fastify();
  registerMm7InboundRoute(app, { config, sink } as unknown as GatewayContext);
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});
afterAll(async () => {
  await app?.close();
});

interface RawAnswer {
  status: number;
  headers: string;
  body: string;
  /** The server closed the connection. */
  closed: boolean;
  /** Body bytes we had written when the answer arrived. */
  sent: number;
}

/**
 * Announce a 50 MB upload and send only its first 64 KiB, then wait: the answer must come (and the connection close)
 * without the rest. A server that reads the body first never answers.
 */
function uploadStart(path: string, authorization?: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let sent = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within 3 s (received: ${JSON.stringify(data.slice(0, 200))})`));
    }, 3000);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      const [head = '', body = ''] = data.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), headers: head.toLowerCase(), body, closed, sent });
    };
    socket.on('data', (c) => (data += c.toString('latin1')));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: ""\r\n` +
          (authorization ? `Authorization: ${authorization}\r\n` : '') +
          `Content-Length: ${50 * 1024 * 1024}\r\n\r\n`,
      );
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      socket.write(chunk);
      sent += chunk.length;
    });
  });
}

const basic = (a: PeerAuth) => 'Basic ' + Buffer.from(`${a.username}:${a.password}`).toString('base64');

describe('POST /mm7/{operatorId}: refusals before the body', () => {
  it.each([
    ['no credentials', undefined],
    ['a wrong password', basic({ ...AUTH, password: 'guess' })],
    ['a wrong username', basic({ ...AUTH, username: 'someone' })],
  ])('answers 401 to %s and closes the connection without reading the upload', async (_label, authorization) => {
    const a = await uploadStart(`/mm7/${OP}`, authorization);
    expect(a.status).toBe(401);
    expect(a.headers).toContain('www-authenticate: basic realm="mmsgate-mm7"');
    expect(a.headers).toContain('connection: close');
    expect(a.closed).toBe(true);
  });

  it('answers 403 to an address outside the allow-list, even with the right credentials, without reading the upload', async () => {
    const a = await uploadStart(`/mm7/${OP_ELSEWHERE}`, basic(AUTH));
    expect(a.status).toBe(403);
    expect(a.headers).toContain('connection: close');
    expect(a.closed).toBe(true);
  });

  it('answers an unknown operator with HTTP 404 and an MM7 fault (4001), without reading the upload', async () => {
    for (const path of ['/mm7/999', '/mm7/not-a-number']) {
      const a = await uploadStart(path, basic(AUTH));
      expect(a.status).toBe(404);
      expect(a.headers).toContain('content-type: text/xml');
      expect(a.body).toMatch(/<mm7:StatusCode>4001<\/mm7:StatusCode>/);
      expect(a.closed).toBe(true);
    }
  });
});

describe('POST /mm7/{operatorId}: the operator itself', () => {
  it('still takes a DeliveryReportReq with the right credentials, on a connection kept open', async () => {
    const res = await postRaw(`http://127.0.0.1:${port}/mm7/${OP}`, {
      headers: { 'content-type': 'text/xml; charset=utf-8' },
      body: deliveryReportXml({ messageId: 'route-msg-1', mmStatus: 'Retrieved' }),
    }, AUTH);
    expect(res.status).toBe(200);
    expect(res.body).toContain('DeliveryReportRsp');
    expect(res.headers.connection).not.toBe('close');
    expect(reports).toContain('route-msg-1');
  });
});
