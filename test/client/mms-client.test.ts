import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ContentIdAllocator,
  contentTypeForFile,
  MmsApiError,
  MmsClient,
  MmsNetworkError,
  type MmsClientOptions,
  type ResolvedAddress,
} from '../../src/client/index.ts';
import { accept, ACCOUNT, closedPort, json, PASSWORD, startFakeGateway, type FakeGateway } from './fake-gateway.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function gateway(...args: Parameters<typeof startFakeGateway>): Promise<FakeGateway> {
  const g = await startFakeGateway(...args);
  cleanups.push(() => g.close());
  return g;
}

function client(opts: Partial<MmsClientOptions> & { endpoints: string[] }): MmsClient {
  const c = new MmsClient({ accountId: ACCOUNT, password: PASSWORD, ...opts });
  cleanups.push(() => c.close());
  return c;
}

const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe1]), Buffer.from('Exif\0\0\r\n\r\n--'), Buffer.alloc(2000, 7), Buffer.from([0xff, 0xd9])]);
const simple = { source: '88600', destination: '15551230001', parts: [{ text: 'hello' }] };

describe('MmsClient.send: the request it builds', () => {
  it('posts multipart/mixed with the JSON control part first and decodable content parts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mmsgate-client-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'My photo (1).JPG');
    await writeFile(file, JPEG);
    const g = await gateway(accept(123456789012345, 'req-abc'));
    const c = client({ endpoints: [g.url] });
    const res = await c.send({
      source: '88600',
      destination: '15551230001',
      subject: 'Example MMS',
      mtConfig: 'config1',
      mobileOperatorId: 77,
      parts: [
        { text: 'Hej – ünïcode ✓' },
        { file },
        { data: Buffer.from('BEGIN:VCARD\r\nEND:VCARD\r\n'), contentType: 'text/vcard' },
        { url: 'https://cdn.example.com/media/MMS-Demo.mp4' },
        { text: 'second text', contentId: 'caption' },
      ],
    });
    expect(res).toEqual({ mtId: 123456789012345, requestId: 'req-abc', endpoint: g.url });
    const r = g.received[0]!;
    expect(r.method).toBe('POST');
    expect(r.url).toBe('/mms/v2/send');
    expect(r.authOk).toBe(true);
    expect(r.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.control).toEqual({
      type: 'MT',
      source: '88600',
      destination: '15551230001',
      mtConfig: 'config1',
      subject: 'Example MMS',
      mobileOperatorId: 77,
    });
    expect(r.parts[0]!.headers['content-type']).toBe('application/json');
    const content = r.parts.slice(1);
    expect(content.map((p) => p.contentType)).toEqual([
      'text/plain; charset=utf-8',
      'image/jpeg',
      'text/vcard',
      'application/vnd.openmarket.remoteContent',
      'text/plain; charset=utf-8',
    ]);
    expect(content[0]!.bytes.toString('utf8')).toBe('Hej – ünïcode ✓');
    expect(content[1]!.headers['content-transfer-encoding']).toBe('base64');
    expect(content[1]!.bytes.equals(JPEG)).toBe(true);
    expect(content[2]!.bytes.toString()).toBe('BEGIN:VCARD\r\nEND:VCARD\r\n');
    expect(content[3]!.bytes.toString()).toBe('https://cdn.example.com/media/MMS-Demo.mp4');
    const ids = content.map((p) => p.contentId);
    expect(ids[4]).toBe('caption');
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9]{1,19}$/);
    expect(ids[1]).toBe('Myphoto1JPG');
    expect(ids[3]).toBe('MMSDemomp4');
  });

  it('refuses requests it cannot build before connecting anywhere', async () => {
    const c = client({ endpoints: ['http://127.0.0.1:9'] });
    await expect(c.send({ ...simple, parts: [] })).rejects.toThrow(TypeError);
    await expect(c.send({ ...simple, parts: [{ url: 'ftp://x/y' }] })).rejects.toThrow(/http/);
    await expect(c.send({ ...simple, parts: [{ text: 'a', contentId: 'x' }, { text: 'b', contentId: 'X' }] })).rejects.toThrow(/duplicate/);
  });
});

describe('MmsClient.send: idempotency keys', () => {
  it('refuses, before any request, a key the gateway would refuse (empty, spaces, control characters, over 255)', async () => {
    const g = await gateway(accept(123456789012345, 'req-k'));
    const c = client({ endpoints: [g.url] });
    for (const idempotencyKey of ['', 'has space', 'tab\there', 'x'.repeat(256), 'ünï']) {
      await expect(c.send({ ...simple, idempotencyKey })).rejects.toThrow(/1 to 255 visible ASCII/);
    }
    expect(g.received).toHaveLength(0);
    await expect(c.send({ ...simple, idempotencyKey: 'order-42:retry' })).resolves.toMatchObject({ mtId: 123456789012345 });
  });
});

describe('ContentIdAllocator and content types', () => {
  it('makes short alphanumeric ids, unique within a message', () => {
    const a = new ContentIdAllocator();
    a.reserve('main');
    expect(a.fromName('main', 'x')).toBe('main2');
    expect(a.fromName('photo.jpg', 'p')).toBe('photojpg');
    expect(a.fromName('photo.jpg', 'p')).toBe('photo2jpg');
    expect(a.fromName('../../../etc/passwd', 'p')).toBe('passwd');
    expect(a.fromName('ÆØÅ.png', 'part3')).toBe('part3png');
    const long = a.fromName('a-very-long-file-name-indeed.jpeg', 'p');
    expect(long).toMatch(/^[A-Za-z0-9]{19}$/);
    expect(a.fromName('a-very-long-file-name-indeed.jpeg', 'p')).not.toBe(long);
    expect(() => a.reserve('bad\r\nid')).toThrow(TypeError);
  });

  it('knows the MMS content types by extension', () => {
    expect(['a.jpg', 'a.JPEG', 'a.png', 'a.gif', 'a.webp', 'a.mp4', 'a.3gp', 'a.amr', 'a.mp3', 'a.vcf', 'a.smil', 'a.txt', 'a.bin'].map(contentTypeForFile)).toEqual([
      'image/jpeg',
      'image/jpeg',
      'image/png',
      'image/gif',
      'image/webp',
      'video/mp4',
      'video/3gpp',
      'audio/amr',
      'audio/mpeg',
      'text/vcard',
      'application/smil',
      'text/plain; charset=utf-8',
      'application/octet-stream',
    ]);
  });
});

describe('MmsClient.send: failover', () => {
  it('goes to the next endpoint when the first refuses connections', async () => {
    const dead = await closedPort();
    const g = await gateway(accept(5));
    const c = client({ endpoints: [`http://127.0.0.1:${dead}`, g.url] });
    const res = await c.send({ ...simple, idempotencyKey: 'key-123' });
    expect(res.mtId).toBe(5);
    expect(res.endpoint).toBe(g.url);
    expect(g.received).toHaveLength(1);
    expect(g.received[0]!.headers['idempotency-key']).toBe('key-123');
  });

  it('repeats the same Idempotency-Key when a connection dies after the request was sent', async () => {
    const keys: string[] = [];
    const resetter = createServer((req, res) => {
      keys.push(String(req.headers['idempotency-key']));
      req.resume();
      req.on('end', () => res.socket?.destroy());
    });
    await new Promise<void>((r) => resetter.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => resetter.close(r)));
    const g = await gateway(accept(6));
    const c = client({ endpoints: [`http://127.0.0.1:${(resetter.address() as AddressInfo).port}`, g.url] });
    const res = await c.send(simple);
    expect(res.mtId).toBe(6);
    expect(keys).toHaveLength(1);
    expect(g.received[0]!.headers['idempotency-key']).toBe(keys[0]);
    // Each send call has its own key.
    await c.send(simple);
    expect(g.received[1]!.headers['idempotency-key']).not.toBe(keys[0]);
  });

  it('fails over on 503 with the same key', async () => {
    const busy = await gateway((_r, res) => json(res, 503, { code: 'SHUTTING_DOWN', description: 'draining' }));
    const g = await gateway(accept(7, 'req-7'));
    const c = client({ endpoints: [busy.url, g.url] });
    const res = await c.send(simple);
    expect(res).toEqual({ mtId: 7, requestId: 'req-7', endpoint: g.url });
    expect(busy.received[0]!.headers['idempotency-key']).toBe(g.received[0]!.headers['idempotency-key']);
  });

  it('fails over when an endpoint does not answer in time', async () => {
    const silent = await gateway(() => undefined);
    const g = await gateway(accept(8));
    const c = client({ endpoints: [silent.url, g.url], timeoutMs: 300 });
    expect((await c.send(simple)).mtId).toBe(8);
    expect(silent.received).toHaveLength(1);
  });

  it('reports an attempt that ran out of time with a timeout code and the limit, not a bare number', async () => {
    const silent = await gateway(() => undefined);
    const stalled = await gateway((_r, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"mtId": '); // the rest never comes
    });
    const c = client({ endpoints: [silent.url, stalled.url], timeoutMs: 300, retries: 1 });
    const err = await c.send(simple).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MmsNetworkError);
    const [headers, body] = (err as MmsNetworkError).attempts.map((a) => a.error);
    expect(headers).toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT', message: 'no answer within 300 ms' });
    expect(body).toMatchObject({ code: 'UND_ERR_BODY_TIMEOUT', message: 'the answer did not arrive in full within 300 ms' });
    expect((err as MmsNetworkError).message).toBe(
      `no endpoint answered after 2 attempt(s); last: ${stalled.url}: UND_ERR_BODY_TIMEOUT the answer did not arrive in full within 300 ms`,
    );
  });

  it('does not fail over on 400 and throws a typed error with the code', async () => {
    const bad = await gateway((_r, res) =>
      json(res, 400, { code: 'INVALID_DESTINATION', description: 'digits only' }, { 'x-request-id': 'req-400' }),
    );
    const g = await gateway(accept());
    const c = client({ endpoints: [bad.url, g.url] });
    const err = await c.send(simple).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MmsApiError);
    expect(err).toMatchObject({
      code: 'INVALID_DESTINATION',
      description: 'digits only',
      httpStatus: 400,
      requestId: 'req-400',
      retryable: false,
      endpoint: bad.url,
    });
    expect(g.received).toHaveLength(0);
  });

  it('waits out a 429 with Retry-After on the same endpoint; a 429 without it is thrown as retryable', async () => {
    let n = 0;
    const limited = await gateway((r, res) =>
      n++ === 0 ? json(res, 429, { code: 'RATE_LIMITED', description: 'slow down' }, { 'retry-after': '1' }) : accept(9)(r, res),
    );
    const other = await gateway(accept(10));
    const c = client({ endpoints: [limited.url, other.url] });
    expect((await c.send(simple)).mtId).toBe(9);
    expect(limited.received).toHaveLength(2);
    expect(limited.received[0]!.headers['idempotency-key']).toBe(limited.received[1]!.headers['idempotency-key']);
    expect(other.received).toHaveLength(0);

    const always = await gateway((_r, res) => json(res, 429, { code: 'RATE_LIMITED', description: 'slow down' }));
    const c2 = client({ endpoints: [always.url, other.url] });
    await expect(c2.send(simple)).rejects.toMatchObject({ code: 'RATE_LIMITED', httpStatus: 429, retryable: true });
    expect(other.received).toHaveLength(0);
  });

  it('throws MmsNetworkError listing the attempts when nothing answers', async () => {
    const p1 = await closedPort();
    const p2 = await closedPort();
    const c = client({ endpoints: [`http://127.0.0.1:${p1}`, `http://127.0.0.1:${p2}`], retries: 1 });
    const err = await c.send(simple).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MmsNetworkError);
    const ne = err as MmsNetworkError;
    expect(ne.attempts.map((a) => a.endpoint)).toEqual([`http://127.0.0.1:${p1}`, `http://127.0.0.1:${p2}`]);
    expect(ne.message).toMatch(/ECONNREFUSED/);
  });
});

describe('MmsClient: DNS caching', () => {
  async function twoAddressGateways() {
    const a = await gateway(accept(1));
    const b = await gateway(accept(2), '127.0.0.2', a.port);
    let answer = '127.0.0.1';
    const calls: string[] = [];
    const lookup = async (host: string): Promise<ResolvedAddress[]> => {
      calls.push(host);
      return [{ address: answer, family: 4 }];
    };
    return { a, b, lookup, calls, move: () => (answer = '127.0.0.2') };
  }

  it('uses a changed address once the TTL has passed, even with keep-alive connections open', async () => {
    const { a, b, lookup, calls, move } = await twoAddressGateways();
    let clock = 1_000_000;
    const c = client({ endpoints: [`http://mms.gateway.test:${a.port}`], lookup, dnsTtlMs: 10_000, now: () => clock });
    expect((await c.send(simple)).mtId).toBe(1);
    expect(a.received[0]!.headers.host).toBe(`mms.gateway.test:${a.port}`);
    move();
    clock += 5_000;
    expect((await c.send(simple)).mtId).toBe(1); // still cached
    expect(calls).toEqual(['mms.gateway.test']);
    clock += 5_001;
    expect((await c.send(simple)).mtId).toBe(2);
    expect(b.received).toHaveLength(1);
    expect(calls).toHaveLength(2);
  });

  /**
   * A 60 s TTL and two connections: at t=0 the name points to A (two keep-alive connections); it moves to B; at
   * t=60.5 s, after the answer expired, a request queued since t=59 s makes the pool open a new connection, whose
   * lookup re-resolves (to B) and refreshes the shared cache entry until t=120.5 s. The other connection to A
   * stays open. So the pool holds connections to both A (resolved at t=0) and B (resolved at t=60.5 s).
   */
  async function poolWithOldAndNewConnection() {
    let hold = true;
    const held: ServerResponse[] = [];
    const a = await gateway((r, res) => (hold ? held.push(res) : accept(1)(r, res)));
    const b = await gateway(accept(2), '127.0.0.2', a.port);
    const state = { answer: '127.0.0.1', clock: 0 };
    const lookup = async (): Promise<ResolvedAddress[]> => [{ address: state.answer, family: 4 }];
    const c = client({
      endpoints: [`http://mms.gateway.test:${a.port}`],
      lookup,
      dnsTtlMs: 60_000,
      connections: 2,
      now: () => state.clock,
    });
    const until = async (cond: () => boolean) => {
      for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
      expect(cond()).toBe(true);
    };
    const release = (res: ServerResponse, headers: Record<string, string> = {}) => json(res, 200, { mtId: 1 }, headers);

    // Two requests held at once need two connections.
    const warm = [c.send(simple), c.send(simple)];
    await until(() => held.length === 2);
    held.splice(0).forEach((res) => release(res));
    await Promise.all(warm);

    state.answer = '127.0.0.2';
    state.clock = 59_000; // still fresh: two sends on the connections to A, the third queued
    const batch = [c.send(simple), c.send(simple), c.send(simple)];
    await until(() => held.length === 2);
    state.clock = 60_500;
    release(held.shift()!, { connection: 'close' });
    await until(() => b.received.length === 1);
    release(held.shift()!); // keep-alive: this connection to A stays open
    await Promise.all(batch);
    hold = false;
    const sendThree = async () => (await Promise.all([c.send(simple), c.send(simple), c.send(simple)])).map((r) => r.mtId);
    return { a, b, state, sendThree };
  }

  it('retires a pool when the answer it was built from expires, even if a newer connection refreshed the cache', async () => {
    const { a, state, sendThree } = await poolWithOldAndNewConnection();
    const toA = a.received.length;
    state.clock = 61_000; // past the pool's own answer (t=60 s), though the cache entry is fresh until t=120.5 s
    expect(await sendThree()).toEqual([2, 2, 2]);
    expect(a.received).toHaveLength(toA);
  });

  it('retires a pool whose connections went to another answer, even when the name points back to the first', async () => {
    const { b, state, sendThree } = await poolWithOldAndNewConnection();
    const toB = b.received.length;
    state.answer = '127.0.0.1';
    state.clock = 121_000; // B was resolved at t=60.5 s, more than the TTL ago; the new answer is A again
    expect(await sendThree()).toEqual([1, 1, 1]);
    expect(b.received).toHaveLength(toB);
  });

  it('clamps a TTL above 60 s to 60 s', async () => {
    const { a, b, lookup, move } = await twoAddressGateways();
    let clock = 1_000_000;
    const c = client({ endpoints: [`http://mms.gateway.test:${a.port}`], lookup, dnsTtlMs: 3_600_000, now: () => clock });
    expect(c.dnsTtlMs).toBe(60_000);
    expect((await c.send(simple)).mtId).toBe(1);
    move();
    clock += 59_000;
    expect((await c.send(simple)).mtId).toBe(1);
    clock += 1_001;
    expect((await c.send(simple)).mtId).toBe(2);
    expect(b.received).toHaveLength(1);
  });

  it('counts a DNS lookup that never answers against the attempt limit, fails over, and asks again later', async () => {
    const g = await gateway(accept(4));
    const primary = `http://primary.gateway.test:${g.port}`;
    let calls = 0;
    const lookup = (): Promise<ResolvedAddress[]> =>
      ++calls === 1 ? new Promise(() => undefined) : Promise.resolve([{ address: '127.0.0.1', family: 4 }]);
    const c = client({ endpoints: [primary, g.url], lookup, timeoutMs: 300, endpointCooldownMs: 0 });
    const t0 = Date.now();
    const res = await c.send({ ...simple, idempotencyKey: 'key-dns' });
    expect(res.endpoint).toBe(g.url);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(g.received).toHaveLength(1);
    expect(g.received[0]!.headers['idempotency-key']).toBe('key-dns');
    // The query that never answered is not shared with later calls: the next one asks the resolver again.
    expect((await c.send(simple)).endpoint).toBe(primary);
    expect(calls).toBe(2);
    expect(g.received[1]!.headers.host).toBe(`primary.gateway.test:${g.port}`);

    // With nowhere to fail over to, the attempt ends as a connect timeout within the limit.
    const only = client({ endpoints: [primary], lookup: () => new Promise(() => undefined), timeoutMs: 300, retries: 0 });
    const t1 = Date.now();
    const err = await only.status(1).catch((e: unknown) => e);
    expect(Date.now() - t1).toBeLessThan(2_000);
    expect(err).toBeInstanceOf(MmsNetworkError);
    expect((err as MmsNetworkError).attempts[0]!.error).toMatchObject({ code: 'UND_ERR_CONNECT_TIMEOUT' });
    expect((err as MmsNetworkError).message).toMatch(/DNS lookup of primary\.gateway\.test/);
  }, 5_000);

  it('treats a failing resolver like a dead endpoint and fails over', async () => {
    const g = await gateway(accept(3));
    const lookup = async (): Promise<ResolvedAddress[]> => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    const c = client({ endpoints: ['http://gone.gateway.test:8080', g.url], lookup });
    expect((await c.send(simple)).endpoint).toBe(g.url);
  });
});

describe('MmsClient.status', () => {
  it('reads the status JSON with Basic auth and maps 404 to NOT_FOUND', async () => {
    const doc = {
      mtId: 42,
      state: 'delivered',
      status: 'Retrieved',
      outcomeId: 1,
      outcomeDescription: 'Success.',
      source: '88600',
      destination: '15551230001',
      subject: 'S',
      createdAt: '2024-01-01T00:00:00Z',
      updatedAt: '2024-01-01T00:00:05Z',
      events: [{ at: '2024-01-01T00:00:00Z', type: 'accepted', node: 'n1', detail: '' }],
    };
    const g = await gateway((r, res) =>
      r.authOk && r.url === '/mms/v2/status/42' ? json(res, 200, doc) : json(res, 404, { code: 'NOT_FOUND', description: 'No such resource.' }),
    );
    const c = client({ endpoints: [g.url] });
    expect(await c.status(42)).toEqual(doc);
    expect(g.received[0]!.method).toBe('GET');
    await expect(c.status('43')).rejects.toMatchObject({ code: 'NOT_FOUND', httpStatus: 404 });
    await expect(c.status('4/../x')).rejects.toThrow(TypeError);
  });
});
