import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createWebhookHandler,
  parseMo,
  parseMultipart,
  parseReport,
  processWebhook,
  webhookMiddleware,
  WebhookPayloadError,
  type DeliveryReport,
  type MoMessage,
  type WebhookMeta,
} from '../../src/client/index.ts';
import { base64Body, buildMultipart } from '../../src/shared/multipart-writer.ts';
import { generateWebhookSecret, signWebhook } from '../../src/shared/standard-webhooks.ts';

const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF\0\r\n--x\r\n'), Buffer.alloc(300, 0xa5)]);

function moBody() {
  return buildMultipart([
    {
      headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' },
      body: JSON.stringify({
        type: 'MO',
        destinations: ['88600'],
        ccs: [],
        bccs: [],
        source: '14553011955',
        subject: 'Norwegian Blue',
        moId: 123456789012345,
        mobileOperatorId: 77,
        date: '2021-06-02T17:14:26+00:00',
        userAgent: 'HTC One',
      }),
    },
    {
      headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Id': 'text.txt', 'Content-Transfer-Encoding': 'base64' },
      body: base64Body(Buffer.from('Here is a picture of the bird in question – æøå')),
    },
    {
      headers: { 'Content-Type': 'image/jpeg', 'Content-Id': '<image.jpg>', 'Content-Transfer-Encoding': 'base64' },
      body: base64Body(JPEG),
    },
  ]);
}

describe('parseReport', () => {
  const base = { type: 'REPORT', date: '2016-05-16T19:20:30+00:00', status: 'Retrieved', outcomeId: 1, outcomeDescription: 'Success.' };

  it('accepts mtId as a number and as a string, giving a number', () => {
    expect(parseReport(JSON.stringify({ ...base, mtId: 123456789012345, userAgent: 'HTC One' }))).toEqual({
      ...base,
      mtId: 123456789012345,
      userAgent: 'HTC One',
    });
    expect(parseReport(Buffer.from(JSON.stringify({ ...base, mtId: '123456789012345' }))).mtId).toBe(123456789012345);
    expect(parseReport({ ...base, mtId: '42' }).mtId).toBe(42);
  });

  it('refuses garbage', () => {
    expect(() => parseReport('not json')).toThrow(WebhookPayloadError);
    expect(() => parseReport({ ...base, mtId: 'abc' })).toThrow(/mtId/);
    expect(() => parseReport({ ...base, mtId: 1, type: 'MO' })).toThrow(/REPORT/);
    expect(() => parseReport({ ...base, mtId: 1, status: undefined })).toThrow(/status/);
    expect(() => parseReport('[1,2]')).toThrow(WebhookPayloadError);
  });
});

describe('parseMo', () => {
  it('decodes the control part and the base64 content parts byte-exact', () => {
    const built = moBody();
    const { mo, parts } = parseMo(built.contentType, built.body);
    expect(mo).toMatchObject({ type: 'MO', source: '14553011955', destinations: ['88600'], moId: 123456789012345, mobileOperatorId: 77 });
    expect(parts.map((p) => [p.contentType, p.contentId])).toEqual([
      ['text/plain; charset=utf-8', 'text.txt'],
      ['image/jpeg', 'image.jpg'],
    ]);
    expect(parts[0]!.bytes.toString('utf8')).toBe('Here is a picture of the bird in question – æøå');
    expect(parts[1]!.bytes.equals(JPEG)).toBe(true);
  });

  it('reads the OpenMarket example as printed: LF line ends, header on the delimiter line, no close delimiter', () => {
    const body = [
      '--mimeboundaryContent-Type: application/json',
      'Content-Id: main ',
      '',
      '{"type":"MO","destinations":["88600"],"ccs":[],"bccs":[],"source":"14553011955","subject":"Norwegian Blue",',
      ' "moId":"123456789012345","mobileOperatorId":77,"date":"2021-06-02T17:14:26+00:00","userAgent":"HTC One"}',
      '--mimeboundary',
      'Content-Type: text/plain',
      'Content-Id: text.txt ',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'Here is a picture of the bird =',
      'in question =C3=A6',
      '--mimeboundary--',
      '',
    ].join('\n');
    const { mo, parts } = parseMo('multipart/mixed; boundary="mimeboundary"', Buffer.from(body));
    expect(mo.moId).toBe(123456789012345);
    expect(mo.subject).toBe('Norwegian Blue');
    expect(parts).toHaveLength(1);
    expect(parts[0]!.contentId).toBe('text.txt');
    expect(parts[0]!.bytes.toString('utf8')).toBe('Here is a picture of the bird in question æ');
  });

  it('decodes a quoted-printable part of long blank runs in time linear in its size, dropping only trailing blanks', () => {
    // Anyone who may post to an unsigned webhook endpoint chooses this body: 60 KB of it held the process for 4.6 s.
    const control = JSON.stringify({ type: 'MO', destinations: ['88600'], ccs: [], bccs: [], source: '14553011955', moId: 1, mobileOperatorId: 77 });
    const qp = `a${' '.repeat(200_000)}x \t\r\nb\t \r\n`;
    const body = `--b\r\nContent-Type: application/json\r\n\r\n${control}\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${qp}--b--\r\n`;
    const started = performance.now();
    const { parts } = parseMo('multipart/mixed; boundary=b', Buffer.from(body));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(parts[0]!.bytes.toString('latin1')).toBe(`a${' '.repeat(200_000)}x\r\nb`);
  });

  it('refuses bodies without boundary, without control part, or with a bad transfer encoding', () => {
    const built = moBody();
    expect(() => parseMo('multipart/mixed', built.body)).toThrow(/boundary/);
    expect(() => parseMo('application/json', built.body)).toThrow(WebhookPayloadError);
    const noMain = buildMultipart([{ headers: { 'Content-Type': 'text/plain' }, body: 'hi' }]);
    expect(() => parseMo(noMain.contentType, noMain.body)).toThrow(/control part/);
    const badCte = buildMultipart([
      { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: '{"type":"MO","source":"1","moId":1}' },
      { headers: { 'Content-Type': 'text/plain', 'Content-Transfer-Encoding': 'x-uuencode' }, body: 'hi' },
    ]);
    expect(() => parseMo(badCte.contentType, badCte.body)).toThrow(/x-uuencode/);
  });

  it('bounds the number of parts', () => {
    const many = buildMultipart(Array.from({ length: 5 }, () => ({ headers: { 'Content-Type': 'text/plain' }, body: 'x' })));
    expect(() => parseMultipart(many.body, many.boundary, { maxParts: 4 })).toThrow(/more than 4 parts/);
    expect(parseMultipart(many.body, many.boundary, { maxParts: 5 })).toHaveLength(5);
  });
});

// --- the handlers, over real HTTP on loopback

const servers: { close(): unknown }[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function listen(server: Server): Promise<number> {
  servers.push({ close: () => new Promise((r) => server.close(r)) });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function post(port: number, path: string, headers: Record<string, string>, body: Buffer | string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const REPORT = JSON.stringify({
  type: 'REPORT',
  mtId: '77',
  date: '2016-05-16T19:20:30+00:00',
  status: 'Retrieved',
  outcomeId: 1,
  outcomeDescription: 'Success.',
});

describe('createWebhookHandler (node:http)', () => {
  it('refuses, when made, secrets that could never verify a delivery (an unset environment variable, a malformed one)', () => {
    const onReport = async () => {};
    expect(() => createWebhookHandler({ onReport, secrets: [process.env.MMSGATE_TEST_UNSET_SECRET as string] })).toThrow(/secrets\[0\] is undefined.*leave secrets out/);
    expect(() => webhookMiddleware({ onReport, secrets: [''] })).toThrow(/secrets\[0\] is empty/);
    expect(() => createWebhookHandler({ onReport, secrets: [generateWebhookSecret(), 'not a secret!'] })).toThrow(/secrets\[1\] is not a whsec_ secret/);
    expect(() => createWebhookHandler({ onReport, secrets: [generateWebhookSecret()] })).not.toThrow();
    expect(() => createWebhookHandler({ onReport })).not.toThrow();
  });

  it('never takes an empty list of secrets for "unsigned": refused when made, and 401 from processWebhook', async () => {
    const onReport = vi.fn(async () => {});
    const fromEnv = (process.env.MMSGATE_TEST_UNSET_SECRETS ?? '').split(',').filter(Boolean);
    expect(() => createWebhookHandler({ onReport, secrets: fromEnv })).toThrow(/secrets is an empty list/);
    expect(() => webhookMiddleware({ onReport, secrets: [] })).toThrow(/secrets is an empty list/);
    const body = Buffer.from(JSON.stringify({ type: 'REPORT', mtId: 1, status: 'Retrieved' }));
    const r = await processWebhook({ onReport, secrets: [] }, { 'content-type': 'application/json' }, body);
    expect(r.status).toBe(401);
    expect(onReport).not.toHaveBeenCalled();
  });

  it('answers 200 only after the callback has finished, and passes the request ids', async () => {
    const seen: [DeliveryReport, WebhookMeta][] = [];
    let finished = false;
    const port = await listen(
      createServer(
        createWebhookHandler({
          onReport: async (r, meta) => {
            await new Promise((res) => setTimeout(res, 50));
            seen.push([r, meta]);
            finished = true;
          },
        }),
      ),
    );
    const res = await post(port, '/hooks', { 'content-type': 'application/json', 'x-request-id': 'req-1', 'x-mmsgate-delivery-id': 'd-9' }, REPORT);
    expect(res.status).toBe(200);
    expect(finished).toBe(true);
    expect(seen[0]![0].mtId).toBe(77);
    expect(seen[0]![1]).toMatchObject({ requestId: 'req-1', deliveryId: 'd-9' });
  });

  it('answers 400 on garbage, 500 when the callback fails, and handles MO', async () => {
    const mos: MoMessage[] = [];
    const port = await listen(
      createServer(
        createWebhookHandler({
          onReport: () => {
            throw new Error('db down');
          },
          onMo: (m) => {
            mos.push(m);
          },
        }),
      ),
    );
    expect((await post(port, '/', { 'content-type': 'application/json' }, '{"type":"REPORT"')).status).toBe(400);
    expect((await post(port, '/', { 'content-type': 'application/json' }, REPORT)).status).toBe(500);
    const mo = moBody();
    expect((await post(port, '/', { 'content-type': mo.contentType }, mo.body)).status).toBe(200);
    expect(mos[0]!.parts[1]!.bytes.equals(JPEG)).toBe(true);
  });

  it('checks signatures when secrets are set: 401 unsigned or wrong, 200 signed', async () => {
    const secret = generateWebhookSecret();
    let calls = 0;
    const port = await listen(createServer(createWebhookHandler({ secrets: [secret], onReport: () => void calls++ })));
    const ts = Math.floor(Date.now() / 1000);
    const signed = (s: string, body: string) => ({
      'content-type': 'application/json',
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(ts),
      'webhook-signature': signWebhook([s], 'msg_1', ts, body),
    });
    expect((await post(port, '/', { 'content-type': 'application/json' }, REPORT)).status).toBe(401);
    expect((await post(port, '/', signed(generateWebhookSecret(), REPORT), REPORT)).status).toBe(401);
    expect((await post(port, '/', signed(secret, REPORT), REPORT.replace('77', '78'))).status).toBe(401);
    expect(calls).toBe(0);
    expect((await post(port, '/', signed(secret, REPORT), REPORT)).status).toBe(200);
    expect(calls).toBe(1);
  });

  it('refuses bodies over maxBodyBytes with 413', async () => {
    const port = await listen(createServer(createWebhookHandler({ maxBodyBytes: 100, onReport: () => undefined })));
    expect((await post(port, '/', { 'content-type': 'application/json' }, REPORT + ' '.repeat(200))).status).toBe(413);
  });
});

describe('webhookMiddleware', () => {
  it('works as (req, res, next) on a raw stream and on a body parsed upstream', async () => {
    const got: number[] = [];
    const mw = webhookMiddleware({ onReport: (r) => void got.push(r.mtId) });
    const port = await listen(
      createServer((req, res) => {
        if (req.url === '/parsed') Object.assign(req, { body: JSON.parse(REPORT) }); // as express.json() would
        mw(req, res, (err) => res.writeHead(599).end(String(err)));
      }),
    );
    expect((await post(port, '/raw', { 'content-type': 'application/json' }, REPORT)).status).toBe(200);
    expect((await post(port, '/parsed', { 'content-type': 'application/json' }, REPORT)).status).toBe(200);
    expect(got).toEqual([77, 77]);
  });

  it('hands callback failures to next(err)', async () => {
    const mw = webhookMiddleware({
      onReport: () => {
        throw new Error('boom');
      },
    });
    const port = await listen(createServer((req, res) => mw(req, res, (err) => res.writeHead(599).end(String(err)))));
    const res = await post(port, '/', { 'content-type': 'application/json' }, REPORT);
    expect(res).toEqual({ status: 599, body: 'Error: boom' });
  });
});

describe('Fastify 5 recipe (documented on webhookMiddleware)', () => {
  it('receives a signed report and an MO through a raw-body parser and processWebhook', async () => {
    const secret = generateWebhookSecret();
    const reports: DeliveryReport[] = [];
    const mos: MoMessage[] = [];
    const opts = { secrets: [secret], onReport: (r: DeliveryReport) => void reports.push(r), onMo: (m: MoMessage) => void mos.push(m) };
    const app = Fastify();
    app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 16 * 1024 * 1024 }, (_req, body, done) => done(null, body));
      scope.post('/hooks/mms', async (request, reply) => {
        const r = await processWebhook(opts, request.headers, request.body as Buffer);
        return reply.code(r.status).header('content-type', 'application/json').send(r.body);
      });
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    servers.push({ close: () => app.close() });
    const port = (app.server.address() as AddressInfo).port;
    const ts = Math.floor(Date.now() / 1000);
    const sign = (ct: string, body: Buffer | string) => ({
      'content-type': ct,
      'webhook-id': 'm1',
      'webhook-timestamp': String(ts),
      'webhook-signature': signWebhook([secret], 'm1', ts, body),
    });
    expect((await post(port, '/hooks/mms', sign('application/json', REPORT), REPORT)).status).toBe(200);
    const mo = moBody();
    expect((await post(port, '/hooks/mms', sign(mo.contentType, mo.body), mo.body)).status).toBe(200);
    expect((await post(port, '/hooks/mms', { 'content-type': 'application/json' }, REPORT)).status).toBe(401);
    expect(reports.map((r) => r.mtId)).toEqual([77]);
    expect(mos[0]!.parts[1]!.bytes.equals(JPEG)).toBe(true);
  });
});
