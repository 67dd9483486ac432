/**
 * Retention on every backend: messages past it go with their events, jobs and parts; messages with a job still to
 * run or a recent change stay; blobs go a day later unless a kept message, a later message or a cached URL still
 * names them.
 */
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.ts';
import type { SqlStore } from '../../src/store/sql-store.ts';
import { blobOf, moOf, mtOf, partOf, storeBackends } from './fixtures.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const RETENTION = 30 * DAY;
const T0 = 1_800_000_000_000;

const backends = storeBackends('mmsgate-retention');

describe.each(backends)('Retention on %s', (backend, newUrl) => {
  const opened: SqlStore[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  /** A store whose write() clock is `clock.now`; a second one reads blobs past the first one's byte cache. */
  async function stores(): Promise<{ store: SqlStore; fresh: () => Promise<SqlStore>; clock: { now: number } }> {
    const url = await newUrl();
    const clock = { now: T0 };
    const store = await openStore(url, { clock: () => clock.now });
    opened.push(store);
    return {
      store,
      clock,
      fresh: async () => {
        const s = await openStore(url);
        opened.push(s);
        return s;
      },
    };
  }

  const text = (s: string) => blobOf(Buffer.from(s, 'utf8'));

  it('writes no event for a message deleted since it was read (a report ignored, an MO resend), nor one left behind', async () => {
    const { store, clock } = await stores();
    const mtId = await store.reserveIds('mt', 2);
    const moId = await store.reserveIds('mo', 1);
    const young = mtId + 1;
    await store.write([
      { mts: [mtOf(mtId, [], { createdAt: T0, updatedAt: T0, state: 'delivered' })] },
      { mts: [mtOf(young, [], { createdAt: T0 + RETENTION, updatedAt: T0 + RETENTION })] },
      { mos: [{ ...moOf(moId, []), receivedAt: T0 }] },
    ]);
    clock.now = T0 + RETENTION + HOUR;
    expect((await store.purgeExpired(clock.now, RETENTION)).retired).toMatchObject({ mtMessages: 1, moMessages: 1 });
    // The inbound sink found these messages just before the retention deleted them; its events come after.
    const ev = (type: string) => ({ at: clock.now, type, node: 'n1', detail: {} });
    const late = [
      { events: [{ mtId, ...ev('report-ignored') }] },
      { events: [{ moId, ...ev('resend-ignored') }] },
      { events: [{ mtId: young, ...ev('read-reply') }] },
    ];
    expect(await store.write(late)).toEqual([{ applied: true }, { applied: true }, { applied: true }]);
    expect(await store.getEvents({ mtId })).toEqual([]);
    expect(await store.getEvents({ moId })).toEqual([]);
    // A message still there gets its event, in a batch with an accepted message (events that need no check).
    const next = await store.reserveIds('mt', 1);
    await store.write([{ mts: [mtOf(next, [])], events: [{ mtId: next, ...ev('accepted') }] }, { events: [{ mtId: young, ...ev('read-reply') }] }]);
    expect((await store.getEvents({ mtId: young })).map((e) => e.type)).toEqual(['read-reply', 'read-reply']);
    expect((await store.getEvents({ mtId: next })).map((e) => e.type)).toEqual(['accepted']);
  });

  it('deletes old messages with their events, jobs and parts, keeping young ones, recently changed ones and ones with a job to run', async () => {
    const { store, clock } = await stores();
    const id = await store.reserveIds('mt', 4);
    const [gone, pending, changed, young] = [id, id + 1, id + 2, id + 3];
    const moId = await store.reserveIds('mo', 1);
    const [a, e] = [text('old and done'), text('an old MO')];
    const old = { createdAt: T0, updatedAt: T0, state: 'delivered' as const };
    await store.write([
      {
        blobs: [a],
        mts: [mtOf(gone, [partOf(a, 'text/plain', 'a')], old)],
        events: [{ mtId: gone, at: T0, type: 'accepted', node: 'n1', detail: {} }],
        jobs: [{ kind: 'submit', refId: gone, runAt: T0 }],
      },
      { mts: [mtOf(pending, [], old)], jobs: [{ kind: 'report', refId: pending, runAt: T0 + 40 * DAY }] },
      { mts: [mtOf(changed, [], { ...old, updatedAt: T0 + RETENTION })] },
      { mts: [mtOf(young, [], { createdAt: T0 + 20 * DAY, updatedAt: T0 + 20 * DAY })] },
      { blobs: [e], mos: [{ ...moOf(moId, [partOf(e, 'image/png', 'e')]), receivedAt: T0 }], jobs: [{ kind: 'mo', refId: moId, runAt: T0 }] },
    ]);
    // The old message's submit job and the MO's job ran: done, not still to run.
    const claimed = await store.claimJobs({ kinds: ['submit', 'mo'], owner: 'w', leaseMs: 60_000, limit: 10, now: T0 });
    expect(claimed.map((j) => j.refId).sort()).toEqual([gone, moId].sort());
    await store.write(claimed.map((j) => ({ job: { jobId: j.id, owner: 'w', outcome: 'done' as const } })));

    clock.now = T0 + RETENTION + HOUR;
    const counts = await store.purgeExpired(clock.now, RETENTION);
    expect(counts.retired).toMatchObject({ mtMessages: 1, moMessages: 1 });
    expect(await store.getMt(gone)).toBeUndefined();
    expect(await store.getEvents({ mtId: gone })).toEqual([]);
    expect(await store.listJobs({ refId: gone })).toEqual([]);
    expect(await store.getMo(moId)).toBeUndefined();
    for (const kept of [pending, changed, young]) expect((await store.getMt(kept))?.mtId).toBe(kept);
    expect(await store.listJobs({ refId: pending })).toHaveLength(1);
    // Nothing more to do at the same time.
    expect((await store.purgeExpired(clock.now, RETENTION)).retired).toMatchObject({ mtMessages: 0, moMessages: 0 });
    // Without a retention nothing of the kind is looked at.
    expect((await store.purgeExpired(T0 + 100 * DAY)).retired).toBeUndefined();
    expect((await store.getMt(young))?.mtId).toBe(young);
  });

  it('deletes a blob only once no message left can name it, a day after the first one went', async () => {
    const { store, clock, fresh } = await stores();
    const id = await store.reserveIds('mt', 2);
    const [a, shared] = [text('only in the old message'), text('in both messages')];
    await store.write([{ blobs: [a, shared], mts: [mtOf(id, [partOf(a, 'text/plain', 'a'), partOf(shared, 'text/plain', 's')], { createdAt: T0, updatedAt: T0 })] }]);
    // An hour later a message brings the shared blob again (within the window the store leaves it out of the write);
    // that message is still changing much later (say its report is retried), so it outlives the first by far.
    clock.now = T0 + HOUR - 1;
    const late = T0 + 40 * DAY;
    await store.write([{ blobs: [shared], mts: [mtOf(id + 1, [partOf(shared, 'text/plain', 's')], { createdAt: clock.now, updatedAt: late })] }]);

    // The first message is past the retention: it goes, its blobs stay for the grace day.
    const afterFirst = T0 + RETENTION + HOUR / 2;
    expect((await store.purgeExpired(afterFirst, RETENTION)).retired).toMatchObject({ mtMessages: 1, blobs: 0 });
    expect((await (await fresh()).getBlob(a.sha256))?.toString()).toBe('only in the old message');

    // A day later the first message's own blob goes; the shared one stays, the second message still names it.
    expect((await store.purgeExpired(afterFirst + DAY + 2 * HOUR, RETENTION)).retired).toMatchObject({ mtMessages: 0, blobs: 1 });
    const reader = await fresh();
    expect(await reader.getBlob(a.sha256)).toBeUndefined();
    expect((await reader.getBlob(shared.sha256))?.toString()).toBe('in both messages');
    expect((await reader.getMt(id + 1))?.parts[0]?.sha256).toBe(shared.sha256);

    // Once the second message is past the retention too, it goes, and its blob with it.
    expect((await store.purgeExpired(late + RETENTION + 1, RETENTION)).retired).toMatchObject({ mtMessages: 1, blobs: 1 });
    expect(await (await fresh()).getBlob(shared.sha256)).toBeUndefined();
  });

  it('keeps a blob that a message long after the first brings again', async () => {
    const { store, clock, fresh } = await stores();
    const id = await store.reserveIds('mt', 2);
    const logo = text('a campaign logo');
    await store.write([{ blobs: [logo], mts: [mtOf(id, [partOf(logo, 'image/png', 'l')], { createdAt: T0, updatedAt: T0 })] }]);
    // Ten days later the same content again (the store knew it, but not recently: the write refreshes the blob).
    clock.now = T0 + 10 * DAY;
    await store.write([{ blobs: [logo], mts: [mtOf(id + 1, [partOf(logo, 'image/png', 'l')], { createdAt: clock.now, updatedAt: clock.now })] }]);
    const counts = await store.purgeExpired(T0 + RETENTION + 2 * DAY, RETENTION);
    expect(counts.retired).toMatchObject({ mtMessages: 1, blobs: 0 });
    expect((await (await fresh()).getBlob(logo.sha256))?.toString()).toBe('a campaign logo');
  });

  it('keeps the blobs of a kept old message and of a cached URL, and drops stale cache rows', async () => {
    const { store, fresh } = await stores();
    const id = await store.reserveIds('mt', 1);
    const [kept, cached, stale] = [text('part of a message with a report to retry'), text('fetched remote content'), text('stale remote content')];
    await store.write([
      { blobs: [kept], mts: [mtOf(id, [partOf(kept, 'text/plain', 'k')], { createdAt: T0, updatedAt: T0 })], jobs: [{ kind: 'report', refId: id, runAt: T0 }] },
      { blobs: [cached, stale] },
    ]);
    const urlRow = (url: string, sha256: string, freshUntil: number) => ({
      url, sha256, contentType: 'image/png', size: 1, etag: null, lastModified: null, freshUntil, fetchedAt: T0,
    });
    await store.putCachedUrl(urlRow('https://cdn.example.com/fresh.png', cached.sha256, T0 + 100 * DAY));
    await store.putCachedUrl(urlRow('https://cdn.example.com/stale.png', stale.sha256, T0 + HOUR));

    const counts = await store.purgeExpired(T0 + RETENTION + 2 * DAY, RETENTION);
    expect(counts.retired).toMatchObject({ mtMessages: 0, cachedUrls: 1, blobs: 1 });
    const reader = await fresh();
    expect((await reader.getBlob(kept.sha256))?.toString()).toBe('part of a message with a report to retry');
    expect((await reader.getBlob(cached.sha256))?.toString()).toBe('fetched remote content');
    expect(await reader.getBlob(stale.sha256)).toBeUndefined();
    expect(await reader.getCachedUrl('https://cdn.example.com/stale.png')).toBeUndefined();
    expect((await reader.getCachedUrl('https://cdn.example.com/fresh.png'))?.sha256).toBe(cached.sha256);
  });

  it('works off more old messages than one page, oldest first', async () => {
    const { store } = await stores();
    const n = 2500;
    const id = await store.reserveIds('mt', n + 1);
    const units = Array.from({ length: n }, (_, i) => ({
      mts: [mtOf(id + i, [], { createdAt: T0 + i, updatedAt: T0 + i })],
      events: [{ mtId: id + i, at: T0 + i, type: 'accepted', node: 'n1', detail: {} }],
    }));
    for (let i = 0; i < n; i += 500) await store.write(units.slice(i, i + 500));
    await store.write([{ mts: [mtOf(id + n, [], { createdAt: T0 + 40 * DAY, updatedAt: T0 + 40 * DAY })] }]);
    // Cutoff between message 1,999 and 2,000: exactly the first 2,000 go.
    const counts = await store.purgeExpired(T0 + RETENTION + 2000, RETENTION);
    expect(counts.retired?.mtMessages).toBe(2000);
    expect(await store.getMt(id + 1999)).toBeUndefined();
    expect((await store.getMt(id + 2000))?.mtId).toBe(id + 2000);
    expect(await store.getEvents({ mtId: id + 2000 })).toHaveLength(1);
    expect((await store.getMt(id + n))?.mtId).toBe(id + n);
  });

  it('finds old messages by their creation time, not their ids (a block of ids used long after it was reserved)', async () => {
    const { store, clock, fresh } = await stores();
    const low = await store.reserveIds('mt', 1000);
    const old = await store.reserveIds('mt', 1);
    const b = text('content of an old message with a report still being retried');
    await store.write([
      { blobs: [b], mts: [mtOf(old, [partOf(b, 'image/png', 'p')], { createdAt: T0, updatedAt: T0 })], jobs: [{ kind: 'report', refId: old, runAt: T0 + 40 * DAY }] },
    ]);
    // A node that sat on the lower block writes 1,000 young messages with it much later.
    clock.now = T0 + 20 * DAY;
    for (let i = 0; i < 1000; i += 500) {
      await store.write(Array.from({ length: 500 }, (_, k) => ({ mts: [mtOf(low + i + k, [], { createdAt: clock.now, updatedAt: clock.now })] })));
    }
    const counts = await store.purgeExpired(T0 + RETENTION + 2 * DAY, RETENTION);
    expect(counts.retired).toMatchObject({ mtMessages: 0, blobs: 0 });
    const reader = await fresh();
    expect((await reader.getMt(old))?.parts[0]?.sha256).toBe(b.sha256);
    expect((await reader.getBlob(b.sha256))?.toString()).toBe('content of an old message with a report still being retried');
  });

  it('keeps an old MO with its delivery still being retried, and its content', async () => {
    const { store, fresh } = await stores();
    const moId = await store.reserveIds('mo', 1);
    const pic = text('a picture a customer has not taken yet');
    await store.write([{ blobs: [pic], mos: [{ ...moOf(moId, [partOf(pic, 'image/jpeg', 'pic')]), receivedAt: T0 }], jobs: [{ kind: 'mo', refId: moId, runAt: T0 + 40 * DAY }] }]);
    const counts = await store.purgeExpired(T0 + RETENTION + 2 * DAY, RETENTION);
    expect(counts.retired).toMatchObject({ moMessages: 0, blobs: 0 });
    const reader = await fresh();
    expect((await reader.getMo(moId))?.parts[0]?.sha256).toBe(pic.sha256);
    expect((await reader.getBlob(pic.sha256))?.toString()).toBe('a picture a customer has not taken yet');
  });

  it('keeps a message whose dead job was replayed, with the job', async () => {
    const { store } = await stores();
    const id = await store.reserveIds('mt', 1);
    await store.write([{ mts: [mtOf(id, [], { createdAt: T0, updatedAt: T0 })], jobs: [{ kind: 'report', refId: id, runAt: T0 }] }]);
    const [job] = await store.claimJobs({ kinds: ['report'], owner: 'w', leaseMs: 60_000, limit: 1, now: T0 });
    await store.write([{ job: { jobId: job!.id, owner: 'w', outcome: 'dead', error: 'endpoint down' } }]);
    // Weeks later an operator replays it, just before the purge would have taken the message.
    const now = T0 + RETENTION + HOUR;
    expect(await store.replayJob(job!.id, now - 1)).toBe(true);
    expect((await store.purgeExpired(now, RETENTION)).retired?.mtMessages).toBe(0);
    expect(await store.listJobs({ refId: id })).toMatchObject([{ id: job!.id, state: 'ready' }]);
  });

  it('lets two nodes purge at once: every old message deleted once, nothing else', async () => {
    const { store, fresh } = await stores();
    const other = await fresh();
    const n = 3000;
    const id = await store.reserveIds('mt', n + 1);
    for (let i = 0; i < n; i += 500) {
      await store.write(Array.from({ length: 500 }, (_, k) => ({
        mts: [mtOf(id + i + k, [], { createdAt: T0 + i + k, updatedAt: T0 + i + k })],
        events: [{ mtId: id + i + k, at: T0, type: 'accepted', node: 'n1', detail: {} }],
      })));
    }
    await store.write([{ mts: [mtOf(id + n, [], { createdAt: T0 + 40 * DAY, updatedAt: T0 + 40 * DAY })] }]);
    const now = T0 + RETENTION + DAY;
    const [a, b] = await Promise.all([store.purgeExpired(now, RETENTION), other.purgeExpired(now, RETENTION)]);
    // A message both saw is deleted by one of them; the other counts it as gone meanwhile, never twice.
    expect(a.retired!.mtMessages + b.retired!.mtMessages).toBe(n);
    expect(await store.getMt(id + n - 1)).toBeUndefined();
    expect(await store.getEvents({ mtId: id + n - 1 })).toEqual([]);
    expect((await store.getMt(id + n))?.mtId).toBe(id + n);
  });

  it.runIf(backend === 'sqlite')('deletes on the writer thread: waiting for the write lock does not hold the event loop', async () => {
    const url = await newUrl();
    const store = await openStore(url, { clock: () => T0 });
    opened.push(store);
    const id = await store.reserveIds('mt', 1);
    await store.write([{ mts: [mtOf(id, [], { createdAt: T0, updatedAt: T0 })] }]);
    // Another connection holds the write lock for 600 ms (a checkpoint, a backup, another process).
    const other = new BetterSqlite3(url.slice('sqlite:'.length));
    other.exec('BEGIN IMMEDIATE');
    const release = setTimeout(() => other.exec('COMMIT'), 600);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    try {
      const counts = await store.purgeExpired(T0 + RETENTION + HOUR, RETENTION);
      expect(counts.retired?.mtMessages).toBe(1);
      // The loop kept turning while the purge waited (on the main connection it would have slept in SQLite's busy handler).
      expect(ticks).toBeGreaterThan(20);
    } finally {
      clearInterval(ticker);
      clearTimeout(release);
      if (other.inTransaction) other.exec('COMMIT');
      other.close();
    }
  });
});
