/**
 * PostgreSQL job notifications go out after the commit, one at a time per node, kinds announced meanwhile merged into
 * the next (postgres-dialect.ts: a NOTIFY inside a write transaction would hold a database-wide lock until its commit
 * is flushed, serialising every node's commits).
 */
import { describe, expect, it } from 'vitest';
import { JobAnnouncer } from '../../src/store/postgres-dialect.ts';

describe('JobAnnouncer', () => {
  it('keeps one notification in flight and merges what is announced meanwhile into the next', async () => {
    const sent: string[][] = [];
    let release!: () => void;
    const announcer = new JobAnnouncer(async (kinds) => {
      sent.push(kinds);
      if (sent.length === 1) await new Promise<void>((r) => (release = r)); // the first one is slow
    }, () => {});
    announcer.announce(['submit']);
    announcer.announce(['report']);
    announcer.announce(['mo', 'report']);
    expect(sent).toEqual([['submit']]);
    release();
    await announcer.flush();
    expect(sent).toEqual([['submit'], ['mo', 'report']]);
  });

  it('logs a failed notification and goes on with the next', async () => {
    const logged: string[] = [];
    const sent: string[][] = [];
    const announcer = new JobAnnouncer(async (kinds) => {
      sent.push(kinds);
      if (sent.length === 1) throw new Error('connection reset');
    }, (msg, extra) => logged.push(`${msg}: ${(extra as { error: string }).error}`));
    announcer.announce(['submit']);
    await announcer.flush();
    announcer.announce(['report']);
    await announcer.flush();
    expect(sent).toEqual([['submit'], ['report']]);
    expect(logged).toEqual(['job notification failed: connection reset']);
  });

  it('ignores an empty announcement and still sends the next one', async () => {
    const sent: string[][] = [];
    const announcer = new JobAnnouncer(async (kinds) => void sent.push(kinds), () => {});
    announcer.announce([]);
    announcer.announce(['mo']);
    await announcer.flush();
    expect(sent).toEqual([['mo']]);
  });
});
