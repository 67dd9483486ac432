/**
 * Settings whose mistakes used to show only later: a mistyped passwordHash (every login of the account failing with
 * 401) or webhook secret (every report and MO failing to sign) are refused at start, naming the key; and the
 * sandbox endpoints, which take no credentials, are served only where asked for.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { hashSecret, verifySecret } from '../../src/core/secrets.ts';
import { startGateway, type Gateway } from '../../src/gateway.ts';

const sim = { id: 77, type: 'simulator' as const, prefixes: ['1'] };

function account(extra: Record<string, unknown>): ConfigInput {
  return { accounts: [{ id: 'acme', mtConfigs: { default: {} }, ...extra }], operators: [sim] } as ConfigInput;
}

function refusal(raw: ConfigInput): string {
  try {
    loadConfig({ raw });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('URLs with credentials are refused at start, naming the key', () => {
  // Such credentials were never sent (undici drops user:password@), and the URL went into events, the status API and
  // the jobs listing, password included.
  it('reportUrl, moUrl and mm7.url', () => {
    const creds = 'https://hooks:pa55@hooks.example.com/mms';
    expect(refusal(account({ mtConfigs: { default: { reportUrl: creds } } }))).toMatch(/accounts\.0\.mtConfigs\.default\.reportUrl: must not carry credentials/);
    expect(refusal(account({ numbers: [{ number: '12025550100', moUrl: creds }] }))).toMatch(/accounts\.0\.numbers\.0\.moUrl: must not carry credentials/);
    const mm7 = { id: 88, type: 'mm7', prefixes: ['44'], mm7: { url: 'http://vasp:pw@mmsc.example.net/mm7' }, inbound: { allowIps: ['192.0.2.1'] } };
    expect(refusal({ ...account({}), operators: [sim, mm7] } as ConfigInput)).toMatch(/operators\.1\.mm7\.url: must not carry credentials/);
    expect(() => loadConfig({ raw: account({ password: 'pw', mtConfigs: { default: { reportUrl: 'https://hooks.example.com/mms?token=abc' } } }) })).not.toThrow();
  });
});

describe('password hashes and webhook secrets are checked at start', () => {
  it('accepts a hash made by hash-password and refuses malformed ones, naming the key', () => {
    expect(() => loadConfig({ raw: account({ passwordHash: hashSecret('s3cret') }) })).not.toThrow();
    expect(refusal(account({ passwordHash: 'scrypt$abc' }))).toMatch(/accounts\.0\.passwordHash: must be a hash printed by `mmsgate hash-password`/);
    // N must be a power of two (RFC 7914); a truncated hash is no hash.
    const [, , r, p, salt, hash] = hashSecret('s3cret').split('$');
    expect(refusal(account({ passwordHash: `scrypt$1000$${r}$${p}$${salt}$${hash}` }))).toMatch(/accounts\.0\.passwordHash: scrypt parameters/);
    expect(refusal(account({ passwordHash: `scrypt$16384$${r}$${p}$${salt}$AAAA` }))).toMatch(/accounts\.0\.passwordHash/);
    // Parameters scrypt itself refuses (N >= 2^(16r), RFC 7914) or that need more memory than verification allows.
    expect(refusal(account({ passwordHash: `scrypt$131072$1$1$${salt}$${hash}` }))).toMatch(/accounts\.0\.passwordHash: scrypt parameters/);
    expect(refusal(account({ passwordHash: `scrypt$262144$8$1$${salt}$${hash}` }))).toMatch(/accounts\.0\.passwordHash: scrypt parameters/);
  });

  it('verification answers false, never throws, for a hash scrypt cannot run', async () => {
    const [, , , , salt, hash] = hashSecret('s3cret').split('$');
    await expect(verifySecret('s3cret', `scrypt$131072$1$1$${salt}$${hash}`)).resolves.toBe(false);
    await expect(verifySecret('s3cret', `scrypt$262144$8$1$${salt}$${hash}`)).resolves.toBe(false);
  });

  it('checks an operator inbound passwordHash the same way', () => {
    const raw = {
      operators: [{ id: 78, type: 'mm7', prefixes: ['44'], mm7: { url: 'http://127.0.0.1:9/mm7', vaspId: 'v' }, inbound: { username: 'mmsc', passwordHash: 'scrypt$x' } }],
    } as ConfigInput;
    expect(refusal(raw)).toMatch(/operators\.0\.inbound\.passwordHash/);
  });

  it('refuses a webhook secret that is not whsec_ + base64 of a real key', () => {
    const good = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    expect(() => loadConfig({ raw: account({ password: 'p', webhookSecrets: [good] }) })).not.toThrow();
    expect(refusal(account({ password: 'p', webhookSecrets: ['whsec_!!'] }))).toMatch(/accounts\.0\.webhookSecrets\.0: must be whsec_ followed by base64/);
    expect(refusal(account({ password: 'p', webhookSecrets: [good, 'whsec_AAAA'] }))).toMatch(/accounts\.0\.webhookSecrets\.1: the key must be at least 16 bytes/);
  });
});

describe('a configuration file that is not valid YAML', () => {
  // `mmsgate serve` logs why a reload on SIGHUP failed; the YAML parser's own message quotes the offending line.
  it('is refused naming the line and column, never quoting the line (a password may be on it)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mmsgate-yaml-'));
    try {
      const file = path.join(dir, 'mmsgate.yaml');
      writeFileSync(file, 'accounts:\n  - id: acme\n    password: s3cr3t: pa55\n');
      let message = '';
      try {
        loadConfig({ file });
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        message = (e as Error).message;
      }
      expect(message).toMatch(/is not valid YAML: .* at line 3, column \d+$/);
      expect(message).not.toContain('s3cr3t');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the sandbox endpoints', () => {
  it('are on by default in the sandbox itself and off with a config file unless set', () => {
    expect(loadConfig({}).sandbox.enabled).toBe(true);
    expect(loadConfig({ raw: account({ password: 'p' }) }).sandbox.enabled).toBe(false);
    expect(loadConfig({ raw: { ...account({ password: 'p' }), sandbox: { enabled: true } } }).sandbox.enabled).toBe(true);
  });

  describe('over HTTP', () => {
    let dir: string;
    const gateways: Gateway[] = [];
    async function start(sandbox: boolean | { enabled: boolean; hosts: string[] } | undefined): Promise<string> {
      const raw = {
        ...account({ password: 'p' }),
        listen: { host: '127.0.0.1', port: 0 },
        dataDir: path.join(dir, String(gateways.length)),
        log: { level: 'silent' },
        ...(sandbox === undefined ? {} : { sandbox: typeof sandbox === 'boolean' ? { enabled: sandbox } : sandbox }),
      } as ConfigInput;
      const gw = await startGateway(loadConfig({ raw }));
      gateways.push(gw);
      return gw.url;
    }
    beforeAll(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'mmsgate-sandbox-flag-'));
    });
    afterAll(async () => {
      for (const g of gateways) await g.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('answers 404 on every sandbox path of a configured gateway with a simulator operator, and serves them when enabled', async () => {
      const paths: [string, string][] = [
        ['GET', '/sandbox'],
        ['GET', '/sandbox/events'],
        ['GET', '/sandbox/inbox'],
        ['GET', '/sandbox/handsets/15551230001/messages'],
        ['POST', '/sandbox/mo'],
        ['POST', '/sandbox/inbox/x'],
      ];
      const off = await start(undefined);
      for (const [method, p] of paths) {
        const r = await request(`${off}${p}`, { method, body: method === 'POST' ? '{}' : undefined, headers: { 'content-type': 'application/json' } });
        await r.body.dump();
        expect([method, p, r.statusCode]).toEqual([method, p, 404]);
      }
      const on = await start(true);
      const r = await request(`${on}/sandbox/handsets/15551230001/messages`);
      expect(r.statusCode).toBe(200);
      expect(await r.body.json()).toEqual([]);
      const page = await request(`${on}/sandbox`);
      expect(page.statusCode).toBe(200);
      await page.body.dump();
    });

    it('answers only requests addressed to localhost, an IP address, listen.host or sandbox.hosts (no DNS rebinding)', async () => {
      const on = await start({ enabled: true, hosts: ['mmsgate'] });
      const port = new URL(on).port;
      const status = async (method: string, p: string, host: string): Promise<[number, unknown]> => {
        const r = await request(`${on}${p}`, { method, headers: { host, 'content-type': 'multipart/mixed; boundary=b' }, body: method === 'POST' ? '--b--\r\n' : undefined });
        const body = r.headers['content-type']?.toString().startsWith('application/json') ? await r.body.json() : (await r.body.dump(), undefined);
        return [r.statusCode, body];
      };
      // A page's own name pointed at 127.0.0.1: refused before anything is read or streamed.
      for (const [method, p] of [['GET', '/sandbox'], ['GET', '/sandbox/events'], ['GET', '/sandbox/inbox'], ['GET', '/sandbox/handsets/15551230001/messages'], ['POST', '/sandbox/mo']] as const) {
        const [code, body] = await status(method, p, `rebind.attacker.example:${port}`);
        expect([method, p, code, (body as { code?: string }).code]).toEqual([method, p, 403, 'SANDBOX_HOST_REFUSED']);
      }
      // Percent-escapes in the path reach the same routes (a browser sends them as the page wrote them).
      for (const [method, p] of [['GET', '/%73andbox'], ['GET', '/%73andbox/events'], ['GET', '/sandbo%78/inbox'], ['GET', '/%73andbox/handsets/15551230001/messages'], ['POST', '/%73andbox/mo']] as const) {
        const [code, body] = await status(method, p, `rebind.attacker.example:${port}`);
        expect([method, p, code, (body as { code?: string }).code]).toEqual([method, p, 403, 'SANDBOX_HOST_REFUSED']);
      }
      expect((await status('GET', '/%73andbox/inbox', `localhost:${port}`))[0]).toBe(200);
      for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `app.localhost:${port}`, `mmsgate:${port}`, `MMSGATE.:${port}`]) {
        expect([host, (await status('GET', '/sandbox/inbox', host))[0]]).toEqual([host, 200]);
      }
      // The customer API is not the sandbox's: any Host as before.
      expect((await status('GET', '/healthz', `api.example.com:${port}`))[0]).toBe(200);
    });
  });
});
