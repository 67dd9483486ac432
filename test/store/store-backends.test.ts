/**
 * Backend-specific behaviour: SQLite files surviving close, PostgreSQL with several nodes on one database.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import BetterSqlite3 from 'better-sqlite3';
import { dialectForUrl, openStore } from '../../src/store/open-store.ts';
import { SqliteWriterThread } from '../../src/store/sqlite-writer-thread.ts';
import { openSqliteDatabase } from '../../src/store/sqlite-open.ts';
import { SqliteBatchWriter } from '../../src/store/sqlite-writer.ts';
import type { JobKind, Store } from '../../src/store/store.ts';
import { freshPgDatabase } from '../support/postgres.ts';
import { BINARY, blobOf, mtOf, partOf } from './fixtures.ts';

const T0 = 1_800_000_000_000;

describe('SQLite file store', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'mmsgate-sqlite-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('creates parent directories and keeps everything across close and reopen', async () => {
    const file = join(tmp, 'nested', 'dir', 'mmsgate.db');
    const url = `sqlite:${file}`;
    const b = blobOf(BINARY);
    let store = await openStore(url);
    const id = await store.reserveIds('mt', 3);
    await store.write([
      {
        blobs: [b],
        mts: [mtOf(id, [partOf(b, 'image/png', 'p')])],
        events: [{ mtId: id, at: T0, type: 'accepted', node: 'n', detail: { k: 'v' } }],
        jobs: [{ kind: 'submit', refId: id, runAt: T0 }],
      },
    ]);
    await store.close();
    expect((await stat(file)).size).toBeGreaterThan(0);

    store = await openStore(url);
    try {
      expect((await store.getMt(id))?.parts[0]?.sha256).toBe(b.sha256);
      expect((await store.getBlob(b.sha256))!.equals(BINARY)).toBe(true);
      expect(await store.getEvents({ mtId: id })).toEqual([{ at: T0, type: 'accepted', node: 'n', detail: { k: 'v' } }]);
      const [job] = await store.claimJobs({ kinds: ['submit'], owner: 'w', leaseMs: 1000, limit: 5, now: T0 });
      expect(job?.refId).toBe(id);
      // The sequence continues after the reserved block: no id is handed out twice across restarts.
      expect(await store.reserveIds('mt', 1)).toBe(id + 3);
    } finally {
      await store.close();
    }
  });

  it('settles a write the writer thread has committed as soon as it is polled, without waiting for the event loop', async () => {
    const store = await openStore(`sqlite:${join(tmp, 'poll.db')}`);
    try {
      const id = await store.reserveIds('mt', 1);
      let settled = false;
      const written = store.write([{ mts: [mtOf(id, [])] }]).then((r) => {
        settled = true;
        return r;
      });
      // Block this thread long enough for the writer thread to commit and reply; no event-loop turn can deliver
      // the reply meanwhile, and only microtasks run below, so only pollWrites can settle the write.
      const until = Date.now() + 2000;
      while (!settled && Date.now() < until) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        store.pollWrites?.();
        for (let i = 0; i < 20; i++) await new Promise<void>((r) => queueMicrotask(r));
      }
      expect(settled).toBe(true);
      expect(await written).toEqual([{ applied: true }]);
    } finally {
      await store.close();
    }
  });

  /** Records the synchronous level in force whenever the writer changes it (a fresh statement: SQLite evaluates
   *  PRAGMA synchronous when compiling). */
  function watchLevels(db: BetterSqlite3.Database): { levels: unknown[]; level: () => unknown } {
    const level = () => db.pragma('synchronous', { simple: true });
    const levels: unknown[] = [];
    const pragma = db.pragma.bind(db);
    db.pragma = ((src: string, o?: BetterSqlite3.PragmaOptions) => {
      const r = pragma(src, o);
      if (src.startsWith('synchronous =')) levels.push(level());
      return r;
    }) as typeof db.pragma;
    return { levels, level };
  }

  it('runs lease writes without the commit flush and restores synchronous=FULL after them, even on error', () => {
    const db = openSqliteDatabase({ path: join(tmp, 'flush.db') });
    db.exec('CREATE TABLE leases (id INTEGER PRIMARY KEY, owner TEXT)');
    const writer = new SqliteBatchWriter(db);
    const { levels, level } = watchLevels(db);
    try {
      expect(level()).toBe(2); // FULL: what a 200 relies on
      expect(writer.runStatement('INSERT INTO leases (owner) VALUES (?) RETURNING id', ['w'], false)).toEqual([{ id: 1 }]);
      expect(levels).toEqual([1, 2]); // NORMAL around the statement, FULL again after it
      expect(level()).toBe(2);
      writer.runStatement('UPDATE leases SET owner = ? WHERE id = ?', ['v', 1], true);
      expect(levels).toEqual([1, 2]); // a flushed statement leaves the level alone
      // Fails while running (not while compiling): the level is restored all the same.
      expect(() => writer.runStatement('INSERT INTO leases (id, owner) VALUES (?, ?)', [1, 'x'], false)).toThrow(/UNIQUE/);
      expect(levels).toEqual([1, 2, 1, 2]);
      expect(level()).toBe(2);
    } finally {
      db.close();
    }
  });

  it('leaves the sync to the caller for every batch and statement when told so, and restores FULL for other writes', async () => {
    const file = join(tmp, 'caller-sync.db');
    const store = await openStore(`sqlite:${file}?writerThread=false`);
    await store.close();
    const db = openSqliteDatabase({ path: file });
    const writer = new SqliteBatchWriter(db, 'caller');
    const { levels, level } = watchLevels(db);
    try {
      const b = blobOf(BINARY);
      writer.write([{ blobs: [b], mts: [mtOf(1, [partOf(b, 'image/png', 'p')])] }], T0);
      expect(levels).toEqual([1, 2]);
      writer.runStatement('UPDATE mt_messages SET updated_at = ? WHERE mt_id = ?', [T0 + 1, 1], true); // even "flush"
      expect(levels).toEqual([1, 2, 1, 2]);
      expect(() => writer.write([{ blobs: [{ sha256: 'bad', bytes: BINARY }] }], T0)).toThrow(/sha256/);
      expect(levels).toEqual([1, 2, 1, 2, 1, 2]);
      expect(level()).toBe(2);
    } finally {
      db.close();
    }
  });

  it('with writes on the event loop, answers a write or a claim only after a WAL sync that started after its commit; after a failed sync, none', async () => {
    const file = join(tmp, 'wal-sync.db');
    const syncs: ((err: NodeJS.ErrnoException | null) => void)[] = [];
    const store = await openStore(`sqlite:${file}?writerThread=false`, { sqliteWalSync: (_fd, done) => syncs.push(done) });
    const until = async (cond: () => boolean) => {
      for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
      expect(cond()).toBe(true);
    };
    const stored = (id: number) => {
      const db = new BetterSqlite3(file, { readonly: true });
      try {
        return db.prepare('SELECT 1 FROM mt_messages WHERE mt_id = ?').get(id) !== undefined;
      } finally {
        db.close();
      }
    };
    try {
      const b = blobOf(BINARY);
      let answered = false;
      const write = store.write([{ blobs: [b], mts: [mtOf(1, [partOf(b, 'image/png', 'p')])], jobs: [{ kind: 'submit', refId: 1, runAt: T0 }] }]);
      void write.then(() => (answered = true));
      await until(() => syncs.length === 1);
      expect(stored(1)).toBe(true); // committed, in the WAL ...
      await new Promise((r) => setTimeout(r, 20));
      expect(answered).toBe(false); // ... but not acknowledged before the sync
      syncs.shift()!(null);
      await write;

      // A claim hands out the job only once the rows that made it are durable, even when the claim changed nothing else.
      let claimed = false;
      const claim = store.claimJobs({ kinds: ['submit'], owner: 'w', leaseMs: 1000, limit: 5, now: T0 });
      void claim.then(() => (claimed = true));
      await until(() => syncs.length === 1);
      await new Promise((r) => setTimeout(r, 20));
      expect(claimed).toBe(false);
      syncs.shift()!(null);
      expect((await claim).map((j) => j.refId)).toEqual([1]);
      // A claim that finds nothing wrote nothing: it answers without a sync.
      expect(await store.claimJobs({ kinds: ['report'], owner: 'w', leaseMs: 1000, limit: 5, now: T0 })).toEqual([]);
      expect(syncs).toHaveLength(0);

      const failing = store.write([{ mts: [mtOf(2, [])] }]);
      await until(() => syncs.length === 1);
      syncs.shift()!(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
      await expect(failing).rejects.toThrow(/syncing the SQLite WAL failed: EIO/);
      // Nothing after a failed sync can be trusted to reach the disk: every later write fails too.
      await expect(store.write([{ mts: [mtOf(3, [])] }])).rejects.toThrow(/syncing the SQLite WAL failed/);
      expect(store.fatalError?.()?.message).toMatch(/syncing the SQLite WAL failed: EIO/); // what /healthz reports
    } finally {
      await store.close();
    }
  });

  it('with writes on the event loop, checkpoints on their own thread: the WAL stays bounded though the store connection never checkpoints itself', async () => {
    const file = join(tmp, 'checkpoints.db');
    const store = await openStore(`sqlite:${file}?writerThread=false`);
    try {
      // ~24 MB of distinct blobs in 2 MB batches: without any checkpoint the WAL would hold all of it.
      for (let batch = 0; batch < 12; batch++) {
        const blobs = Array.from({ length: 32 }, (_, i) => {
          const bytes = Buffer.alloc(64 * 1024, i);
          bytes.writeUInt32BE(batch * 32 + i); // distinct content, distinct blob
          return blobOf(bytes);
        });
        await store.write([{ blobs }]);
        await new Promise((r) => setTimeout(r, 30)); // a checkpoint interval or so between batches
      }
      const db = new BetterSqlite3(file, { readonly: true });
      try {
        expect((db.prepare('SELECT count(*) AS n FROM blobs').get() as { n: number }).n).toBe(12 * 32);
      } finally {
        db.close();
      }
      expect((await stat(`${file}-wal`)).size).toBeLessThan(12 * 1024 * 1024);
    } finally {
      await store.close();
    }
  });

  it('takes writerThread=true|false after the path and refuses any other option', () => {
    expect(() => dialectForUrl(`sqlite:${join(tmp, 'o.db')}?cache=shared`)).toThrow(/unsupported SQLite store option cache=shared/);
    expect(() => dialectForUrl(`sqlite:${join(tmp, 'o.db')}?writerThread=maybe`)).toThrow(/writerThread=true\|false/);
    expect(() => dialectForUrl('sqlite:?writerThread=false')).toThrow(/needs a path/);
  });

  it('fails every pending and later write, without hanging, once the writer thread is gone', async () => {
    const thread = new SqliteWriterThread(join(tmp, 'gone.db'), 5000);
    expect(await thread.run('SELECT 41 + 1 AS n', [], true)).toEqual([{ n: 42 }]);
    const pending = thread.run('SELECT 1', [], true);
    await (thread as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await pending.then(
      () => {},
      (err: Error) => expect(err.message).toMatch(/writer thread exited/),
    );
    await expect(thread.write([], Date.now())).rejects.toThrow(/writer thread exited/);
  });

  it('answers writes sent together each with its own outcome, and never reports stored what a failed transaction dropped', async () => {
    const file = join(tmp, 'merge.db');
    const store = await openStore(`sqlite:${file}`); // migrations, then the thread below writes to the same file
    await store.close();
    const thread = new SqliteWriterThread(file, 5000);
    try {
      const b = blobOf(BINARY);
      const unit = (id: number, key?: string) => ({
        blobs: [b],
        mts: [mtOf(id, [partOf(b, 'image/png', 'p')])],
        ...(key ? { idempotency: { accountId: 'a', key, requestHash: `h${id}`, mtId: id, expiresAt: T0 * 2 } } : {}),
      });
      // Sent in one turn: the thread may merge them into one transaction; each still gets its own slice.
      const outcomes = await Promise.all([
        thread.write([unit(1), unit(2)], T0),
        thread.write([unit(3, 'k')], T0),
        thread.write([unit(4, 'k'), unit(5)], T0),
      ]);
      expect(outcomes.map((o) => o.applied)).toEqual([[true, true], [true], [false, true]]);
      expect(outcomes[2]!.hits[0]).toEqual({ mtId: 3, requestHash: 'h3' });

      const bad = { blobs: [{ sha256: 'not-a-digest', bytes: BINARY }] };
      const settled = await Promise.allSettled([thread.write([unit(6)], T0), thread.write([bad], T0), thread.write([unit(7)], T0)]);
      expect(settled[1]!.status).toBe('rejected');
      const db = new BetterSqlite3(file, { readonly: true });
      try {
        const stored = new Set((db.prepare('SELECT mt_id FROM mt_messages').all() as { mt_id: number }[]).map((r) => r.mt_id));
        expect([1, 2, 3, 5].every((id) => stored.has(id))).toBe(true);
        expect(stored.has(4)).toBe(false);
        // Whether 6 and 7 shared the failed transaction depends on timing; either way "fulfilled" must mean stored.
        for (const [i, id] of [[0, 6], [2, 7]] as const) expect(stored.has(id)).toBe(settled[i]!.status === 'fulfilled');
      } finally {
        db.close();
      }
    } finally {
      await thread.close();
    }
  });

  it('opens an in-memory database for tests', async () => {
    const store = await openStore('sqlite::memory:');
    try {
      expect(store.backend).toBe('sqlite');
      expect(await store.reserveIds('mo', 1)).toBe(100_000_000_000_000);
    } finally {
      await store.close();
    }
  });

  it('refuses an unknown URL scheme without echoing the rest of the URL', async () => {
    await expect(openStore('mysql://user:secret@127.0.0.1/db')).rejects.toThrow(/mysql:/);
    await expect(openStore('mysql://user:secret@127.0.0.1/db')).rejects.not.toThrow(/secret/);
  });
});

describe('PostgreSQL with several nodes', () => {
  /**
   * A store on a fresh database and a raw connection standing for another node (its statements run one by one, so a
   * test can stop that node's transaction half-way). Whatever the test leaves open is rolled back.
   */
  async function withOtherNode(body: (store: Store, other: pg.Client) => Promise<void>): Promise<void> {
    const url = await freshPgDatabase();
    const store = await openStore(url, { clock: () => T0 });
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await body(store, c);
    } finally {
      await c.query('ROLLBACK').catch(() => {});
      await c.end();
      await store.close();
    }
  }

  it('replays a dead job while another node deletes its message past the retention, without a deadlock', async () => {
    await withOtherNode(async (store, c) => {
      const id = await store.reserveIds('mt', 1);
      await store.write([{ mts: [mtOf(id, [], { createdAt: T0, updatedAt: T0 })], jobs: [{ kind: 'report', refId: id, runAt: T0 }] }]);
      const [job] = await store.claimJobs({ kinds: ['report'], owner: 'w', leaseMs: 60_000, limit: 1, now: T0 });
      await store.write([{ job: { jobId: job!.id, owner: 'w', outcome: 'dead', error: 'down' } }]);
      // The retention's page on the other node, statement by statement, in its order: the message first, then its jobs.
      await c.query('BEGIN');
      const del = await c.query(`DELETE FROM mt_messages WHERE mt_id = $1 AND updated_at < $2 RETURNING mt_id`, [id, T0 + 1]);
      expect(del.rowCount).toBe(1);
      // An operator replays meanwhile: it must wait for the message's lock before it takes the job's.
      const replay = store.replayJob(job!.id, T0 + 1000).then((v) => ({ v }), (e: Error) => ({ e: e.message }));
      await new Promise((r) => setTimeout(r, 200));
      await c.query(`DELETE FROM jobs WHERE ref_id = $1`, [id]);
      await c.query('COMMIT');
      // The message is gone: nothing to replay (not "deadlock detected").
      expect(await replay).toEqual({ v: false });
      expect(await store.listJobs({ refId: id })).toEqual([]);
    });
  }, 30_000);

  it('writes no event for a message another node is deleting past the retention, whichever commits first', async () => {
    await withOtherNode(async (store, c) => {
      const id = await store.reserveIds('mt', 1);
      await store.write([{ mts: [mtOf(id, [], { createdAt: T0, updatedAt: T0, state: 'delivered' })] }]);
      // The retention's page on the other node, statement by statement: the message, then its events, then the commit.
      await c.query('BEGIN');
      expect((await c.query(`DELETE FROM mt_messages WHERE mt_id = $1 RETURNING mt_id`, [id])).rowCount).toBe(1);
      await c.query(`DELETE FROM events WHERE ref_kind = 'mt' AND ref_id = $1`, [id]);
      // A late report for it is ignored meanwhile (found before the delete): its event must wait for the outcome.
      const late = store.write([{ events: [{ mtId: id, at: T0, type: 'report-ignored', node: 'n1', detail: {} }] }]);
      await new Promise((r) => setTimeout(r, 200));
      await c.query('COMMIT');
      expect(await late).toEqual([{ applied: true }]);
      expect(await store.getEvents({ mtId: id })).toEqual([]);
    });
  }, 30_000);

  it('locks the messages of events in one order, so that a retention deleting them meanwhile cannot deadlock the batch', async () => {
    await withOtherNode(async (store, c) => {
      const a = await store.reserveIds('mt', 2);
      const b = a + 1;
      await store.write([{ mts: [a, b].map((id) => mtOf(id, [], { createdAt: T0, updatedAt: T0, state: 'delivered' })) }]);
      // The retention's page on the other node deletes a, then b (the DELETE takes its rows in id order).
      await c.query('BEGIN');
      await c.query('DELETE FROM mt_messages WHERE mt_id = $1', [a]);
      // Late events for both, b's first in the batch: locking b before waiting for a would close a cycle below.
      const ev = (mtId: number) => ({ events: [{ mtId, at: T0, type: 'report-ignored', node: 'n1', detail: {} }] });
      const late = store.write([ev(b), ev(a)]);
      await new Promise((r) => setTimeout(r, 200));
      await c.query('DELETE FROM mt_messages WHERE mt_id = $1', [b]);
      await c.query('COMMIT');
      expect(await late).toEqual([{ applied: true }, { applied: true }]);
      expect(await store.getEvents({ mtId: a })).toEqual([]);
      expect(await store.getEvents({ mtId: b })).toEqual([]);
    });
  }, 30_000);

  it('migrates safely when nodes start at the same instant on an empty database', async () => {
    const url = await freshPgDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openStore(url, { poolSize: 2 })));
    try {
      const ids = await Promise.all(stores.map((s) => s.reserveIds('mt', 1)));
      expect(new Set(ids).size).toBe(4);
      expect(Math.min(...ids)).toBe(100_000_000_000_000);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('hands each job to one node only when nodes claim at once', async () => {
    const url = await freshPgDatabase();
    const nodes = await Promise.all(Array.from({ length: 3 }, () => openStore(url, { poolSize: 4 })));
    try {
      await nodes[0]!.write([{ jobs: Array.from({ length: 150 }, (_, i) => ({ kind: 'submit' as const, refId: i, runAt: T0 })) }]);
      const claimed: number[] = [];
      const worker = async (n: number, w: number): Promise<void> => {
        for (;;) {
          const got = await nodes[n]!.claimJobs({ kinds: ['submit'], owner: `n${n}w${w}`, leaseMs: 60_000, limit: 5, now: T0 });
          if (got.length === 0) return;
          claimed.push(...got.map((j) => j.id));
        }
      };
      await Promise.all(nodes.flatMap((_, n) => [0, 1, 2].map((w) => worker(n, w))));
      expect(claimed).toHaveLength(150);
      expect(new Set(claimed).size).toBe(150);
    } finally {
      await Promise.all(nodes.map((s) => s.close()));
    }
  });

  it('wakes idle nodes when another node enqueues jobs (LISTEN/NOTIFY)', async () => {
    const url = await freshPgDatabase();
    const [a, b] = await Promise.all([openStore(url), openStore(url)]);
    try {
      const seen: JobKind[][] = [];
      const off = b.onJobsEnqueued((k) => seen.push(k));
      await expect.poll(() => seen.length).toBeGreaterThan(0); // the initial "check everything" once listening
      seen.length = 0;
      await a.write([{ jobs: [{ kind: 'mo', refId: 1 }] }]);
      await expect.poll(() => seen.some((k) => k.includes('mo'))).toBe(true);
      off();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('wakes the other nodes at once when a draining node releases its leases', async () => {
    const url = await freshPgDatabase();
    const [a, b] = await Promise.all([openStore(url, { poolSize: 2 }), openStore(url, { poolSize: 2 })]);
    try {
      await a.write([{ jobs: [{ kind: 'sim-deliver', refId: 1, runAt: T0 }] }]);
      expect(await a.claimJobs({ kinds: ['sim-deliver'], owner: 'a/sim', leaseMs: 60_000, limit: 5, now: T0 })).toHaveLength(1);
      const seen: JobKind[][] = [];
      const off = b.onJobsEnqueued((k) => seen.push(k));
      await expect.poll(() => seen.length).toBeGreaterThan(0);
      seen.length = 0;
      expect(await a.releaseLeases('a/sim')).toBe(1);
      await expect.poll(() => seen.some((k) => k.includes('sim-deliver'))).toBe(true);
      expect(await b.claimJobs({ kinds: ['sim-deliver'], owner: 'b/sim', leaseMs: 60_000, limit: 5, now: T0 })).toHaveLength(1);
      off();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('keeps trying to listen for other nodes\' wake-ups when its first LISTEN connection fails', async () => {
    const url = await freshPgDatabase();
    const target = new URL(url);
    // A loopback proxy in front of the database that refuses new connections while `refusing` is set.
    let refusing = false;
    const proxy = createServer((client) => {
      if (refusing) return client.destroy();
      const upstream = connect(Number(target.port), target.hostname);
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const viaProxy = new URL(url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String((proxy.address() as AddressInfo).port);
    const [a, b] = await Promise.all([openStore(url), openStore(viaProxy.toString(), { poolSize: 1 })]);
    try {
      await b.listJobs({ limit: 1 }); // its pool's one connection is open before the outage
      refusing = true;
      const seen: JobKind[][] = [];
      const off = b.onJobsEnqueued((k) => seen.push(k));
      await new Promise((r) => setTimeout(r, 300)); // the first LISTEN connection has failed by now
      refusing = false;
      await expect.poll(() => seen.length, { timeout: 5000 }).toBeGreaterThan(0); // connected: "check everything"
      seen.length = 0;
      await a.write([{ jobs: [{ kind: 'report', refId: 1 }] }]);
      await expect.poll(() => seen.some((k) => k.includes('report')), { timeout: 5000 }).toBe(true);
      off();
    } finally {
      await Promise.all([a.close(), b.close()]);
      proxy.close();
    }
  });

  it('housekeeping never deletes an expired idempotency key that another node is claiming afresh', async () => {
    const url = await freshPgDatabase();
    const store = await openStore(url);
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      const now = Date.now();
      const id = await store.reserveIds('mt', 3);
      await store.write([{ idempotency: { accountId: 'acme', key: 'k', requestHash: 'h1', mtId: id, expiresAt: now - 1000 } }]);
      // Another node takes the expired key for a new request (idempotency.ts's claim), its transaction still open...
      await other.query('BEGIN');
      await other.query(
        `INSERT INTO idempotency_keys (account_id, idem_key, request_hash, mt_id, expires_at, created_at) VALUES ('acme', 'k', 'h2', $1, $2, $3)
         ON CONFLICT (account_id, idem_key) DO UPDATE SET request_hash = excluded.request_hash, mt_id = excluded.mt_id,
           expires_at = excluded.expires_at, created_at = excluded.created_at
         WHERE idempotency_keys.expires_at <= $3`,
        [id + 1, now + 86_400_000, now],
      );
      // ...while housekeeping on a third node purges expired keys (it waits for that row).
      const purge = store.purgeExpired(now);
      await new Promise((r) => setTimeout(r, 300));
      await other.query('COMMIT');
      expect((await purge).idempotencyKeys).toBe(0);
      // The new holder keeps its key: a retry of its request is recognised, not accepted as a new message.
      expect(await store.getIdempotencyKey('acme', 'k', Date.now())).toEqual({ mtId: id + 1, requestHash: 'h2' });
    } finally {
      await other.end();
      await store.close();
    }
  });

  it('makes a node wait for another node\'s uncommitted idempotency key, then answers with it', async () => {
    const url = await freshPgDatabase();
    const store = await openStore(url, { poolSize: 2 });
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      const [m1, m2, m3] = [await store.reserveIds('mt', 1), await store.reserveIds('mt', 1), await store.reserveIds('mt', 1)];
      const expires = Date.now() + 60_000;
      const insertKey = (key: string, mtId: number) =>
        other.query(
          'INSERT INTO idempotency_keys (account_id, idem_key, request_hash, mt_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
          ['acme', key, 'h-other', mtId, expires, Date.now()],
        );
      const claim = (key: string, mtId: number) => ({ accountId: 'acme', key, requestHash: 'h-mine', mtId, expiresAt: expires });

      // Another node holds the key in an open transaction: our write must wait for its outcome, not guess.
      await other.query('BEGIN');
      await insertKey('k-commit', m1);
      let settled = false;
      const pending = store.write([{ idempotency: claim('k-commit', m2), mts: [mtOf(m2, [])] }]).finally(() => (settled = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false);
      await other.query('COMMIT');
      expect(await pending).toEqual([{ applied: false, existing: { mtId: m1, requestHash: 'h-other' } }]);
      expect(await store.getMt(m2)).toBeUndefined();

      // If the other node rolls back, the key is ours.
      await other.query('BEGIN');
      await insertKey('k-rollback', m1);
      const ours = store.write([{ idempotency: claim('k-rollback', m3), mts: [mtOf(m3, [])] }]);
      await new Promise((r) => setTimeout(r, 200));
      await other.query('ROLLBACK');
      expect(await ours).toEqual([{ applied: true }]);
      expect(await store.getIdempotencyKey('acme', 'k-rollback', Date.now())).toEqual({ mtId: m3, requestHash: 'h-mine' });
    } finally {
      await other.end();
      await store.close();
    }
  });
});
