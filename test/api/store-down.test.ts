import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_GAP_MS } from '../../src/cluster/node-registry.ts';
import { eventually, send, simpleMt, startTestGateway, type TestGateway } from '../support/gateway.ts';

describe('store refusing writes while it still reads', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ node: { id: 'test-node', heartbeatInterval: '1s' } });
  });
  afterAll(async () => {
    await gw.stop().catch(() => undefined);
  });

  it('reports the node unavailable on /healthz from its next heartbeat write that fails, and available again after one succeeds', async () => {
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    // The heartbeat row refused as a full disk would refuse it; reads go on working.
    const db = new Database(join(gw.dir, 'mmsgate.db'));
    try {
      db.exec(`CREATE TRIGGER refuse_heartbeat BEFORE INSERT ON nodes BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
      db.exec(`CREATE TRIGGER refuse_heartbeat_update BEFORE UPDATE ON nodes BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
      const down = await eventually(async () => {
        const r = await fetch(`${gw.url}/healthz`);
        return r.status === 503 ? r.json() : undefined;
      }, 5000, '/healthz to report the refused writes');
      expect(down).toEqual({ status: 'unavailable', reason: 'store refuses writes', node: 'test-node', store: 'sqlite' });
      db.exec('DROP TRIGGER refuse_heartbeat; DROP TRIGGER refuse_heartbeat_update');
      await eventually(async () => ((await fetch(`${gw.url}/healthz`)).status === 200 ? true : undefined), 5000, '/healthz to recover');
    } finally {
      db.close();
    }
  });
});

describe('a send whose commit fails', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    // A heartbeat interval far longer than the test: only the failed commit can make the node probe its store now.
    gw = await startTestGateway({ node: { id: 'test-node', heartbeatInterval: '10m' } });
  });
  afterAll(async () => {
    await gw.stop().catch(() => undefined);
  });

  it('probes the store at once: /healthz reports refused writes in milliseconds, and stays 200 when only that unit failed', async () => {
    const db = new Database(join(gw.dir, 'mmsgate.db'));
    const heartbeatAt = () => (db.prepare(`SELECT heartbeat_at FROM nodes WHERE id = 'test-node'`).get() as { heartbeat_at: number }).heartbeat_at;
    const refuse = (table: string) => {
      db.exec(`CREATE TRIGGER refuse_${table} BEFORE INSERT ON ${table} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
      db.exec(`CREATE TRIGGER refuse_${table}_update BEFORE UPDATE ON ${table} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    };
    const sendFails = async () => {
      const r = await send(gw.url, simpleMt('15551230001'));
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body.toString()).code).toBe('STORE_UNAVAILABLE');
    };
    try {
      // Messages refused, the heartbeat row not: the probe's own write succeeds, so the node stays healthy.
      await new Promise((r) => setTimeout(r, PROBE_GAP_MS + 100)); // past the gap after the first round
      const before = heartbeatAt();
      refuse('mt_messages');
      await sendFails();
      await eventually(async () => (heartbeatAt() > before ? true : undefined), 3000, 'the probe round after the failed commit');
      expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);

      // Now every write refused: the next failed commit makes /healthz answer 503 without waiting 10 minutes.
      refuse('nodes');
      await new Promise((r) => setTimeout(r, PROBE_GAP_MS + 100));
      expect((await fetch(`${gw.url}/healthz`)).status).toBe(200); // nothing has tried to write since
      await sendFails();
      const down = await eventually(async () => {
        const r = await fetch(`${gw.url}/healthz`);
        return r.status === 503 ? r.json() : undefined;
      }, 3000, '/healthz to report the refused writes');
      expect(down).toEqual({ status: 'unavailable', reason: 'store refuses writes', node: 'test-node', store: 'sqlite' });
    } finally {
      db.close();
    }
  });
});

describe('store unavailable', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw.stop().catch(() => undefined);
  });

  it('reports the node unavailable on /healthz once its store can no longer make writes durable', async () => {
    const healthy = await fetch(`${gw.url}/healthz`);
    expect(healthy.status).toBe(200);
    const store = gw.gateway.store as { fatalError?: () => Error | undefined };
    const original = store.fatalError;
    store.fatalError = () => new Error('syncing the SQLite WAL failed: EIO'); // as after a failed fdatasync
    try {
      const r = await fetch(`${gw.url}/healthz`);
      expect(r.status).toBe(503);
      expect(await r.json()).toMatchObject({ status: 'unavailable' });
    } finally {
      store.fatalError = original;
    }
  });

  it('answers 503 STORE_UNAVAILABLE (retryable) instead of a 500 when the store cannot take the message', async () => {
    const ok = await send(gw.url, simpleMt('15551230001'));
    expect(ok.status).toBe(200);
    await gw.gateway.store.close();
    const r = await send(gw.url, simpleMt('15551230001'));
    expect(r.status).toBe(503);
    expect(r.json).toEqual({ code: 'STORE_UNAVAILABLE', description: expect.any(String) });
    expect(r.headers['x-request-id']).toBeTruthy();
  });

  it('logs a store failure once per window, not once per send (an outage would flood the log)', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const quiet = await startTestGateway({}, { start: { logger } });
    try {
      await quiet.gateway.store.close();
      for (let i = 0; i < 5; i++) expect((await send(quiet.url, simpleMt('15551230001'))).status).toBe(503);
      expect(lines.filter((l) => l.includes('store unavailable while accepting a message'))).toHaveLength(1);
    } finally {
      await quiet.stop().catch(() => undefined);
    }
  });
});
