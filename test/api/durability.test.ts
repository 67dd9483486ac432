/**
 * A 200 from POST /mms/v2/send is a promise: the message is on disk. The gateway runs as a child process on a SQLite
 * file, a stream of sends hits it, it is killed with SIGKILL mid-stream, restarted on the same file, and every mtId
 * that was answered 200 must be found by the status endpoint.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  freePort,
  send,
  simpleMt,
  sleep,
  spawnGateway,
  status,
  testConfig,
  writeConfigFile,
  type ChildGateway,
} from '../support/gateway.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'mmsgate-kill9-api-'));
const children: ChildGateway[] = [];
afterAll(async () => {
  for (const c of children) await c.kill9();
  rmSync(dir, { recursive: true, force: true });
});

describe('kill -9 during a stream of sends', () => {
  it('every mtId answered 200 before the kill is found after a restart on the same file', { timeout: 60_000 }, async () => {
    const file = path.join(dir, 'gateway.yaml');
    writeConfigFile(file, testConfig({ dir, dbFile: path.join(dir, 'kill9.db') }));
    const first = await spawnGateway(file, await freePort());
    children.push(first);

    const accepted: number[] = [];
    let failures = 0;
    let stop = false;
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const r = await send(first.url, simpleMt(`1555200${String(w).padStart(2, '0')}${String(i % 100).padStart(2, '0')}`));
          if (r.status === 200) accepted.push(r.json.mtId as number);
          else failures++;
        } catch {
          failures++; // the connection died with the process: not accepted, nothing promised
          await sleep(5);
        }
      }
    };
    const workers = Array.from({ length: 6 }, (_, w) => worker(w));
    // Let a good number of sends through, then kill while requests are in flight.
    const t0 = Date.now();
    while (accepted.length < 150 && Date.now() - t0 < 20_000) await sleep(10);
    await first.kill9();
    await sleep(200);
    stop = true;
    await Promise.all(workers);
    expect(accepted.length).toBeGreaterThanOrEqual(150);
    expect(new Set(accepted).size).toBe(accepted.length);

    const second = await spawnGateway(file, await freePort());
    children.push(second);
    const missing: number[] = [];
    for (let i = 0; i < accepted.length; i += 20) {
      const batch = accepted.slice(i, i + 20);
      const results = await Promise.all(batch.map((id) => status(second.url, id)));
      results.forEach((r, j) => {
        if (r.status !== 200 || r.json.mtId !== batch[j]) missing.push(batch[j]!);
      });
    }
    expect(missing, `${missing.length} of ${accepted.length} accepted messages lost`).toEqual([]);
    // The restarted node keeps accepting, with ids that do not collide with the accepted ones.
    const r = await send(second.url, simpleMt('15551230001'));
    expect(r.status).toBe(200);
    expect(accepted).not.toContain(r.json.mtId);
    // A graceful stop (SIGTERM) of the restarted node exits cleanly.
    expect(await second.stop()).toBe(0);
  });
});
