/**
 * The WAL sync behind SQLite write acknowledgements: a write is answered only after an fdatasync that started after
 * its COMMIT, syncs are shared by the commits they cover, and a failed sync fails everything after it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WalSync, type SyncFn } from '../../src/store/sqlite-wal-sync.ts';

/** A sync function whose calls complete when the test says so. */
function controlledSync(): { fn: SyncFn; calls: ((err: NodeJS.ErrnoException | null) => void)[] } {
  const calls: ((err: NodeJS.ErrnoException | null) => void)[] = [];
  return { fn: (_fd, done) => calls.push(done), calls };
}

/** Whether a promise has settled, after letting pending callbacks run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('WalSync', () => {
  let dir: string;
  let wal: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mmsgate-walsync-'));
    wal = join(dir, 'db-wal');
    await writeFile(wal, 'frames');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('answers at once when nothing is waiting to be synced', async () => {
    const s = controlledSync();
    const sync = new WalSync(wal, s.fn);
    await sync.durable();
    expect(s.calls).toHaveLength(0);
  });

  it('holds a commit until a sync that started after it completes, not one that was already running', async () => {
    const s = controlledSync();
    const sync = new WalSync(wal, s.fn);
    sync.noteCommit();
    const first = sync.durable();
    expect(s.calls).toHaveLength(1);
    sync.noteCommit(); // lands while the first sync runs: that sync may not hold its frames
    const second = sync.durable();
    expect(s.calls).toHaveLength(2); // its own sync starts at once, beside the first
    s.calls[0]!(null);
    expect(await settled(first)).toBe(true);
    expect(await settled(second)).toBe(false);
    s.calls[1]!(null);
    expect(await settled(second)).toBe(true);
    expect(sync.stats()).toEqual({ committed: 2, synced: 2, syncs: 2 });
  });

  it('covers every commit made before a sync with that one sync', async () => {
    const s = controlledSync();
    const sync = new WalSync(wal, s.fn);
    for (let i = 0; i < 5; i++) sync.noteCommit();
    const waits = Array.from({ length: 5 }, () => sync.durable());
    expect(s.calls).toHaveLength(1);
    s.calls[0]!(null);
    await Promise.all(waits);
    expect(sync.stats().syncs).toBe(1);
  });

  it('runs at most two syncs at once and starts the next one for the commits still waiting', async () => {
    const s = controlledSync();
    const sync = new WalSync(wal, s.fn);
    const waits = [];
    for (let i = 0; i < 3; i++) {
      sync.noteCommit();
      waits.push(sync.durable());
    }
    expect(s.calls).toHaveLength(2);
    s.calls[0]!(null);
    await settled(waits[0]!);
    expect(s.calls).toHaveLength(3); // a slot freed: the third commit's sync
    s.calls[1]!(null);
    s.calls[2]!(null);
    await Promise.all(waits);
  });

  it('fails every waiting and later commit once a sync has failed', async () => {
    const s = controlledSync();
    const sync = new WalSync(wal, s.fn);
    sync.noteCommit();
    const waiting = sync.durable();
    s.calls[0]!(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await expect(waiting).rejects.toThrow(/syncing the SQLite WAL failed: EIO/);
    sync.noteCommit();
    await expect(sync.durable()).rejects.toThrow(/syncing the SQLite WAL failed/);
    await expect(sync.durable()).rejects.toThrow(/syncing the SQLite WAL failed/); // even with nothing new
  });

  it('syncs the real file with fdatasync, treats a missing WAL as nothing to sync, and closes after running syncs', async () => {
    const real = new WalSync(wal);
    real.noteCommit();
    await real.durable();
    expect(real.stats()).toMatchObject({ synced: 1, syncs: 1 });
    real.noteCommit();
    const last = real.durable();
    await real.close(); // waits for the sync in flight: its descriptor is not pulled from under it
    await last;
    const none = new WalSync(join(dir, 'absent-wal'));
    none.noteCommit();
    await none.durable();
    expect(none.stats()).toMatchObject({ synced: 1, syncs: 0 });
  });
});
