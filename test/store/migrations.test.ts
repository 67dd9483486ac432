/**
 * Upgrading a database written by an earlier release: the data it holds reads back the same after the migrations that
 * change its shape, on every backend. And the other way round: this release refuses a database a newer one upgraded.
 */
import { Kysely, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, runMigrations } from '../../src/store/migrations.ts';
import { dialectForUrl, openStore } from '../../src/store/open-store.ts';
import type { Database } from '../../src/store/schema.ts';
import { storeBackends } from './fixtures.ts';

const T0 = 1_800_000_000_000;

describe.each(storeBackends('mmsgate-migrations'))('migrations on %s', (_backend, newUrl) => {
  it('moves the parts of existing MTs into their message rows (migration 4), in order, absent fields left absent', async () => {
    const url = await newUrl();
    // The schema as release 3 left it, with two MTs written the way it wrote them: one with parts, one without.
    const dialect = dialectForUrl(url);
    const db = new Kysely<Database>({ dialect: dialect.kysely });
    try {
      await runMigrations(db, dialect, MIGRATIONS.filter((m) => m.version <= 3));
      for (const id of [1, 2]) {
        await sql`INSERT INTO mt_messages (mt_id, account_id, request_id, source, destination, mt_config, subject,
          operator_id, state, state_rank, created_at, updated_at)
          VALUES (${id}, 'acme', ${`r${id}`}, '88600', '15551230001', 'default', NULL, 77, 'accepted', 0, ${T0}, ${T0})`.execute(db);
      }
      // Inserted out of order: seq, not insertion order, is the customer's order.
      await sql`INSERT INTO mt_parts (msg_id, seq, content_type, content_id, sha256, size, remote_url) VALUES
        (1, 1, 'application/vnd.openmarket.remoteContent', 'remote1', NULL, 0, 'https://example.com/a.jpg'),
        (1, 0, 'text/plain; charset=utf-8', 'text1', ${'a'.repeat(64)}, 5, NULL)`.execute(db);
    } finally {
      await db.destroy();
    }

    const store = await openStore(url);
    try {
      expect((await store.getMt(1))?.parts).toEqual([
        { contentType: 'text/plain; charset=utf-8', contentId: 'text1', sha256: 'a'.repeat(64), size: 5 },
        { contentType: 'application/vnd.openmarket.remoteContent', contentId: 'remote1', size: 0, remoteUrl: 'https://example.com/a.jpg' },
      ]);
      const part = (await store.getMt(1))!.parts[1]!;
      expect(Object.keys(part)).not.toContain('sha256');
      expect((await store.getMt(2))?.parts).toEqual([]);
      expect([...(await store.getMts([1, 2])).keys()].sort()).toEqual([1, 2]);
    } finally {
      await store.close();
    }
  });

  it('gives blobs stored before retention a whole retention period from the upgrade (migration 7)', async () => {
    const url = await newUrl();
    const dialect = dialectForUrl(url);
    const db = new Kysely<Database>({ dialect: dialect.kysely });
    const sha = 'b'.repeat(64);
    try {
      await runMigrations(db, dialect, MIGRATIONS.filter((m) => m.version <= 6));
      await sql`INSERT INTO blobs (sha256, bytes, size) VALUES (${sha}, ${Buffer.from('kept')}, 4)`.execute(db);
    } finally {
      await db.destroy();
    }
    const before = Date.now();
    const store = await openStore(url);
    try {
      // Nothing names the blob, but it cannot be known to be unused yet: a sweep right after the upgrade keeps it...
      const day = 86_400_000;
      expect((await store.purgeExpired(before + 30 * day, 30 * day)).retired?.blobs).toBe(0);
      expect((await store.getBlob(sha))?.toString()).toBe('kept');
      // ...and one past the retention and the grace day after the upgrade deletes it.
      expect((await store.purgeExpired(Date.now() + 32 * day, 30 * day)).retired?.blobs).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('keeps the queue of an older database claimable, with no job held back (migration 8)', async () => {
    const url = await newUrl();
    const dialect = dialectForUrl(url);
    const db = new Kysely<Database>({ dialect: dialect.kysely });
    try {
      await runMigrations(db, dialect, MIGRATIONS.filter((m) => m.version <= 7));
      // A job due and one whose lease ran out, as release 7 wrote them.
      await sql`INSERT INTO jobs (kind, ref_id, order_key, payload, state, run_at, attempts, first_attempt_at, lease_owner,
          lease_expires_at, last_error, created_at, updated_at) VALUES
        ('submit', 1, NULL, '{}', 'ready', ${T0}, 0, NULL, NULL, NULL, NULL, ${T0}, ${T0}),
        ('submit', 2, NULL, '{}', 'ready', ${T0 + 100}, 1, ${T0}, 'gone/submit', ${T0 + 100}, NULL, ${T0}, ${T0})`.execute(db);
    } finally {
      await db.destroy();
    }
    const store = await openStore(url);
    try {
      expect(await store.nextRunAt(['submit'], 'gone/submit')).toBe(T0);
      const claimed = await store.claimJobs({ kinds: ['submit'], owner: 'gone/submit', leaseMs: 1000, limit: 5, now: T0 + 101 });
      expect(claimed.map((j) => [j.refId, j.passedOn])).toEqual([[1, undefined], [2, undefined]]);
    } finally {
      await store.close();
    }
  });

  it('refuses to open a database that a newer release has upgraded, and changes nothing in it', async () => {
    const url = await newUrl();
    const first = await openStore(url);
    await first.close();
    const known = Math.max(...MIGRATIONS.map((m) => m.version));
    const newer = known + 1;
    const dialect = dialectForUrl(url);
    const db = new Kysely<Database>({ dialect: dialect.kysely });
    try {
      // What the next release's first start leaves behind (release 4, for instance, dropped a table older code used).
      await sql`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${newer}, 'from-a-newer-release', ${T0})`.execute(db);
    } finally {
      await db.destroy();
    }

    await expect(openStore(url)).rejects.toThrow(`schema is version ${newer}, newer than this mmsgate knows (${known})`);

    const check = new Kysely<Database>({ dialect: dialectForUrl(url).kysely });
    try {
      const rows = await check.selectFrom('schema_migrations').select('version').orderBy('version').execute();
      expect(rows.map((r) => Number(r.version))).toEqual([...MIGRATIONS.map((m) => m.version), newer]);
    } finally {
      await check.destroy();
    }
  });
});
