/**
 * The SQLite store holds customers' messages (numbers, subjects, content): the files and the folder the gateway
 * creates for them are its own user's alone, whatever the umask (the usual 022 would make them world-readable).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
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
});
