// Real HTTP on loopback only. Addresses outside loopback appear only where the guard refuses them before dialling
// (injected resolvers are fakes, so nothing is resolved or dialled).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  checkUrlAllowed,
  ContentFetchError,
  createFetcher,
  createGuardedDispatcher,
  guardedLookup,
  type Fetcher,
  type FetcherOptions,
} from '../../src/content/guarded-fetch.ts';

const PNG_1PX = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

interface TestServer {
  server: Server;
  port: number;
  connections: number;
  requests: Array<{ url: string; headers: IncomingMessage['headers'] }>;
}

async function startServer(host: string, handler: (req: IncomingMessage, res: ServerResponse, s: TestServer) => void): Promise<TestServer> {
  const server = createServer();
  const s: TestServer = { server, port: 0, connections: 0, requests: [] };
  server.on('connection', () => s.connections++);
  server.on('request', (req, res) => {
    s.requests.push({ url: req.url ?? '', headers: req.headers });
    handler(req, res, s);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  s.port = (server.address() as AddressInfo).port;
  return s;
}

function stop(s: TestServer | undefined): Promise<void> {
  if (!s) return Promise.resolve();
  s.server.closeAllConnections();
  return new Promise((resolve) => s.server.close(() => resolve()));
}

let a: TestServer;
let b: TestServer;
const fetchers: Fetcher[] = [];

function fetcher(over: Partial<FetcherOptions> = {}): Fetcher {
  const f = createFetcher({
    policy: { allowPrivateAddresses: false },
    timeoutMs: 5000,
    maxBytes: 1000,
    maxRedirects: 3,
    userAgent: 'mmsgate-test',
    ...over,
  });
  fetchers.push(f);
  return f;
}

const LOOPBACK_ONLY = { allowPrivateAddresses: ['127.0.0.1/32'] };
const ALLOW_ALL = { allowPrivateAddresses: true };

async function failure(p: Promise<unknown>): Promise<ContentFetchError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ContentFetchError);
  return err as ContentFetchError;
}

beforeAll(async () => {
  b = await startServer('127.0.0.1', (req, res) => {
    // Says 304 to any conditional request, whatever its validators.
    if (req.url === '/always-304' && (req.headers['if-none-match'] || req.headers['if-modified-since'])) return void res.writeHead(304).end();
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end(req.url === '/echo-auth' ? (req.headers.authorization ?? 'none') : 'from b');
  });
  a = await startServer('127.0.0.1', (req, res) => {
    const url = req.url ?? '/';
    if (url === '/text') {
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.end('hello');
    } else if (url === '/png-untyped') {
      res.end(PNG_1PX); // Node sets no Content-Type unless told
    } else if (url === '/png-octet') {
      res.setHeader('content-type', 'application/octet-stream');
      res.end(PNG_1PX);
    } else if (url === '/html') {
      res.setHeader('content-type', 'text/html');
      res.end('<html></html>');
    } else if (url === '/to-b') {
      res.writeHead(302, { location: `http://127.0.0.1:${b.port}/final` }).end();
    } else if (url === '/to-b-304') {
      res.writeHead(302, { location: `http://127.0.0.1:${b.port}/always-304` }).end();
    } else if (url === '/to-b-auth') {
      res.writeHead(302, { location: `http://127.0.0.1:${b.port}/echo-auth` }).end();
    } else if (url === '/to-other-loopback') {
      res.writeHead(302, { location: `http://127.0.0.2:${b.port}/final` }).end();
    } else if (url === '/to-file') {
      res.writeHead(301, { location: 'file:///etc/passwd' }).end();
    } else if (url === '/loop') {
      res.writeHead(302, { location: '/loop' }).end();
    } else if (url.startsWith('/chain/')) {
      res.writeHead(307, { location: `/chain/${Number(url.slice(7)) + 1}` }).end();
    } else if (url === '/big-declared') {
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': '5000' });
      res.end(Buffer.alloc(5000, 1));
    } else if (url === '/big-chunked') {
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      let n = 0;
      const tick = (): void => {
        if (n++ >= 20 || res.destroyed) return void res.end();
        res.write(Buffer.alloc(200, 2), () => setImmediate(tick));
      };
      tick();
    } else if (url.startsWith('/status/')) {
      const code = Number(url.slice(8));
      if (code === 429) res.setHeader('retry-after', '7');
      res.writeHead(code).end('nope');
    } else if (url === '/hang') {
      // never answers
    } else if (url === '/auth') {
      res.setHeader('content-type', 'text/plain');
      res.end(req.headers.authorization ?? 'none');
    } else {
      res.writeHead(404).end();
    }
  });
});

afterEach(async () => {
  await Promise.all(fetchers.splice(0).map((f) => f.close()));
  a.connections = 0;
  b.connections = 0;
});

afterAll(async () => {
  await stop(a);
  await stop(b);
});

describe('address guard on connect', () => {
  it('refuses 127.0.0.1 by default and the server sees no connection', async () => {
    const err = await failure(fetcher().fetch(`http://127.0.0.1:${a.port}/text`));
    expect(err.reason).toBe('address-refused');
    expect(err.permanent).toBe(true);
    expect(a.connections).toBe(0);
  });

  it('fetches from loopback when the policy allows it', async () => {
    const r = await fetcher({ policy: ALLOW_ALL }).fetch(`http://127.0.0.1:${a.port}/text`);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('hello');
    expect(r.contentType).toBe('text/plain; charset=utf-8');
    expect(r.mediaType).toBe('text/plain');
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(a.requests.at(-1)?.headers['user-agent']).toBe('mmsgate-test');
  });

  it('refuses numeric IPv4 spellings that the URL parser turns into 127.0.0.1', async () => {
    for (const host of ['2130706433', '0x7f.0.0.1', '0177.0.0.1', '127.1']) {
      const err = await failure(fetcher().fetch(`http://${host}:${a.port}/text`));
      expect(err.reason, host).toBe('address-refused');
    }
    expect(a.connections).toBe(0);
    // ...and they do reach the server when loopback is allowed: the normalised address is what gets dialled.
    const r = await fetcher({ policy: LOOPBACK_ONLY }).fetch(`http://2130706433:${a.port}/text`);
    expect(r.body.toString()).toBe('hello');
  });

  it('refuses localhost through the real resolver, without connecting', async () => {
    const err = await failure(fetcher().fetch(`http://localhost:${a.port}/text`));
    expect(err.reason).toBe('address-refused');
    expect(a.connections).toBe(0);
  });

  it('refuses [::1] and IPv4-mapped loopback literals', async () => {
    let v6: TestServer | undefined;
    try {
      v6 = await startServer('::1', (_req, res) => res.end('v6'));
    } catch {
      v6 = undefined; // no IPv6 loopback on this host: the refusal is still checked below
    }
    const port = v6?.port ?? a.port;
    for (const url of [`http://[::1]:${port}/`, `http://[::ffff:127.0.0.1]:${a.port}/text`, `http://[0:0:0:0:0:0:0:1]:${port}/`]) {
      const err = await failure(fetcher().fetch(url));
      expect(err.reason, url).toBe('address-refused');
    }
    expect(v6?.connections ?? 0).toBe(0);
    expect(a.connections).toBe(0);
    await stop(v6);
  });

  it('refuses a public-looking name that resolves to a private address, before dialling', async () => {
    const asked: string[] = [];
    const f = fetcher({
      lookup: async (host) => {
        asked.push(host);
        return [{ address: '10.0.0.5', family: 4 }];
      },
    });
    const err = await failure(f.fetch('http://content.example.com/pic.jpg'));
    expect(err.reason).toBe('address-refused');
    expect(err.message).toContain('10.0.0.5');
    expect(asked).toEqual(['content.example.com']);
  });

  it('dials exactly the address the injected resolver returned', async () => {
    const f = fetcher({ policy: LOOPBACK_ONLY, lookup: async () => [{ address: '127.0.0.1', family: 4 }] });
    const r = await f.fetch(`http://media.customer.test:${a.port}/text`);
    expect(r.body.toString()).toBe('hello');
    expect(a.requests.at(-1)?.headers.host).toBe(`media.customer.test:${a.port}`);
  });

  it('keeps the connection alive across fetches to one host', async () => {
    const f = fetcher({ policy: ALLOW_ALL });
    await f.fetch(`http://127.0.0.1:${a.port}/text`);
    // The socket returns to the pool a tick after the body ends; a pipeline never fetches back-to-back anyway.
    await new Promise((resolve) => setImmediate(resolve));
    await f.fetch(`http://127.0.0.1:${a.port}/text`);
    expect(a.connections).toBe(1);
  });
});

describe('guardedLookup (no sockets)', () => {
  it('fails when any one of several addresses is refused, in both callback shapes', async () => {
    const lookup = guardedLookup(LOOPBACK_ONLY, async () => [
      { address: '127.0.0.1', family: 4 },
      { address: '192.168.1.10', family: 4 },
    ]);
    for (const all of [true, false]) {
      const err = await new Promise<unknown>((resolve) => lookup('mixed.test', { all }, (e) => resolve(e)));
      expect(err).toBeInstanceOf(ContentFetchError);
      expect((err as ContentFetchError).reason).toBe('address-refused');
    }
  });

  it('passes allowed addresses through in the shape asked for', async () => {
    const lookup = guardedLookup(LOOPBACK_ONLY, async () => [{ address: '127.0.0.1', family: 4 }]);
    const all = await new Promise<unknown>((resolve) => lookup('ok.test', { all: true }, (_e, addrs) => resolve(addrs)));
    expect(all).toEqual([{ address: '127.0.0.1', family: 4 }]);
    const one = await new Promise<unknown[]>((resolve) => lookup('ok.test', {}, (_e, addr, fam) => resolve([addr, fam])));
    expect(one).toEqual(['127.0.0.1', 4]);
  });
});

describe('createGuardedDispatcher (for webhook delivery)', () => {
  it('refuses IP-literal and named loopback hosts on direct use, without connecting', async () => {
    const agent = createGuardedDispatcher({ allowPrivateAddresses: false });
    try {
      for (const origin of [`http://127.0.0.1:${a.port}`, `http://localhost:${a.port}`, `http://2130706433:${a.port}`]) {
        const err = await agent.request({ origin, path: '/text', method: 'GET' }).catch((e: unknown) => e);
        expect(err, origin).toBeInstanceOf(ContentFetchError);
        expect((err as ContentFetchError).reason).toBe('address-refused');
      }
      expect(a.connections).toBe(0);
    } finally {
      await agent.close();
    }
  });

  it('connects when the policy allows the address', async () => {
    const agent = createGuardedDispatcher({ allowPrivateAddresses: ['127.0.0.1/32'] });
    try {
      const res = await agent.request({ origin: `http://127.0.0.1:${a.port}`, path: '/text', method: 'GET' });
      expect(await res.body.text()).toBe('hello');
    } finally {
      await agent.close();
    }
  });
});

describe('checkUrlAllowed (webhook URLs)', () => {
  it('resolves and checks every address, and vets the scheme', async () => {
    const fake = async (): Promise<Array<{ address: string; family: 4 | 6 }>> => [
      { address: '2606:4700::1', family: 6 },
      { address: '169.254.169.254', family: 4 },
    ];
    expect((await failure(checkUrlAllowed('https://hooks.example.com/dr', { allowPrivateAddresses: false }, fake))).reason).toBe('address-refused');
    const pub = async (): Promise<Array<{ address: string; family: 4 | 6 }>> => [{ address: '2606:4700::1', family: 6 }];
    expect((await checkUrlAllowed('https://hooks.example.com/dr', { allowPrivateAddresses: false }, pub)).hostname).toBe('hooks.example.com');
    expect((await failure(checkUrlAllowed('ftp://hooks.example.com/', { allowPrivateAddresses: true }, pub))).reason).toBe('bad-url');
    expect((await failure(checkUrlAllowed('http://[::1]/', { allowPrivateAddresses: false }, pub))).reason).toBe('address-refused');
  });
});

describe('redirects', () => {
  it('follows a redirect to another loopback port when loopback is allowed', async () => {
    const r = await fetcher({ policy: LOOPBACK_ONLY }).fetch(`http://127.0.0.1:${a.port}/to-b`);
    expect(r.body.toString()).toBe('from b');
    expect(r.finalUrl).toBe(`http://127.0.0.1:${b.port}/final`);
    expect(r.redirects).toBe(1);
  });

  it('refuses the first hop by default: neither server is contacted', async () => {
    const err = await failure(fetcher().fetch(`http://127.0.0.1:${a.port}/to-b`));
    expect(err.reason).toBe('address-refused');
    expect(a.connections + b.connections).toBe(0);
  });

  it('re-checks every hop: a redirect to an address outside the allow-list is refused', async () => {
    const err = await failure(fetcher({ policy: LOOPBACK_ONLY }).fetch(`http://127.0.0.1:${a.port}/to-other-loopback`));
    expect(err.reason).toBe('address-refused');
    expect(err.message).toContain('127.0.0.2');
    expect(b.connections).toBe(0);
  });

  it('sends no validators past a redirect to another origin, so its 304 cannot stand for a body it never served', async () => {
    const r = await fetcher({ policy: LOOPBACK_ONLY }).fetch(`http://127.0.0.1:${a.port}/to-b-304`, { headers: { 'if-none-match': '"from-a"' } });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('from b');
  });

  it('refuses a redirect to a non-http scheme', async () => {
    const err = await failure(fetcher({ policy: ALLOW_ALL }).fetch(`http://127.0.0.1:${a.port}/to-file`));
    expect(err.reason).toBe('bad-url');
    expect(err.permanent).toBe(true);
  });

  it('stops a redirect loop and a too-long chain', async () => {
    const loop = await failure(fetcher({ policy: ALLOW_ALL }).fetch(`http://127.0.0.1:${a.port}/loop`));
    expect(loop.reason).toBe('http-error');
    expect(loop.message).toContain('loop');
    expect(loop.permanent).toBe(true);
    const before = a.requests.length;
    const chain = await failure(fetcher({ policy: ALLOW_ALL, maxRedirects: 3 }).fetch(`http://127.0.0.1:${a.port}/chain/0`));
    expect(chain.reason).toBe('http-error');
    expect(chain.message).toContain('more than 3 redirects');
    expect(a.requests.length - before).toBe(4);
  });

  it('does not carry URL credentials to another origin', async () => {
    const f = fetcher({ policy: ALLOW_ALL });
    const same = await f.fetch(`http://user:pw@127.0.0.1:${a.port}/auth`);
    expect(same.body.toString()).toBe(`Basic ${Buffer.from('user:pw').toString('base64')}`);
    const other = await f.fetch(`http://user:pw@127.0.0.1:${a.port}/to-b-auth`);
    expect(other.body.toString()).toBe('none');
  });
});

describe('limits and failures', () => {
  it('refuses a body over maxBytes by Content-Length and while streaming', async () => {
    const f = fetcher({ policy: ALLOW_ALL, maxBytes: 1000 });
    const declared = await failure(f.fetch(`http://127.0.0.1:${a.port}/big-declared`));
    expect(declared.reason).toBe('too-large');
    expect(declared.permanent).toBe(true);
    const chunked = await failure(f.fetch(`http://127.0.0.1:${a.port}/big-chunked`));
    expect(chunked.reason).toBe('too-large');
    expect(chunked.message).toContain('exceeds 1000 bytes');
  });

  it('maps HTTP statuses to reasons and permanence', async () => {
    const f = fetcher({ policy: ALLOW_ALL });
    const cases: Array<[number, string, boolean]> = [
      [404, 'not-found', true],
      [410, 'not-found', true],
      [403, 'http-error', true],
      [408, 'http-error', false],
      [429, 'http-error', false],
      [500, 'http-error', false],
      [503, 'http-error', false],
    ];
    for (const [code, reason, permanent] of cases) {
      const err = await failure(f.fetch(`http://127.0.0.1:${a.port}/status/${code}`));
      expect([err.status, err.reason, err.permanent]).toEqual([code, reason, permanent]);
    }
    const r429 = await failure(f.fetch(`http://127.0.0.1:${a.port}/status/429`));
    expect(r429.retryAfterMs).toBe(7000);
  });

  it('times out a server that never answers (temporary)', async () => {
    const err = await failure(fetcher({ policy: ALLOW_ALL, timeoutMs: 300 }).fetch(`http://127.0.0.1:${a.port}/hang`));
    expect(err.reason).toBe('timeout');
    expect(err.permanent).toBe(false);
  });

  it('reports a refused connection as a temporary network failure', async () => {
    const closed = await startServer('127.0.0.1', () => undefined);
    const port = closed.port;
    await stop(closed);
    const err = await failure(fetcher({ policy: ALLOW_ALL }).fetch(`http://127.0.0.1:${port}/`));
    expect(err.reason).toBe('network');
    expect(err.permanent).toBe(false);
  });

  it('rejects malformed URLs and non-http schemes as bad-url', async () => {
    const f = fetcher({ policy: ALLOW_ALL });
    for (const u of ['not a url', 'javascript:alert(1)', 'data:text/plain,hi', 'file:///etc/passwd']) {
      expect((await failure(f.fetch(u))).reason, u).toBe('bad-url');
    }
  });
});

describe('content type', () => {
  it('sniffs the type when the server sends none or octet-stream', async () => {
    const f = fetcher({ policy: ALLOW_ALL });
    for (const path of ['/png-untyped', '/png-octet']) {
      const r = await f.fetch(`http://127.0.0.1:${a.port}${path}`);
      expect(r.contentType, path).toBe('image/png');
      expect(r.body.equals(PNG_1PX)).toBe(true);
    }
  });

  it('refuses HTML as unsupported (permanent)', async () => {
    const err = await failure(fetcher({ policy: ALLOW_ALL }).fetch(`http://127.0.0.1:${a.port}/html`));
    expect(err.reason).toBe('unsupported-type');
    expect(err.permanent).toBe(true);
  });
});
