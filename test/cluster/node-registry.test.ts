/**
 * Heartbeats through a real store: nodes see each other, a stopped node drops out at the next round, and a store
 * outage keeps the last count.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { countLive, PROBE_GAP_MS, startHeartbeat, type Heartbeat } from '../../src/cluster/node-registry.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { SqlStore } from '../../src/store/sql-store.ts';
import { freshPgDatabase } from '../support/postgres.ts';

const opened: { store?: SqlStore; beats: Heartbeat[] } = { beats: [] };
afterEach(async () => {
  await Promise.all(opened.beats.splice(0).map((b) => b.stop()));
  await opened.store?.close();
  opened.store = undefined;
});

describe('countLive', () => {
  it('counts distinct recent nodes and always this one', () => {
    const rows = [
      { id: 'a', heartbeatAt: 100 },
      { id: 'b', heartbeatAt: 50 },
      { id: 'c', heartbeatAt: 120 },
    ];
    expect(countLive(rows, 'a', 90)).toBe(2);
    expect(countLive(rows, 'z', 90)).toBe(3);
    expect(countLive([], 'z', 0)).toBe(1);
  });
});

describe('startHeartbeat', () => {
  it('lets nodes on one PostgreSQL database count each other, and rebalances when one leaves', async () => {
    const url = await freshPgDatabase();
    const store = (opened.store = await openStore(url, { poolSize: 3 }));
    const start = (id: string, dc: string) => {
      const hb = startHeartbeat(store, { id, dataCenter: dc, url: null }, { intervalMs: 100 });
      opened.beats.push(hb);
      return hb;
    };
    const a = start('mmsc-01', 'fra');
    await a.ready;
    const b = start('mmsc-02', 'fra');
    const c = start('mmsc-03', 'ams');
    await expect.poll(() => [a, b, c].map((h) => h.liveNodes()), { timeout: 5000 }).toEqual([3, 3, 3]);
    expect((await store.listNodes(0)).map((n) => [n.id, n.dataCenter])).toEqual([
      ['mmsc-01', 'fra'],
      ['mmsc-02', 'fra'],
      ['mmsc-03', 'ams'],
    ]);
    await c.stop();
    await expect.poll(() => [a.liveNodes(), b.liveNodes()], { timeout: 5000 }).toEqual([2, 2]);
  });

  it('keeps the last count while the store fails, and never counts below itself', async () => {
    let fail = false;
    const others = [{ id: 'x', dataCenter: 'dc1', url: null, startedAt: 0, heartbeatAt: Number.MAX_SAFE_INTEGER }];
    const logs: string[] = [];
    const fake = {
      async heartbeat() {
        if (fail) throw new Error('connection refused');
      },
      async listNodes() {
        if (fail) throw new Error('connection refused');
        return others;
      },
    };
    const hb = startHeartbeat(fake, { id: 'me', dataCenter: 'dc1', url: null }, { intervalMs: 50, log: (m) => logs.push(m) });
    opened.beats.push(hb);
    await hb.ready;
    expect(hb.liveNodes()).toBe(2);
    fail = true;
    await expect.poll(() => logs.includes('node heartbeat failed')).toBe(true);
    expect(hb.liveNodes()).toBe(2);
    fail = false;
    await expect.poll(() => logs.includes('node heartbeat recovered')).toBe(true);
  });

  it('probes at once when asked after a failed write elsewhere, at most once per PROBE_GAP_MS, and not after stop', async () => {
    let fail = false;
    let beats = 0;
    let clock = 1_000_000;
    const fake = {
      async heartbeat() {
        beats++;
        if (fail) throw new Error('database or disk is full');
      },
      async listNodes() {
        return [];
      },
    };
    // An interval far longer than the test: only probeSoon can run a second round.
    const hb = startHeartbeat(fake, { id: 'me', dataCenter: 'dc1', url: null }, { intervalMs: 600_000, now: () => clock });
    opened.beats.push(hb);
    await hb.ready;
    expect([beats, hb.writeFailure()]).toEqual([1, undefined]);

    fail = true;
    hb.probeSoon(); // too soon after the first round: nothing
    expect(beats).toBe(1);
    clock += PROBE_GAP_MS;
    hb.probeSoon();
    hb.probeSoon(); // a round is running: nothing more
    await expect.poll(() => hb.writeFailure()).toBe('database or disk is full');
    expect(beats).toBe(2);

    fail = false;
    clock += PROBE_GAP_MS;
    hb.probeSoon();
    await expect.poll(() => hb.writeFailure()).toBeUndefined();
    expect(beats).toBe(3);

    await hb.stop(); // its departure is one more write
    const afterStop = beats;
    clock += PROBE_GAP_MS;
    hb.probeSoon();
    expect(beats).toBe(afterStop);
  });
});

