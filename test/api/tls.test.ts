/**
 * listen.tls: the gateway serves HTTPS itself (OpenMarket: TLS 1.2 or later), the customer client verifies it
 * (with `ca` for a private certificate), plain HTTP on that port gets no answer, the minimum version holds, and a
 * missing certificate file is a configuration error naming its key.
 */
import { createConnection, type Socket } from 'node:net';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MmsClient, MmsNetworkError } from '../../src/client/index.ts';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { ACCOUNT, eventually, freePort, http, REPO_ROOT, spawnGateway, startTestGateway, testConfig, writeConfigFile, type TestGateway } from '../support/gateway.ts';
import { runSend } from '../../src/cli/send.ts';
import { cliIo } from '../client-e2e/helpers.ts';

const CERT = fileURLToPath(new URL('../support/tls/cert.pem', import.meta.url));
const KEY = fileURLToPath(new URL('../support/tls/key.pem', import.meta.url));
const ca = readFileSync(CERT, 'utf8');
const mt = { source: '88600', destination: '15551270001', parts: [{ text: 'over TLS' }] };

/** The TLS version a handshake with these client limits agrees on, or the error that ended it. */
function handshake(port: number, opts: { minVersion?: 'TLSv1.2' | 'TLSv1.3'; maxVersion?: 'TLSv1.2' | 'TLSv1.3' }): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ...opts }, () => {
      resolve(s.getProtocol() ?? 'unknown');
      s.end();
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
  });
}

describe('HTTPS listener (listen.tls)', () => {
  let gw: TestGateway;
  let strict: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ listen: { host: '127.0.0.1', port: 0, tls: { cert: CERT, key: KEY } } });
    strict = await startTestGateway({ listen: { host: '127.0.0.1', port: 0, tls: { cert: CERT, key: KEY, minVersion: 'TLSv1.3' } } });
  });
  afterAll(async () => {
    await gw?.stop();
    await strict?.stop();
  });

  it('accepts a send over https from the client that trusts its certificate, and reads its status', async () => {
    expect(gw.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const client = new MmsClient({ endpoints: [gw.url], accountId: ACCOUNT.id, password: ACCOUNT.password, ca });
    try {
      const { mtId } = await client.send(mt);
      expect((await client.status(mtId)).mtId).toBe(mtId);
    } finally {
      await client.close();
    }
  });

  it('takes a send from the CLI given the certificate with --ca', async () => {
    const io = cliIo();
    const code = await runSend(['--to', '15551270002', '--from', '88600', '--text', 'cli over TLS', '--endpoint', gw.url, '--account', ACCOUNT.id, '--password', ACCOUNT.password, '--ca', CERT], io);
    expect(code, io.stderr.text).toBe(0);
    expect(io.stdout.text).toMatch(/^\d{6,}\n$/);
  });

  it('is refused by a client that does not trust the certificate (verification is on)', async () => {
    const client = new MmsClient({ endpoints: [gw.url], accountId: ACCOUNT.id, password: ACCOUNT.password, retries: 0, timeoutMs: 5000 });
    try {
      const err = await client.send(mt).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(MmsNetworkError);
      expect(String((err as Error).message)).toMatch(/self[- ]signed|certificate/i);
    } finally {
      await client.close();
    }
  });

  it('gives plain HTTP on the TLS port no answer', async () => {
    const url = gw.url.replace(/^https:/, 'http:');
    const res = await request(`${url}/healthz`, { headersTimeout: 3000 }).then((r) => r.statusCode, (e: Error) => `error ${e.name}`);
    expect(String(res)).toMatch(/^error/);
  });

  it('holds the minimum TLS version: 1.2 by default, 1.3 when configured', async () => {
    const port = (u: string) => Number(new URL(u).port);
    expect(await handshake(port(gw.url), { maxVersion: 'TLSv1.2' })).toBe('TLSv1.2');
    expect(await handshake(port(strict.url), { maxVersion: 'TLSv1.2' })).toMatch(/^error/);
    expect(await handshake(port(strict.url), { minVersion: 'TLSv1.3' })).toBe('TLSv1.3');
  });

  it('refuses to start with a certificate file that cannot be read, naming the key', () => {
    const raw = { listen: { tls: { cert: '/nonexistent/cert.pem', key: KEY } } };
    expect(() => loadConfig({ raw })).toThrow(ConfigError);
    expect(() => loadConfig({ raw })).toThrow(/listen\.tls\.cert: cannot read \/nonexistent\/cert\.pem/);
    const tooOld = { listen: { tls: { cert: CERT, key: KEY, minVersion: 'TLSv1.1' } } } as unknown as ConfigInput; // as a YAML file may say
    expect(() => loadConfig({ raw: tooOld })).toThrow(/listen\.tls\.minVersion/);
  });

  it('refuses a certificate and key that do not belong together at start, naming listen.tls and never printing the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmsgate-tls-'));
    try {
      const otherKey = join(dir, 'other-key.pem');
      const pem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      writeFileSync(otherKey, pem);
      const err = (() => {
        try {
          loadConfig({ raw: { listen: { tls: { cert: CERT, key: otherKey } } } });
        } catch (e) {
          return e as Error;
        }
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect(err!.message).toMatch(/listen\.tls: the certificate and key cannot be used together/);
      expect(err!.message).not.toContain('PRIVATE KEY');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('TLS connections that never finish their handshake', () => {
  /** A TCP connection to `url`'s port that never says anything. */
  const silent = (url: string) =>
    new Promise<Socket>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port: Number(new URL(url).port) }, () => resolve(s));
      s.on('error', () => {});
    });
  const closed = (s: Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));

  it('are closed once the handshake limit passes (api.headersTimeout, when shorter than 10 s)', async () => {
    const gw = await startTestGateway({ listen: { host: '127.0.0.1', port: 0, tls: { cert: CERT, key: KEY } }, api: { headersTimeout: '1s', requestTimeout: '2s' } });
    try {
      const idle = await silent(gw.url);
      await closed(idle); // by the server: the test's own timeout would end a socket left open
      expect(idle.destroyed).toBe(true);
    } finally {
      await gw.stop();
    }
  });

  it('do not hold up a stop (the handshake limit is 10 s by default)', async () => {
    const gw = await startTestGateway({ listen: { host: '127.0.0.1', port: 0, tls: { cert: CERT, key: KEY } } });
    const pending = await silent(gw.url);
    const started = Date.now();
    await gw.stop();
    expect(Date.now() - started).toBeLessThan(3000);
    await closed(pending);
  });
});

describe('a renewed certificate without a restart', () => {
  const CERT2 = fileURLToPath(new URL('../support/tls/cert2.pem', import.meta.url));
  const KEY2 = fileURLToPath(new URL('../support/tls/key2.pem', import.meta.url));
  const ca2 = readFileSync(CERT2, 'utf8');

  /** A send from a client that trusts only `trust`: 'ok' or the error's message. */
  async function sendTrusting(url: string, trust: string): Promise<string> {
    const client = new MmsClient({ endpoints: [url], accountId: ACCOUNT.id, password: ACCOUNT.password, ca: trust, retries: 0, timeoutMs: 5000 });
    try {
      await client.send(mt);
      return 'ok';
    } catch (e) {
      return (e as Error).message;
    } finally {
      await client.close();
    }
  }

  it('is taken by reloadTls() for new connections; files that cannot be used leave the current ones in place', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmsgate-tls-reload-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    copyFileSync(CERT, cert);
    copyFileSync(KEY, key);
    const gw = await startTestGateway({ listen: { host: '127.0.0.1', port: 0, tls: { cert, key } } });
    try {
      expect(await sendTrusting(gw.url, ca)).toBe('ok');
      expect(await sendTrusting(gw.url, ca2)).not.toBe('ok');
      copyFileSync(CERT2, cert); // renewed, key not yet: a mismatch, refused
      expect(() => gw.gateway.reloadTls()).toThrow(/listen\.tls: the certificate and key cannot be used together/);
      expect(await sendTrusting(gw.url, ca)).toBe('ok'); // still the old pair
      copyFileSync(KEY2, key);
      gw.gateway.reloadTls();
      expect(await sendTrusting(gw.url, ca2)).toBe('ok');
      expect(await sendTrusting(gw.url, ca)).not.toBe('ok');
    } finally {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is reloaded by `mmsgate serve` on SIGHUP', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmsgate-tls-hup-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    copyFileSync(CERT, cert);
    copyFileSync(KEY, key);
    const port = await freePort();
    const configFile = join(dir, 'mmsgate.yaml');
    writeConfigFile(configFile, { ...testConfig({ dir }), log: { level: 'info' }, listen: { host: '127.0.0.1', port, tls: { cert, key } } } as ConfigInput);
    const proc = spawn(process.execPath, [join(REPO_ROOT, 'bin/mmsgate.js'), 'serve', '--config', configFile], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const url = `https://127.0.0.1:${port}`;
    try {
      await eventually(async () => (out.includes('mmsgate listening') ? true : undefined), 30_000, 'the gateway to listen');
      expect(await sendTrusting(url, ca)).toBe('ok');
      copyFileSync(CERT2, cert);
      copyFileSync(KEY2, key);
      proc.kill('SIGHUP');
      await eventually(async () => (out.includes('TLS certificate and key reloaded') ? true : undefined), 10_000, 'the reload');
      expect(await sendTrusting(url, ca2)).toBe('ok');
      expect(proc.exitCode).toBeNull(); // SIGHUP did not end it
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('SIGHUP on a node without TLS', () => {
  it('keeps it running (its accounts reloaded) instead of ending it without a drain', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmsgate-hup-'));
    const port = await freePort();
    const configFile = join(dir, 'mmsgate.yaml');
    writeConfigFile(configFile, { ...testConfig({ dir }), log: { level: 'info' } } as ConfigInput);
    const gw = await spawnGateway(configFile, port);
    try {
      gw.proc.kill('SIGHUP');
      await eventually(async () => (gw.output().includes('accounts reloaded') ? true : undefined), 10_000, 'the SIGHUP to be handled');
      expect((await http(`${gw.url}/healthz`)).status).toBe(200);
      expect(gw.proc.exitCode).toBeNull();
    } finally {
      expect(await gw.stop()).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
