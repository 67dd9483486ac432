/**
 * `mmsgate jobs`: an operator finds a delivery report that gave up (the customer's endpoint refused it), fixes the
 * endpoint, replays the job, and the running gateway delivers it. The command works on the gateway's own SQLite file
 * (given by the same --config) while the gateway runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJobs } from '../../src/cli/jobs.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { cliIo } from '../client-e2e/helpers.ts';
import { eventually, send, simpleMt, startSink, startTestGateway, testConfig, writeConfigFile, type Sink, type TestGateway } from '../support/gateway.ts';

describe('mmsgate jobs', () => {
  let dir: string;
  let sink: Sink;
  let gw: TestGateway;
  let configFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mmsgate-jobs-'));
    sink = await startSink();
    sink.respondWith(404); // the customer's endpoint is misconfigured: 4xx, given up after max4xxAttempts (3)
    const raw: ConfigInput = testConfig({ dir, reportUrl: `${sink.url}/reports` });
    configFile = path.join(dir, 'mmsgate.yaml');
    writeConfigFile(configFile, raw);
    gw = await startTestGateway({}, { raw, dir });
  });
  afterAll(async () => {
    await gw?.stop();
    await sink?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function jobs(...args: string[]) {
    const io = cliIo();
    const code = await runJobs([...args, '--config', configFile], io);
    return { code, out: io.stdout.text, err: io.stderr.text };
  }

  it('lists a given-up report with its target and error, replays it after the fix, and the gateway delivers it', async () => {
    const r = await send(gw.url, simpleMt('15551260001'));
    expect(r.status).toBe(200);
    const mtId = (r.json as { mtId: number }).mtId;
    await sink.waitFor((reqs) => reqs.filter((q) => q.answered === 404).length >= 3);

    const dead = await eventually(async () => {
      const l = await jobs('list', '--json');
      const list = JSON.parse(l.out) as { id: number; kind: string; refId: number; attempts: number; lastError: string; url: string }[];
      return list.find((j) => j.refId === mtId && j.kind === 'report');
    });
    // No runAt: a given-up job is not due again until replayed (its last lease's end would read as a pending retry).
    expect(dead).toMatchObject({ attempts: 3, lastError: 'HTTP 404', url: `${sink.url}/reports`, runAt: null });
    const table = await jobs();
    expect(table.code).toBe(0);
    expect(table.out).toMatch(new RegExp(`^${dead.id}\\s+report\\s+${mtId}\\s+3\\s+\\S+\\s+${sink.url}/reports HTTP 404$`, 'm'));

    sink.respondWith(200); // fixed
    const replay = await jobs('replay', String(dead.id));
    expect(replay).toMatchObject({ code: 0, out: 'replayed 1 job\n' });
    const delivered = await sink.waitFor((reqs) => reqs.some((q) => q.answered === 200 && JSON.parse(q.body.toString()).mtId === mtId));
    expect(delivered.filter((q) => q.answered === 200)).toHaveLength(1);
    await eventually(async () => ((await jobs('list', '--json')).out.includes(`"refId": ${mtId}`) ? undefined : true));

    // A job that is not dead (now done) is refused, and said so.
    const again = await jobs('replay', String(dead.id));
    expect(again.code).toBe(1);
    expect(again.err).toContain(`not dead, no such job, or its message was deleted (retention); left as they are: ${dead.id}`);
  });

  it('shows as a report job\'s target the reportUrl it posts to now (the configuration\'s), not the one it was queued with', async () => {
    sink.respondWith(404);
    const r = await send(gw.url, simpleMt('15551260009'));
    const mtId = (r.json as { mtId: number }).mtId;
    const moved = path.join(dir, 'moved.yaml');
    writeConfigFile(moved, testConfig({ dir, reportUrl: `${sink.url}/moved-reports` }));
    const dead = await eventually(async () => {
      const io = cliIo();
      expect(await runJobs(['list', '--json', '--config', moved], io)).toBe(0);
      return (JSON.parse(io.stdout.text) as { refId: number; kind: string; url: string }[]).find((j) => j.refId === mtId && j.kind === 'report');
    });
    expect(dead.url).toBe(`${sink.url}/moved-reports`);
    expect((await jobs('discard', '--all', '--kind', 'report')).code).toBe(0);
    sink.respondWith(200);
  });

  it('replays every dead job of a kind with --all', async () => {
    sink.respondWith(404);
    const before = sink.requests.filter((q) => q.answered === 200).length;
    const ids: number[] = [];
    for (const d of ['15551260002', '15551260003']) ids.push(((await send(gw.url, simpleMt(d))).json as { mtId: number }).mtId);
    await eventually(async () => {
      const list = JSON.parse((await jobs('list', '--json', '--kind', 'report')).out) as { refId: number }[];
      return ids.every((id) => list.some((j) => j.refId === id)) ? true : undefined;
    });
    sink.respondWith(200);
    expect(await jobs('replay', '--all', '--kind', 'report')).toMatchObject({ code: 0, out: 'replayed 2 jobs\n' });
    await sink.waitFor((reqs) => reqs.filter((q) => q.answered === 200).length >= before + 2);
    expect((await jobs()).out).toBe('no dead jobs\n');
  });

  it('discards a dead job the operator gives up on: it stops counting as dead and is never sent again', async () => {
    sink.respondWith(404);
    const mtId = ((await send(gw.url, simpleMt('15551260004'))).json as { mtId: number }).mtId;
    const dead = await eventually(async () =>
      (JSON.parse((await jobs('list', '--json', '--kind', 'report')).out) as { id: number; refId: number }[]).find((j) => j.refId === mtId),
    );
    const answered = sink.requests.length;
    expect(await jobs('discard', String(dead.id))).toMatchObject({ code: 0, out: 'discarded 1 job\n' });
    expect((await jobs('list', '--json', '--kind', 'report')).out).not.toContain(`"refId": ${mtId}`);
    const done = (await gw.gateway.store.listJobs({ refId: mtId })).find((j) => j.id === dead.id);
    expect(done).toMatchObject({ state: 'done', lastError: 'discarded by an operator; last error: HTTP 404' });
    // Not dead any more: neither replayable nor discardable again.
    expect((await jobs('replay', String(dead.id))).code).toBe(1);
    const again = await jobs('discard', String(dead.id));
    expect(again.code).toBe(1);
    expect(again.err).toContain(`not dead, or no such job; left as they are: ${dead.id}`);
    sink.respondWith(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.requests.length).toBe(answered); // nothing more was sent for it
  });

  it('goes on past a job whose write fails, changes the others, and names the failed one to try again', async () => {
    sink.respondWith(404);
    const mtIds: number[] = [];
    for (const d of ['15551260005', '15551260006']) mtIds.push(((await send(gw.url, simpleMt(d))).json as { mtId: number }).mtId);
    const dead = await eventually(async () => {
      const list = JSON.parse((await jobs('list', '--json', '--kind', 'report')).out) as { id: number; refId: number }[];
      const found = mtIds.map((id) => list.find((j) => j.refId === id));
      return found.every(Boolean) ? found.map((j) => j!.id) : undefined;
    });
    const [failing, fine] = dead as [number, number];
    // The store refuses any change to the first job (as a lock conflict or a full disk would), only that one.
    const db = new Database(path.join(dir, 'mmsgate.db'), { timeout: 5000 });
    db.exec(`CREATE TRIGGER refuse_one BEFORE UPDATE ON jobs WHEN OLD.id = ${failing} BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
    try {
      sink.respondWith(200);
      for (const action of ['discard', 'replay'] as const) {
        const r = await jobs(action, String(failing), String(fine));
        expect(r.code).toBe(1);
        expect(r.out).toBe(`${action === 'replay' ? 'replayed' : 'discarded'} ${action === 'discard' ? 1 : 0} job${action === 'discard' ? '' : 's'}\n`);
        expect(r.err).toContain(`could not ${action} now, try again: ${failing} (disk I/O error)`);
        if (action === 'replay') expect(r.err).toContain(`left as they are: ${fine}`); // discarded just before
      }
    } finally {
      db.exec('DROP TRIGGER refuse_one');
      db.close();
    }
    // The failed one is still dead and replays once the store takes writes again.
    expect(await jobs('replay', String(failing))).toMatchObject({ code: 0, out: 'replayed 1 job\n' });
    await sink.waitFor((reqs) => reqs.some((q) => q.answered === 200 && JSON.parse(q.body.toString()).mtId === mtIds[0]));
  });

  it('shows text from outside (an endpoint error, an MMSC fault string) without letting it drive the terminal', async () => {
    // A dead job whose last error carries an OSC title sequence, a clear-screen, a C1 CSI and a bidi override.
    const hostile = 'HTTP 404 \u001b]0;owned\u0007\u001b[2J\u009b31m\u202eevil';
    // An MO job for an MO that does not exist dies at once ("not found"); its error is then made hostile in the file.
    await gw.gateway.store.write([{ jobs: [{ kind: 'mo', refId: 990001 }] }]);
    const job = await eventually(async () => (await gw.gateway.store.listJobs({ kind: 'mo', state: 'dead' })).find((j) => j.refId === 990001));
    const db = new Database(path.join(dir, 'mmsgate.db'), { timeout: 5000 });
    try {
      db.prepare('UPDATE jobs SET last_error = ? WHERE id = ?').run(hostile, job.id);
    } finally {
      db.close();
    }
    for (const args of [['list', '--kind', 'mo'], ['list', '--kind', 'mo', '--json']]) {
      const out = (await jobs(...args)).out;
      expect(out).toContain(String(job.id));
      expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
      expect(out).toContain('\\u001b');
    }
    expect(JSON.parse((await jobs('list', '--kind', 'mo', '--json')).out)[0].lastError).toBe(hostile); // still the same text
  });

  it('needs only the store: a TLS key or CA file it cannot read does not stop it', async () => {
    const base = testConfig({ dir, reportUrl: `${sink.url}/reports` });
    const raw = {
      ...base,
      listen: { host: '127.0.0.1', port: 0, tls: { cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' } },
      operators: [...(base.operators ?? []), { id: 310, type: 'mm7', prefixes: ['1999'], mm7: { url: 'https://127.0.0.1:1/mm7', ca: 'certs/mmsc-ca.pem' } }],
    };
    const file = path.join(dir, 'with-tls.yaml');
    writeConfigFile(file, raw as ConfigInput);
    const io = cliIo();
    expect(await runJobs(['list', '--config', file], io), io.stderr.text).toBe(0);
  });

  it('refuses bad usage with exit 2 and says how to use it', async () => {
    for (const args of [['replay'], ['replay', '1', '--all'], ['replay', 'x1'], ['discard'], ['discard', '1', '--json'], ['list', '--state', 'zombie'], ['list', '--kind', 'fax'], ['purge']]) {
      const r = await jobs(...args);
      expect(r.code).toBe(2);
      expect(r.err).toContain('usage: mmsgate jobs');
    }
  });
});
