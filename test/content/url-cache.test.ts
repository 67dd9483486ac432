import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ContentFetchError, createFetcher, type Fetcher } from '../../src/content/guarded-fetch.ts';
import {
  freshnessOf,
  MemoryUrlCachePort,
  parseCacheControl,
  RemoteContentCache,
  revalidationHeaders,
  sha256Hex,
} from '../../src/content/url-cache.ts';

const T0 = Date.parse('2026-03-01T12:00:00Z');
const DATE = new Date(T0).toUTCString();
const MIN = 60_000;

describe('freshnessOf (RFC 9111 §4.2)', () => {
  it('uses max-age, and s-maxage over it', () => {
    expect(freshnessOf({ 'cache-control': 'public, max-age=120' }, T0, MIN)).toEqual({ storable: true, freshUntil: T0 + 120_000 });
    expect(freshnessOf({ 'cache-control': 'max-age=120, s-maxage=30' }, T0, MIN).freshUntil).toBe(T0 + 30_000);
  });

  it('subtracts the current age (Age header or now minus Date)', () => {
    expect(freshnessOf({ 'cache-control': 'max-age=120', age: '100' }, T0, MIN).freshUntil).toBe(T0 + 20_000);
    const date = new Date(T0 - 50_000).toUTCString();
    expect(freshnessOf({ 'cache-control': 'max-age=120', date }, T0, MIN).freshUntil).toBe(T0 + 70_000);
  });

  it('uses Expires relative to Date, and treats an invalid Expires as stale', () => {
    const expires = new Date(T0 + 10 * MIN).toUTCString();
    expect(freshnessOf({ expires, date: DATE }, T0, MIN).freshUntil).toBe(T0 + 10 * MIN);
    expect(freshnessOf({ expires: '0', date: DATE }, T0, MIN)).toEqual({ storable: true, freshUntil: T0 });
    // max-age wins over Expires (§5.3)
    expect(freshnessOf({ expires, 'cache-control': 'max-age=5' }, T0, MIN).freshUntil).toBe(T0 + 5000);
  });

  it('no-store is not storable; no-cache is stored but always stale', () => {
    expect(freshnessOf({ 'cache-control': 'no-store, max-age=600' }, T0, MIN).storable).toBe(false);
    expect(freshnessOf({ 'cache-control': 'No-Cache' }, T0, MIN)).toEqual({ storable: true, freshUntil: T0 });
  });

  it('falls back to the default TTL, and ignores malformed max-age', () => {
    expect(freshnessOf({}, T0, 5 * MIN).freshUntil).toBe(T0 + 5 * MIN);
    expect(freshnessOf({ 'cache-control': 'max-age=abc' }, T0, 5 * MIN).freshUntil).toBe(T0 + 5 * MIN);
  });

  it('parses quoted values and keeps the first of duplicate directives', () => {
    const cc = parseCacheControl('max-age=10, no-cache="Set-Cookie, X", max-age=99, private');
    expect(cc.get('max-age')).toBe('10');
    expect(cc.get('no-cache')).toBe('Set-Cookie, X');
    expect(cc.has('private')).toBe(true);
  });

  it('reads a hostile Cache-Control as long as the fetcher takes in milliseconds, not seconds (the node waits meanwhile)', () => {
    // The origin picks this header; up to the fetcher's 16 KB of headers. Each of these took 1 to 4 s before.
    const hostile = ['a'.repeat(16_000) + ' b', 'a' + ' '.repeat(16_000) + 'b', 'a=' + ' '.repeat(16_000) + 'b c'];
    const started = performance.now();
    for (const v of hostile) freshnessOf({ 'cache-control': v }, T0, 5 * MIN);
    expect(performance.now() - started).toBeLessThan(250);
    // Whitespace inside a name or value does not make a directive: the default TTL applies.
    expect(freshnessOf({ 'cache-control': hostile[0]! }, T0, 5 * MIN).freshUntil).toBe(T0 + 5 * MIN);
    expect(freshnessOf({ 'cache-control': 'max-age=60 junk, s-maxage = 30' }, T0, 5 * MIN).freshUntil).toBe(T0 + 30_000);
    expect(parseCacheControl('private, no-cache="a\\"b, c", max-age="7"')).toEqual(new Map([['private', ''], ['no-cache', 'a"b, c'], ['max-age', '7']]));
  });

  it('builds conditional headers from the stored validators', () => {
    expect(revalidationHeaders({ etag: '"v1"', lastModified: DATE })).toEqual({ 'if-none-match': '"v1"', 'if-modified-since': DATE });
    expect(revalidationHeaders({})).toEqual({});
  });
});

describe('RemoteContentCache over a real loopback server', () => {
  let server: Server;
  let base: string;
  let fetcher: Fetcher;
  let requests: Array<{ url: string; headers: IncomingHttpHeaders }>;
  let body = Buffer.from('version one');
  let flip: 'cacheable' | 'no-store' | 'always-304' = 'cacheable';
  // The origin's clock (Date header) follows the cache's injected clock, as two synchronised hosts would.
  let clock = { now: Date.now() };

  beforeAll(async () => {
    server = createServer((req, res) => {
      res.setHeader('date', new Date(clock.now).toUTCString());
      requests.push({ url: req.url ?? '', headers: req.headers });
      const etag = `"${sha256Hex(body).slice(0, 16)}"`;
      if (req.url === '/gone') return void res.writeHead(404).end();
      if (req.url === '/flip') {
        // An origin whose answers change: cacheable, then no-store, then one that says 304 to any conditional request.
        if (flip === 'cacheable') return void res.writeHead(200, { 'content-type': 'text/plain', etag: '"v1"', 'cache-control': 'max-age=60' }).end(body);
        if (flip === 'no-store') return void res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end(body);
        if (req.headers['if-none-match'] || req.headers['if-modified-since']) return void res.writeHead(304, { 'cache-control': 'max-age=60' }).end();
        return void res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' }).end(body);
      }
      if (req.url === '/nostore') {
        res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
        return void res.end(body);
      }
      const send = (): void => {
        if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag, 'cache-control': 'max-age=60' }).end();
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', etag, 'cache-control': 'max-age=60' });
        res.end(body);
      };
      // A slow origin, so that concurrent gets overlap.
      if (req.url === '/slow') setTimeout(send, 100);
      else send();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    fetcher = createFetcher({ policy: { allowPrivateAddresses: ['127.0.0.1/32'] }, timeoutMs: 5000, maxBytes: 1_000_000, maxRedirects: 3, userAgent: 'mmsgate-test' });
  });

  beforeEach(() => {
    requests = [];
    body = Buffer.from('version one');
    clock = { now: Date.now() };
  });

  afterAll(async () => {
    await fetcher.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  function cacheAt(port = new MemoryUrlCachePort()): RemoteContentCache {
    return new RemoteContentCache({ port, fetcher, defaultTtlMs: 5 * MIN, now: () => clock.now });
  }

  it('a no-store answer retires the older entry: a later 304 cannot bring back a body the origin replaced', async () => {
    const cache = cacheAt();
    flip = 'cacheable';
    expect((await cache.get(`${base}/flip`)).bytes.toString()).toBe('version one');
    clock.now += 2 * MIN; // stale: the next get revalidates
    flip = 'no-store';
    body = Buffer.from('version two');
    expect((await cache.get(`${base}/flip`)).bytes.toString()).toBe('version two');
    flip = 'always-304';
    body = Buffer.from('version three');
    const third = await cache.get(`${base}/flip`);
    expect(requests.at(-1)!.headers['if-none-match']).toBeUndefined(); // nothing left to revalidate
    expect(third.bytes.toString()).toBe('version three');
  });

  it('two gets fetch once; the second is served from the cache', async () => {
        const cache = cacheAt();
    const first = await cache.get(`${base}/a`);
    const second = await cache.get(`${base}/a`);
    expect(requests).toHaveLength(1);
    expect(first.source).toBe('network');
    expect(second.source).toBe('cache');
    expect(second.bytes.toString()).toBe('version one');
    expect(second).toMatchObject({ sha256: sha256Hex(Buffer.from('version one')), contentType: 'text/plain; charset=utf-8', size: 11 });
  });

  it('concurrent gets of one URL share one fetch', async () => {
    const cache = cacheAt();
    const all = await Promise.all(Array.from({ length: 5 }, () => cache.get(`${base}/slow`)));
    expect(requests).toHaveLength(1);
    expect(new Set(all.map((c) => c.sha256)).size).toBe(1);
  });

  it('after the TTL revalidates with If-None-Match, and a 304 reuses the stored body with fresh freshness', async () => {
        const port = new MemoryUrlCachePort();
    const cache = cacheAt(port);
    const first = await cache.get(`${base}/b`);
    clock.now += 61_000;
    const again = await cache.get(`${base}/b`);
    expect(requests).toHaveLength(2);
    expect(requests[1]!.headers['if-none-match']).toBe(`"${first.sha256.slice(0, 16)}"`);
    expect(again.source).toBe('revalidated');
    expect(again.bytes.toString()).toBe('version one');
    expect(port.blobs.size).toBe(1);
    // the 304's max-age=60 made the entry fresh again: no request now
    clock.now += 30_000;
    expect((await cache.get(`${base}/b`)).source).toBe('cache');
    expect(requests).toHaveLength(2);
  });

  it('after the TTL fetches the new body when the content changed', async () => {
        const cache = cacheAt();
    await cache.get(`${base}/c`);
    body = Buffer.from('version two');
    clock.now += 61_000;
    const changed = await cache.get(`${base}/c`);
    expect(changed.source).toBe('network');
    expect(changed.bytes.toString()).toBe('version two');
  });

  it('does not store a no-store response', async () => {
    const port = new MemoryUrlCachePort();
    const cache = cacheAt(port);
    await cache.get(`${base}/nostore`);
    await cache.get(`${base}/nostore`);
    expect(requests).toHaveLength(2);
    expect(port.rows.size).toBe(0);
  });

  it('refetches in full when the stored blob is missing', async () => {
    const port = new MemoryUrlCachePort();
        const cache = cacheAt(port);
    await cache.get(`${base}/d`);
    port.blobs.clear();
    const r = await cache.get(`${base}/d`);
    expect(r.source).toBe('network');
    expect(requests[1]!.headers['if-none-match']).toBeUndefined();
  });

  it('propagates fetch failures and caches nothing for them', async () => {
    const port = new MemoryUrlCachePort();
    const cache = cacheAt(port);
    const err = await cache.get(`${base}/gone`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContentFetchError);
    expect((err as ContentFetchError).reason).toBe('not-found');
    expect(port.rows.size).toBe(0);
  });
});
