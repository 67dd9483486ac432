/**
 * The page's own request builders (the exact JS it ships) against a real sandbox gateway: what the console sends
 * must be accepted by POST /mms/v2/send and POST /sandbox/mo, and an image must reach the handset byte-exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { SANDBOX_ACCOUNT } from '../../src/config/load.ts';
import { consolePage } from '../../src/ui/console-page.ts';
import { eventually, startSandboxGateway, type TestGateway } from '../support/gateway.ts';

interface Built {
  type: string;
  body: string;
}
interface PageHelpers {
  multipart(parts: { headers: Record<string, string>; body: string }[]): Built;
  wrap76(s: string): string;
  b64utf8(s: string): string;
}

/** Pull the page's helper functions out of its inline script and evaluate them (Node has btoa and crypto). */
function pageHelpers(): PageHelpers {
  const html = consolePage({ username: 'u', password: 'p', source: '88600', destination: '15551230001' }, 'n');
  const js = /<script nonce="n">([\s\S]*)<\/script>/.exec(html)![1]!;
  const oneLine = (name: string) => new RegExp(`^function ${name}\\(.*$`, 'm').exec(js)![0];
  const multipart = /^function multipart\([\s\S]*?\n\}$/m.exec(js)![0];
  const src = [oneLine('b64utf8'), oneLine('wrap76'), oneLine('boundary'), multipart, 'return { multipart, wrap76, b64utf8 };'].join('\n');
  return new Function(src)() as PageHelpers;
}

let gw: TestGateway;
beforeAll(async () => {
  gw = await startSandboxGateway();
}, 30_000);
afterAll(async () => {
  await gw?.stop();
});

describe('console request builders against the sandbox', () => {
  const page = pageHelpers();
  const auth = `Basic ${page.b64utf8(`${SANDBOX_ACCOUNT.id}:${SANDBOX_ACCOUNT.password}`)}`;

  it('sends text and an image that reach the virtual handset byte-exact', async () => {
    const image = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(300)]);
    const m = page.multipart([
      { headers: { 'Content-Type': 'application/json; charset=utf-8', 'Content-Id': '<main>' }, body: JSON.stringify({ type: 'MT', source: '88600', destination: '15551230001', subject: 'Grüße' }) },
      { headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Id': '<text.txt>' }, body: 'Hello ✓' },
      { headers: { 'Content-Type': 'application/octet-stream', 'Content-Id': '<blob.bin>', 'Content-Transfer-Encoding': 'base64' }, body: page.wrap76(image.toString('base64')) },
    ]);
    const res = await fetch(`${gw.url}/mms/v2/send`, { method: 'POST', headers: { 'content-type': m.type, authorization: auth }, body: m.body });
    expect(res.status).toBe(200);
    const { mtId } = (await res.json()) as { mtId: number };
    type Msg = { mtId: number; subject: string; parts: { contentId: string; url: string }[] };
    const msg = await eventually(async () => {
      const list = (await (await fetch(`${gw.url}/sandbox/handsets/15551230001/messages`)).json()) as Msg[];
      return list.find((x) => x.mtId === mtId);
    });
    expect(msg.subject).toBe('Grüße');
    const text = msg.parts.find((p) => p.contentId === 'text.txt')!;
    expect(await (await fetch(`${gw.url}${text.url}`)).text()).toBe('Hello ✓');
    const bin = msg.parts.find((p) => p.contentId === 'blob.bin')!;
    expect(Buffer.from(await (await fetch(`${gw.url}${bin.url}`)).arrayBuffer()).equals(image)).toBe(true);
  });

  it('serves handset parts so that a browser never runs them (HTML downloads, sandboxed, no sniffing)', async () => {
    const m = page.multipart([
      { headers: { 'Content-Type': 'application/json; charset=utf-8', 'Content-Id': '<main>' }, body: JSON.stringify({ type: 'MT', source: '88600', destination: '15551230001', subject: 'html' }) },
      { headers: { 'Content-Type': 'text/html', 'Content-Id': '<page.html>' }, body: '<script>alert(document.cookie)</script>' },
      { headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Id': '<text.txt>' }, body: 'plain' },
    ]);
    const res = await fetch(`${gw.url}/mms/v2/send`, { method: 'POST', headers: { 'content-type': m.type, authorization: auth }, body: m.body });
    expect(res.status).toBe(200);
    const { mtId } = (await res.json()) as { mtId: number };
    type Msg = { mtId: number; parts: { contentId: string; url: string }[] };
    const msg = await eventually(async () => {
      const list = (await (await fetch(`${gw.url}/sandbox/handsets/15551230001/messages`)).json()) as Msg[];
      return list.find((x) => x.mtId === mtId);
    });
    const html = await fetch(`${gw.url}${msg.parts.find((p) => p.contentId === 'page.html')!.url}`);
    expect(html.headers.get('content-disposition')).toBe('attachment');
    expect(html.headers.get('x-content-type-options')).toBe('nosniff');
    expect(html.headers.get('content-security-policy')).toMatch(/^sandbox; default-src 'none'/);
    expect(await html.text()).toBe('<script>alert(document.cookie)</script>'); // the bytes themselves are unchanged
    const text = await fetch(`${gw.url}${msg.parts.find((p) => p.contentId === 'text.txt')!.url}`);
    expect(text.headers.get('content-disposition')).toBe('inline');
    expect(text.headers.get('content-security-policy')).toMatch(/^sandbox/);
    await text.body?.cancel();
  });

  it('serves a part whose Content-Type names a file in UTF-8 (it used to answer 500)', async () => {
    const m = page.multipart([
      { headers: { 'Content-Type': 'application/json; charset=utf-8', 'Content-Id': '<main>' }, body: JSON.stringify({ type: 'MT', source: '88600', destination: '15551230001', subject: 'utf-8 name' }) },
      { headers: { 'Content-Type': 'text/plain; charset=utf-8; name="✓ Grüße.txt"', 'Content-Id': '<note.txt>' }, body: 'Grüße' },
    ]);
    const res = await fetch(`${gw.url}/mms/v2/send`, { method: 'POST', headers: { 'content-type': m.type, authorization: auth }, body: m.body });
    expect(res.status).toBe(200);
    const { mtId } = (await res.json()) as { mtId: number };
    type Msg = { mtId: number; parts: { contentId: string; contentType: string; url: string }[] };
    const msg = await eventually(async () => {
      const list = (await (await fetch(`${gw.url}/sandbox/handsets/15551230001/messages`)).json()) as Msg[];
      return list.find((x) => x.mtId === mtId);
    });
    const note = msg.parts.find((p) => p.contentId === 'note.txt')!;
    expect(note.contentType).toBe('text/plain; charset=utf-8; name="✓ Grüße.txt"'); // the listing keeps what was sent
    const part = await fetch(`${gw.url}${note.url}`);
    expect(part.status).toBe(200);
    // RFC 8187: the file name survives as UTF-8, percent-encoded, in an ASCII header.
    expect(part.headers.get('content-type')).toBe(`text/plain; charset=utf-8; name*=utf-8''%E2%9C%93%20Gr%C3%BC%C3%9Fe.txt`);
    expect(part.headers.get('content-disposition')).toBe('inline');
    expect(await part.text()).toBe('Grüße');
  });

  it('injects an MO that lands in the sandbox inbox', async () => {
    const m = page.multipart([
      { headers: { 'Content-Type': 'application/json; charset=utf-8', 'Content-Id': '<main>' }, body: JSON.stringify({ source: '15551230001', destinations: ['88600'] }) },
      { headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Id': '<text.txt>' }, body: 'Hi back' },
    ]);
    const res = await fetch(`${gw.url}/sandbox/mo`, { method: 'POST', headers: { 'content-type': m.type }, body: m.body });
    expect(res.status).toBe(200);
    const { moId } = (await res.json()) as { moId: number };
    await eventually(async () => {
      const inbox = (await (await fetch(`${gw.url}/sandbox/inbox?box=mo`)).json()) as { body: unknown }[];
      return inbox.find((e) => typeof e.body === 'string' && e.body.includes(String(moId)));
    });
  });
});
