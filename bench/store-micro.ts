/**
 * Micro-benchmark of the store's accept write alone (no HTTP): batches of accept units as the send route builds them,
 * written through Store.write on SQLite, reporting microseconds per message and WAL bytes per commit.
 *   npx tsx bench/store-micro.ts [batch] [batches] [distinctBlobs]
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/store/open-store.ts';
import type { WriteUnit } from '../src/store/store.ts';

const batch = Number(process.argv[2] ?? 33);
const batches = Number(process.argv[3] ?? 1500);
const distinct = Number(process.argv[4] ?? 512);
const dir = mkdtempSync(join(tmpdir(), 'store-micro-'));
const store = await openStore(`sqlite:${join(dir, 'm.db')}`);
const bodies = Array.from({ length: distinct }, () => randomBytes(1900));
let mtId = 1000;
function unit(i: number): WriteUnit {
  const body = bodies[i % distinct]!;
  const sha256 = createHash('sha256').update(body).digest('hex');
  const id = ++mtId;
  const now = Date.now();
  const parts = [{ contentType: 'text/plain; charset=utf-8', contentId: 'text1', sha256, size: body.length }];
  return {
    blobs: [{ sha256, bytes: body }],
    mts: [{ mtId: id, accountId: 'bench', requestId: 'abcdefghijklmnopqrstuv', source: '88600', destination: '15551230001', mtConfig: 'default', subject: 'Benchmark message', operatorId: 77, state: 'accepted', status: null, outcomeId: null, outcomeDescription: null, userAgent: null, operatorMessageId: null, createdAt: now, updatedAt: now, parts }],
    events: [{ mtId: id, at: now, type: 'accepted', node: 'bench-1', detail: { requestId: 'abcdefghijklmnopqrstuv', parts: 1, operatorId: 77, bytes: body.length } }],
    jobs: [{ kind: 'submit', refId: id }],
  } as WriteUnit;
}
let n = 0;
// warm-up
for (let b = 0; b < 200; b++) await store.write(Array.from({ length: batch }, () => unit(n++)));
const wal = () => { try { return statSync(join(dir, 'm.db-wal')).size; } catch { return 0; } };
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let walBytes = 0;
for (let b = 0; b < batches; b++) {
  const before = wal();
  await store.write(Array.from({ length: batch }, () => unit(n++)));
  const after = wal();
  if (after > before) walBytes += after - before;
}
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const msgs = batch * batches;
console.log(`batch ${batch}: ${((ms * 1000) / msgs).toFixed(1)} us/msg wall, ${((cpu.user + cpu.system) / msgs).toFixed(1)} us/msg cpu (sys ${(cpu.system / msgs).toFixed(1)}), ${(ms / batches).toFixed(3)} ms/commit, ~${Math.round(walBytes / batches / 4120)} WAL frames/commit (growth only)`);
await store.close();
rmSync(dir, { recursive: true, force: true });
