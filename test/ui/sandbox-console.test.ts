import { afterEach, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { Client } from 'undici';
import { ApiError } from '../../src/core/errors.ts';
import type { GatewayContext } from '../../src/api/context.ts';
import { registerSandboxConsole } from '../../src/api/routes/sandbox-console.ts';
import { LiveEvents } from '../../src/ui/live-events.ts';

/** Only what the console routes read. */
const fakeCtx = (sandboxDefaults: boolean) => ({ config: { sandboxDefaults } }) as unknown as GatewayContext;

let app: FastifyInstance | undefined;
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.destroy()));
  await app?.close();
  app = undefined;
});

/** A dedicated connection, destroyed after the test (the global fetch pool may keep spare sockets open). */
function client(base: string): Client {
  const c = new Client(base);
  clients.push(c);
  return c;
}

async function start(live: LiveEvents, sandboxDefaults = true): Promise<string> {
  app = Fastify();
  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof ApiError) reply.status(err.status).send(err.toBody());
    else reply.status(500).send({ code: 'INTERNAL' });
  });
  registerSandboxConsole(app, fakeCtx(sandboxDefaults), live);
  return app.listen({ host: '127.0.0.1', port: 0 });
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

/** Read SSE frames until one carries `data:`; returns its data. */
async function firstDataFrame(body: AsyncIterable<Buffer>): Promise<{ frames: string[]; data: string }> {
  let buf = '';
  const frames: string[] = [];
  for await (const chunk of body) {
    buf += chunk.toString('utf8');
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const f = buf.slice(0, i);
      buf = buf.slice(i + 2);
      frames.push(f);
      const data = f.split('\n').find((l) => l.startsWith('data: '));
      if (data) return { frames, data: data.slice(6) };
    }
  }
  throw new Error('stream ended before a data frame');
}

describe('GET /sandbox', () => {
  it('serves one self-contained page with the send, MO, inbox and handset parts', async () => {
    const base = await start(new LiveEvents());
    const res = await fetch(`${base}/sandbox`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    const html = await res.text();
    for (const id of ['send-form', 'mo-form', 'event-rows', 'inbox-list', 'handset-form']) expect(html).toContain(`id="${id}"`);
    expect(html).toContain('value="Aladdin"');
    expect(html).toContain('value="open sesame"');
    expect(html).toContain('value="15551230001"');
    expect(html).toContain("new EventSource('/sandbox/events')");
    // No external resources: nothing loaded from another origin, and the inline script/style carry the CSP nonce.
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(html).toContain(`<script nonce="${nonce}">`);
    // Data goes into the DOM as text only.
    expect(html).not.toContain('innerHTML');
  });

  it('leaves the credentials empty when not running with the sandbox defaults', async () => {
    const base = await start(new LiveEvents(), false);
    const html = await (await fetch(`${base}/sandbox`)).text();
    expect(html).not.toContain('open sesame');
    expect(html).toContain('name="username" value=""');
  });
});

describe('GET /sandbox/events', () => {
  it('streams an event committed after connecting, and unsubscribes when the client goes', async () => {
    const live = new LiveEvents();
    const base = await start(live);
    const res = await client(base).request({ path: '/sandbox/events', method: 'GET' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    await until(() => live.size === 1);
    live.publish({
      events: [{ mtId: 100000000000001, at: Date.UTC(2026, 0, 2), type: 'report-received', node: 'n1', detail: { status: 'Retrieved', outcomeId: 1 } }],
    });
    const { frames, data } = await firstDataFrame(res.body);
    expect(frames[0]).toContain('retry: ');
    expect(JSON.parse(data)).toMatchObject({ kind: 'event', mtId: 100000000000001, type: 'report-received', status: 'Retrieved', outcomeId: 1 });
    res.body.destroy();
    await until(() => live.size === 0);
  });

  it('refuses more streams than the subscriber bound with 429', async () => {
    const live = new LiveEvents({ maxSubscribers: 1 });
    const base = await start(live);
    const first = await client(base).request({ path: '/sandbox/events', method: 'GET' });
    expect(first.statusCode).toBe(200);
    const second = await client(base).request({ path: '/sandbox/events', method: 'GET' });
    expect(second.statusCode).toBe(429);
    expect(((await second.body.json()) as { code: string }).code).toBe('RATE_LIMITED');
    first.body.destroy();
    await until(() => live.size === 0);
  });

  it('does not keep the server from closing while a stream is open', async () => {
    const live = new LiveEvents();
    const base = await start(live);
    const res = await client(base).request({ path: '/sandbox/events', method: 'GET' });
    await until(() => live.size === 1);
    await app!.close();
    app = undefined;
    // The stream ends (rather than hanging) and the subscription is gone.
    let text = '';
    for await (const c of res.body) text += String(c);
    expect(text).toContain(': connected');
    expect(live.size).toBe(0);
  });
});
