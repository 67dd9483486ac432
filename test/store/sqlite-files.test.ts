/**
 * The SQLite store holds customers' messages (numbers, subjects, content): the files and the folder the gateway
 * creates for them are its own user's alone, whatever the umask (the usual 022 would make them world-readable).
 * And another process may open the live file (a backup with sqlite3, `mmsgate jobs`) without taking the WAL away
 * from the gateway: SQLite deletes the WAL when the last connection closes, and only the gateway's locks tell the
 * other process it is not the last.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { send, simpleMt, startTestGateway, type TestGateway } from '../support/gateway.ts';

let gw: TestGateway | undefined;
let dir: string | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function hasSqlite3(): boolean {
  try {
    execFileSync('sqlite3', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const modeOf = (p: string): number => statSync(p).mode & 0o777;

describe('the SQLite files a gateway creates', () => {
  it('are readable by their owner only, as is the folder made for them', async () => {
    const before = process.umask(0o022);
    try {
      dir = mkdtempSync(path.join(tmpdir(), 'mmsgate-mode-'));
      const db = path.join(dir, 'data', 'mmsgate.db');
      gw = await startTestGateway({}, { dir, dbFile: db });
      expect((await send(gw.url, simpleMt('15551230001'))).status).toBe(200);
      expect(modeOf(path.join(dir, 'data')).toString(8)).toBe('700');
      for (const f of [db, `${db}-wal`, `${db}-shm`]) expect({ f: path.basename(f), mode: modeOf(f).toString(8) }).toEqual({ f: path.basename(f), mode: '600' });
    } finally {
      process.umask(before);
    }
  });

  // The sqlite3 shell, as docs/deployment.md's backup uses it. A process with better-sqlite3's newer SQLite does not
  // show the fault: it also finds the gateway's locks on the -shm file, which the fault left in place.
  it.skipIf(!hasSqlite3())('stay in place when sqlite3 opens and closes the database while the gateway runs', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mmsgate-wal-'));
    const db = path.join(dir, 'mmsgate.db');
    gw = await startTestGateway({}, { dir, dbFile: db });
    expect((await send(gw.url, simpleMt('15551230001'))).status).toBe(200);
    // What a backup does: open the live file in another process, read, close.
    expect(execFileSync('sqlite3', [db, 'select count(*) from mt_messages'], { encoding: 'utf8' }).trim()).toBe('1');
    expect((await send(gw.url, simpleMt('15551230001'))).status).toBe(200);
    expect(existsSync(`${db}-wal`), 'the WAL is still there').toBe(true);
    expect(existsSync(`${db}-shm`), 'the shared-memory index is still there').toBe(true);
  });

  it('that cannot be opened make the start fail with the file named', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mmsgate-open-'));
    const db = path.join(dir, 'mmsgate.db');
    mkdirSync(db); // a folder where the file should be: SQLite says only "unable to open database file"
    await expect(startTestGateway({}, { dir, dbFile: db })).rejects.toThrow(`cannot open the SQLite store ${db}`);
  });
});
