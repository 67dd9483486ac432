/**
 * Accounts reloaded while the node runs (Gateway.reloadAccounts; `mmsgate serve` on SIGHUP): an added account sends
 * at once, a removed one is refused (a send whose body was still arriving at the reload included), a changed password holds from the next request (the credential cache is
 * forgotten), a number moved to another account routes its MO there, and an unchanged send limit keeps its tokens.
 * Through the process: a file that no longer loads changes nothing, and other changed settings are named, not applied.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { buildMultipart } from '../../src/shared/multipart-writer.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import {
  ACCOUNT, AUTH, basic, eventually, freePort, http, OTHER_ACCOUNT, OTHER_AUTH, send, simpleMt, spawnGateway, startSink, startTestGateway, testConfig,
  writeConfigFile,
  type TestGateway,
} from '../support/gateway.ts';
import { RawConnection, sendHead } from './raw-http.ts';

type Account = NonNullable<ConfigInput['accounts']>[number];
const NEW_ACCOUNT = { id: 'initech', password: 'initech-secret-3' } as const;
const NEW_AUTH = basic(NEW_ACCOUNT.id, NEW_ACCOUNT.password);
const initech: Account = { id: NEW_ACCOUNT.id, password: NEW_ACCOUNT.password, mtConfigs: { default: {} }, numbers: [{ number: '88900' }] };

/** The accounts of a test configuration, with `change` applied, as a reload would load them. */
function accountsOf(dir: string, change: (accounts: Account[]) => Account[]) {
  const raw = testConfig({ dir });
  return loadConfig({ raw: { ...raw, accounts: change(structuredClone(raw.accounts ?? []) as Account[]) } as ConfigInput }).accounts;
}

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

describe('reloading accounts', () => {
  it('lets an added account send at once, and refuses a removed one from the next request', async () => {
    gw = await startTestGateway();
    expect((await send(gw.url, simpleMt('15551230001', { source: '88900' }), NEW_AUTH)).status).toBe(401);
    expect((await send(gw.url, simpleMt('15551230001', { source: '88700' }), OTHER_AUTH)).status).toBe(200); // cached now

    gw.gateway.reloadAccounts(accountsOf(gw.dir, (accounts) => [...accounts.filter((a) => a.id !== OTHER_ACCOUNT.id), initech]));

    const added = await send(gw.url, simpleMt('15551230001', { source: '88900' }), NEW_AUTH);
    expect(added.status, added.body.toString()).toBe(200);
    const removed = await send(gw.url, simpleMt('15551230001', { source: '88700' }), OTHER_AUTH);
    expect(removed.status).toBe(401);
    expect(JSON.parse(removed.body.toString()).code).toBe('AUTH_INVALID');
    expect((await send(gw.url, simpleMt('15551230001'), AUTH)).status).toBe(200);
  });

  it('refuses a send authenticated before the reload whose account, mtConfig or number is gone once its body is read', async () => {
    gw = await startTestGateway();
    const port = Number(new URL(gw.url).port);
    const stalled = async (req: ReturnType<typeof simpleMt>, auth: string) => {
      const conn = await RawConnection.open(port);
      await conn.write(sendHead({ auth, contentType: req.contentType, contentLength: req.body.length }));
      await conn.write(req.body.subarray(0, 40));
      return { conn, finish: async () => (await conn.write(req.body.subarray(40)), conn.next(5_000)) };
    };
    const removedAccount = await stalled(simpleMt('15551230001', { source: '88700' }), OTHER_AUTH);
    const removedMtConfig = await stalled(simpleMt('15551230001', { mtConfig: 'config1' }), AUTH);
    const removedNumber = await stalled(simpleMt('15551230001', { source: '15557770000' }), AUTH);
    await new Promise((r) => setTimeout(r, 100)); // authenticated, bodies under way

    gw.gateway.reloadAccounts(
      accountsOf(gw.dir, (accounts) =>
        accounts
          .filter((a) => a.id !== OTHER_ACCOUNT.id)
          .map((a) => (a.id === ACCOUNT.id ? { ...a, mtConfigs: { default: {} }, numbers: [{ number: '88600' }] } : a)),
      ),
    );
    try {
      const a = await removedAccount.finish();
      expect(a.status, a.body).toBe(401);
      expect(JSON.parse(a.body).code).toBe('AUTH_INVALID');
      const m = await removedMtConfig.finish();
      expect(m.status, m.body).toBe(400);
      expect(JSON.parse(m.body).code).toBe('UNKNOWN_MT_CONFIG');
      const n = await removedNumber.finish();
      expect(n.status, n.body).toBe(403);
    } finally {
      for (const s of [removedAccount, removedMtConfig, removedNumber]) s.conn.destroy();
    }
  });

  it('holds a changed password from the next request, the old one cached a moment ago included', async () => {
    gw = await startTestGateway();
    expect((await send(gw.url, simpleMt('15551230001'), AUTH)).status).toBe(200);
    gw.gateway.reloadAccounts(accountsOf(gw.dir, (accounts) => accounts.map((a) => (a.id === ACCOUNT.id ? { ...a, password: 'a-new-secret-9' } : a))));
    expect((await send(gw.url, simpleMt('15551230001'), AUTH)).status).toBe(401);
    expect((await send(gw.url, simpleMt('15551230001'), basic(ACCOUNT.id, 'a-new-secret-9'))).status).toBe(200);
  });

  it('takes a number away from an account that no longer owns it: sends from it refused, its MO to the new owner', async () => {
    const sink = await startSink();
    try {
      gw = await startTestGateway({}, { moUrl: `${sink.url}/old-owner` });
      gw.gateway.reloadAccounts(
        accountsOf(gw.dir, (accounts) => [
          ...accounts.map((a) => (a.id === ACCOUNT.id ? { ...a, numbers: [{ number: '15557770000' }] } : a)),
          { ...initech, numbers: [{ number: '88600', moUrl: `${sink.url}/new-owner` }] },
        ]),
      );
      const old = await send(gw.url, simpleMt('15551230001'), AUTH);
      expect(old.status).toBe(403);
      expect((await send(gw.url, simpleMt('15551230001'), NEW_AUTH)).status).toBe(200);

      const { contentType, body } = buildMultipart([
        { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: JSON.stringify({ source: '14553011955', destinations: ['88600'] }) },
        { headers: { 'Content-Type': 'text/plain', 'Content-Id': 'text.txt' }, body: 'hello' },
      ]);
      const mo = await http(`${gw.url}/sandbox/mo`, { method: 'POST', headers: { 'content-type': contentType }, body });
      expect(mo.status, mo.body.toString()).toBe(200);
      const got = await sink.waitFor((reqs) => reqs.length > 0, 10_000);
      expect(got.map((r) => r.url)).toEqual(['/new-owner']);
    } finally {
      await sink.close();
    }
  });

  it('keeps the tokens of a send limit that did not change (a reload opens no burst), and applies a changed one', async () => {
    const limited = (a: Account): Account => (a.id === ACCOUNT.id ? { ...a, maxSendsPerSecond: 1, sendBurst: 1 } : a);
    gw = await startTestGateway({ accounts: (testConfig({ dir: tmpdir() }).accounts as Account[]).map(limited) });
    expect((await send(gw.url, simpleMt('15551230001'), AUTH)).status).toBe(200);
    expect((await send(gw.url, simpleMt('15551230001'), AUTH)).status).toBe(429);
    gw.gateway.reloadAccounts(accountsOf(gw.dir, (accounts) => accounts.map(limited)));
    expect((await send(gw.url, simpleMt('15551230001'), AUTH)).status).toBe(429);
    gw.gateway.reloadAccounts(accountsOf(gw.dir, (accounts) => accounts.map((a) => (a.id === ACCOUNT.id ? { ...a, maxSendsPerSecond: 1000, sendBurst: 5 } : a))));
    expect((await send(gw.url, simpleMt('15551230001'), AUTH)).status).toBe(200);
  });
});

describe('webhooks queued before a reload', () => {
  it('go to the reportUrl and moUrl configured now: a customer who moved a failing endpoint gets what was owed there', async () => {
    const broken = await startSink();
    const fixed = await startSink();
    broken.respondWith(503);
    try {
      gw = await startTestGateway({}, { reportUrl: `${broken.url}/reports`, moUrl: `${broken.url}/mo` });
      const sent = await send(gw.url, simpleMt('15551230001'));
      expect(sent.status).toBe(200);
      const { contentType, body } = buildMultipart([
        { headers: { 'Content-Type': 'application/json', 'Content-Id': 'main' }, body: JSON.stringify({ source: '14553011955', destinations: ['88600'] }) },
        { headers: { 'Content-Type': 'text/plain', 'Content-Id': 'text.txt' }, body: 'hello' },
      ]);
      expect((await http(`${gw.url}/sandbox/mo`, { method: 'POST', headers: { 'content-type': contentType }, body })).status).toBe(200);
      await broken.waitFor((reqs) => reqs.some((r) => r.url === '/reports') && reqs.some((r) => r.url === '/mo'), 10_000);

      gw.gateway.reloadAccounts(
        accountsOf(gw.dir, (accounts) =>
          accounts.map((a) =>
            a.id === ACCOUNT.id
              ? {
                  ...a,
                  mtConfigs: { default: { reportUrl: `${fixed.url}/reports` }, config1: {} },
                  numbers: [{ number: '88600', moUrl: `${fixed.url}/mo` }, { number: '15557770000' }],
                }
              : a,
          ),
        ),
      );
      const got = await fixed.waitFor((reqs) => reqs.some((r) => r.url === '/reports') && reqs.some((r) => r.url === '/mo'), 10_000);
      const report = JSON.parse(got.find((r) => r.url === '/reports')!.body.toString());
      expect(report).toMatchObject({ type: 'REPORT', mtId: sent.json.mtId });
    } finally {
      await broken.close();
      await fixed.close();
    }
  });
});

describe('`mmsgate serve` on SIGHUP', () => {
  it('reloads the accounts from the file; a file that does not load changes nothing; other settings wait for a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmsgate-reload-'));
    const port = await freePort();
    const configFile = join(dir, 'mmsgate.yaml');
    const base = { ...testConfig({ dir }), log: { level: 'info' } } as ConfigInput;
    writeConfigFile(configFile, base);
    const node = await spawnGateway(configFile, port);
    try {
      expect((await send(node.url, simpleMt('15551230001', { source: '88900' }), NEW_AUTH)).status).toBe(401);

      writeConfigFile(configFile, { ...base, accounts: [...(base.accounts as Account[]), initech], queue: { pollInterval: '200ms' } } as ConfigInput);
      node.proc.kill('SIGHUP');
      await eventually(async () => (node.output().includes('accounts reloaded') ? true : undefined), 10_000, 'the reload');
      expect(node.output()).toMatch(/"added":\["initech"\]/);
      expect(node.output()).toMatch(/"settings":\["queue"\][^\n]*take effect at the next restart/);
      const added = await send(node.url, simpleMt('15551230001', { source: '88900' }), NEW_AUTH);
      expect(added.status, added.body.toString()).toBe(200);

      writeConfigFile(configFile, { ...base, accounts: [{ id: 'broken' }] } as unknown as ConfigInput);
      node.proc.kill('SIGHUP');
      await eventually(async () => (node.output().includes('does not load') ? true : undefined), 10_000, 'the refused reload');
      expect(node.output()).toMatch(/accounts\.0: give exactly one of password or passwordHash[^\n]*does not load/);
      expect((await send(node.url, simpleMt('15551230001', { source: '88900' }), NEW_AUTH)).status).toBe(200);
      expect(node.proc.exitCode).toBeNull();
    } finally {
      expect(await node.stop()).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
