/**
 * Soak run of one node: looks for leaks (RSS, heap, file descriptors, WAL) and lost or duplicated deliveries.
 *
 *   npx tsx bench/soak.ts [--minutes 20] [--rate 150] [--port 18480] [--dir /tmp/mmsgate-soak] [--keep]
 *                         [--sample-seconds 30] [--drain-minutes 10]
 *
 * The gateway listens on --port, the receiver on the next port, the content origin on the one after; --dir is wiped
 * first. Results: docs/soak.md.
 *
 * Starts `node bin/mmsgate.js serve` on SQLite with a simulator operator, one account whose reportUrl and moUrl point
 * at a local receiver, and a local origin for remote content. For the given time it sends a mix of MTs (text, inline
 * JPEG/PNG/GIF, remote content, Idempotency-Key repeats, invalid requests, simulator test numbers) at a steady rate
 * and injects MOs through the sandbox, while the receiver flaps (answers 500, then hangs past the webhook timeout,
 * each for a minute, then 200 again). Every 30 s it samples the gateway's RSS, heap, open descriptors, event-loop lag,
 * the queue and the database/WAL sizes. Then it stops sending, waits for the queue to drain and checks that every
 * accepted mtId got exactly one final report (duplicates counted), every MO one delivery, nothing is left non-final,
 * and the log has no error lines. Writes the series and the verdict to <dir>/summary.json. Exit 1 on a failed check.
 * Loopback only; a few hundred messages per second at most is plenty (the gateway shares the machine with this).
 */
import { spawn } from 'node:child_process';
import { createServer, request as httpRequest, Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdirSync, rmSync, statSync, readdirSync, readFileSync, writeFileSync, createWriteStream } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const MINUTES = Number(opt('minutes', '20'));
const RATE = Number(opt('rate', '150'));
const PORT = Number(opt('port', '18480'));
const RECV_PORT = PORT + 1;
const ORIGIN_PORT = PORT + 2;
const DIR = opt('dir', '/tmp/mmsgate-soak');
const SAMPLE_MS = Number(opt('sample-seconds', '30')) * 1000;
const DRAIN_MAX_MS = Number(opt('drain-minutes', '10')) * 60_000;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const AUTH = 'Basic ' + Buffer.from('soak:soak-pass').toString('base64');

rmSync(DIR, { recursive: true, force: true });
mkdirSync(DIR, { recursive: true });
const log = (...a: unknown[]): void => console.log(new Date().toISOString().slice(11, 19), ...a);

// ---------- configuration ----------
const config = `
listen: { host: 127.0.0.1, port: ${PORT} }
dataDir: ${DIR}/data
node: { id: soak-1 }
log: { level: info }
sandbox: { enabled: true }
metrics: { enabled: true }
accounts:
  - id: soak
    password: soak-pass
    mtConfigs:
      default: { reportUrl: "http://127.0.0.1:${RECV_PORT}/reports" }
    numbers:
      - { number: "88600", moUrl: "http://127.0.0.1:${RECV_PORT}/mo" }
operators:
  - id: 77
    type: simulator
    prefixes: ["1"]
    simulator: { deliveryDelay: 200ms, chaos: { submitTemporaryFailure: 0.01 } }
remoteContent: { allowPrivateAddresses: ["127.0.0.1"], timeout: 10s }
webhooks:
  timeout: 5s
  reports: { retrySchedule: ["1s", "5s", "15s", "30s", "1m"], maxAge: "2h" }
  mo: { retrySchedule: ["1s", "5s", "15s", "30s", "1m"], maxAge: "2h" }
submit: { retrySchedule: ["2s", "10s", "30s"], maxAge: "2h" }
`;
writeFileSync(join(DIR, 'mmsgate.yaml'), config);

// ---------- receiver (customer webhooks) that flaps ----------
type Mode = 'ok' | 'fail500' | 'hang';
let mode: Mode = 'ok';
const reports = new Map<number, { n: number; statuses: string[]; deliveryIds: Set<string> }>();
const mos = new Map<number, number>();
let reportPosts = 0, moPosts = 0, refused = 0, hung = 0;
const hanging = new Set<ServerResponse>();
const FINAL = new Set(['Retrieved', 'Rejected', 'Indeterminate', 'Expired', 'Forwarded', 'Deferred', 'Delivered', 'Unrecognised']);

const receiver = createServer((req: IncomingMessage, res: ServerResponse) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (mode === 'fail500') { refused++; res.writeHead(500).end('down'); return; }
    if (mode === 'hang') { hung++; hanging.add(res); res.on('close', () => hanging.delete(res)); return; }
    const body = Buffer.concat(chunks).toString('latin1');
    if (req.url === '/reports') {
      reportPosts++;
      const j = JSON.parse(body) as { mtId: number; status: string };
      const r = reports.get(j.mtId) ?? { n: 0, statuses: [], deliveryIds: new Set<string>() };
      r.n++; r.statuses.push(j.status); r.deliveryIds.add(String(req.headers['x-mmsgate-delivery-id']));
      reports.set(j.mtId, r);
    } else if (req.url === '/mo') {
      moPosts++;
      const m = /"moId"\s*:\s*(\d+)/.exec(body);
      if (m) mos.set(Number(m[1]), (mos.get(Number(m[1])) ?? 0) + 1);
    }
    res.writeHead(200).end();
  });
});

// ---------- origin for remote content ----------
let originHits = 0;
const images: Record<string, Buffer> = {};
const origin = createServer((req, res) => {
  originHits++;
  const m = /^\/img\/(\w+)\/(\d+)\.(jpg|png|gif)$/.exec(req.url ?? '');
  if (!m) { res.writeHead(404).end(); return; }
  const ext = m[3]!;
  const type = ext === 'jpg' ? 'image/jpeg' : `image/${ext}`;
  // "fresh" URLs are cacheable for 5 minutes, "nocache" ones must be fetched each time.
  res.writeHead(200, { 'content-type': type, 'cache-control': m[1] === 'nocache' ? 'no-store' : 'max-age=300' });
  res.end(images[ext]);
});

async function makeImages(): Promise<void> {
  const base = sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 40, g: 120, b: 200 } } });
  images.jpg = await base.clone().jpeg({ quality: 70 }).toBuffer();
  images.png = await base.clone().png().toBuffer();
  images.gif = await base.clone().gif().toBuffer();
  images.bigjpg = await sharp({ create: { width: 2400, height: 1800, channels: 3, background: { r: 200, g: 60, b: 20 } } })
    .jpeg({ quality: 60 }).toBuffer(); // over maxImageWidth: adapted
}

// ---------- sending ----------
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
function post(path: string, body: Buffer, headers: Record<string, string>): Promise<{ status: number; body: string; headers: IncomingMessage['headers'] }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: PORT, path, method: 'POST', agent, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      const c: Buffer[] = [];
      res.on('data', (d: Buffer) => c.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(c).toString(), headers: res.headers }));
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('client timeout')));
    req.end(body);
  });
}
const B = 'soakboundary';
function multipart(control: object, parts: Array<{ type: string; id: string; body: Buffer | string; b64?: boolean }>): Buffer {
  const out: Buffer[] = [Buffer.from(`--${B}\r\nContent-Type: application/json\r\nContent-Id: main\r\n\r\n${JSON.stringify(control)}\r\n`)];
  for (const p of parts) {
    const enc = p.b64 ? 'Content-Transfer-Encoding: base64\r\n' : '';
    const body = p.b64 ? Buffer.from(p.body).toString('base64') : p.body;
    out.push(Buffer.from(`--${B}\r\nContent-Type: ${p.type}\r\nContent-Id: ${p.id}\r\n${enc}\r\n`), Buffer.from(body), Buffer.from('\r\n'));
  }
  out.push(Buffer.from(`--${B}--\r\n`));
  return Buffer.concat(out);
}
const HDR = { authorization: AUTH, 'content-type': `multipart/mixed; boundary=${B}` };

interface Accepted { mtId: number; expect: 'final' | 'none'; kind: string }
const accepted = new Map<number, Accepted>();
const stats: Record<string, number> = {};
const bump = (k: string): void => { stats[k] = (stats[k] ?? 0) + 1; };
const idemKeys: Array<{ key: string; body: Buffer; mtId: number }> = [];
const moAccepted = new Set<number>();
let seq = 0;
let inFlight = 0;

function dest(n: number): string { return '1555123' + String(n % 10000).padStart(4, '0'); }

async function sendOne(): Promise<void> {
  const n = ++seq;
  const r = n % 100;
  let kind: string; let body: Buffer; const headers: Record<string, string> = { ...HDR };
  let expect: 'final' | 'none' | 'invalid' = 'final';
  let destination = dest(n);
  const ctl = (extra: object = {}) => ({ type: 'MT', source: '88600', destination, subject: `soak ${n}`, ...extra });
  if (r < 35) {
    kind = 'text';
    body = multipart(ctl(), [{ type: 'text/plain', id: 'text.txt', body: `hello ${n} ` + 'x'.repeat(n % 200) }]);
  } else if (r < 55) {
    const ext = (['jpg', 'png', 'gif', 'bigjpg'] as const)[n % 4]!;
    kind = `inline-${ext}`;
    const type = ext === 'png' ? 'image/png' : ext === 'gif' ? 'image/gif' : 'image/jpeg';
    body = multipart(ctl(), [{ type: 'text/plain', id: 't.txt', body: 'pic' }, { type, id: `img.${ext}`, body: images[ext]!, b64: true }]);
  } else if (r < 67) {
    kind = 'remote';
    const ext = (['jpg', 'png', 'gif'] as const)[n % 3]!;
    // a few hundred distinct cacheable URLs, and some that are never cached
    const url = n % 4 === 0 ? `http://127.0.0.1:${ORIGIN_PORT}/img/nocache/${n}.${ext}` : `http://127.0.0.1:${ORIGIN_PORT}/img/fresh/${n % 300}.${ext}`;
    body = multipart(ctl(), [{ type: 'application/vnd.openmarket.remoteContent', id: `r.${ext}`, body: url }]);
  } else if (r < 73) {
    kind = 'idem-first';
    const key = randomUUID();
    headers['idempotency-key'] = key;
    body = multipart(ctl(), [{ type: 'text/plain', id: 'text.txt', body: `idem ${n}` }]);
    const res = await post('/mms/v2/send', body, headers);
    bump(`${kind}:${res.status}`);
    if (res.status === 200) {
      const mtId = (JSON.parse(res.body) as { mtId: number }).mtId;
      accepted.set(mtId, { mtId, expect: 'final', kind });
      idemKeys.push({ key, body, mtId });
      // the repeat, now or later
      const again = idemKeys[Math.floor(Math.random() * idemKeys.length)]!;
      const res2 = await post('/mms/v2/send', again.body, { ...HDR, 'idempotency-key': again.key });
      const ok = res2.status === 200 && (JSON.parse(res2.body) as { mtId: number }).mtId === again.mtId && res2.headers['idempotent-replayed'] === 'true';
      bump(ok ? 'idem-repeat:ok' : `idem-repeat:BAD-${res2.status}`);
      if (idemKeys.length > 2000) idemKeys.shift();
    }
    return;
  } else if (r < 79) {
    kind = 'invalid'; expect = 'invalid';
    const v = n % 4;
    if (v === 0) body = Buffer.from(`--${B}\r\nContent-Type: application/json\r\nContent-Id: main\r\n\r\n{"source": 88600,\r\n--${B}--\r\n`);
    else if (v === 1) body = multipart(ctl({ mtConfig: 'nope' }), [{ type: 'text/plain', id: 't', body: 'x' }]);
    else if (v === 2) body = multipart(ctl({ source: '99999' }), [{ type: 'text/plain', id: 't', body: 'x' }]);
    else body = Buffer.from(`--${B}\r\nContent-Type: application/json\r\nContent-Id: main\r\n\r\n{"source":"88600","destination":"1555`); // truncated
  } else if (r < 82) {
    kind = 'test-rejected'; destination = '15550100009';
    body = multipart(ctl(), [{ type: 'text/plain', id: 't.txt', body: 'rej' }]);
  } else if (r < 84) {
    kind = 'test-deferred'; destination = '15550100004';
    body = multipart(ctl(), [{ type: 'text/plain', id: 't.txt', body: 'def' }]);
  } else if (r < 85) {
    kind = 'test-noreport'; destination = '15550199000'; expect = 'none';
    body = multipart(ctl(), [{ type: 'text/plain', id: 't.txt', body: 'nr' }]);
  } else if (r < 90) {
    kind = 'mo';
    const mo = multipart({ source: dest(n), destinations: ['88600'], subject: `mo ${n}` }, [{ type: 'text/plain', id: 'mo.txt', body: `MO ${n}` }]);
    const res = await post('/sandbox/mo', mo, { 'content-type': `multipart/mixed; boundary=${B}` });
    bump(`mo:${res.status}`);
    if (res.status === 200) moAccepted.add((JSON.parse(res.body) as { moId: number }).moId);
    return;
  } else {
    kind = 'text-b'; destination = dest(n * 7);
    body = multipart(ctl(), [{ type: 'text/plain', id: 'a.txt', body: 'one' }, { type: 'text/plain', id: 'b.txt', body: 'two' }]);
  }
  const res = await post('/mms/v2/send', body, headers);
  bump(`${kind}:${res.status}`);
  if (expect === 'invalid') { if (res.status === 200) bump('invalid:ACCEPTED?!'); return; }
  if (res.status === 200) {
    const mtId = (JSON.parse(res.body) as { mtId: number }).mtId;
    accepted.set(mtId, { mtId, expect, kind });
  }
}

// ---------- sampling ----------
const gatewayLog = join(DIR, 'gateway.log');
function metricsText(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: PORT, path: '/metrics', agent }, (res) => {
      const c: Buffer[] = []; res.on('data', (d: Buffer) => c.push(d)); res.on('end', () => resolve(Buffer.concat(c).toString()));
    });
    req.on('error', reject); req.end();
  });
}
function metric(text: string, name: string, labels = ''): number {
  let sum = 0; let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (labels && !rest.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1)); found = true;
  }
  return found ? sum : NaN;
}
const size = (p: string): number => { try { return statSync(p).size; } catch { return 0; } };
const series: Array<Record<string, number | string>> = [];
let gwPid = 0;
async function sample(phase: string): Promise<void> {
  const t = await metricsText().catch(() => '');
  const status = readFileSync(`/proc/${gwPid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const threads = Number(/Threads:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const fds = readdirSync(`/proc/${gwPid}/fd`).length;
  const db = join(DIR, 'data', 'mmsgate.db');
  const s = {
    t: Math.round((Date.now() - t0) / 1000), phase, mode,
    rssMB: +(rssKb / 1024).toFixed(1),
    heapUsedMB: +(metric(t, 'mmsgate_nodejs_heap_size_used_bytes') / 2 ** 20).toFixed(1),
    heapTotalMB: +(metric(t, 'mmsgate_nodejs_heap_size_total_bytes') / 2 ** 20).toFixed(1),
    externalMB: +(metric(t, 'mmsgate_nodejs_external_memory_bytes') / 2 ** 20).toFixed(1),
    fds, threads,
    lagP99ms: +(metric(t, 'mmsgate_nodejs_eventloop_lag_p99_seconds') * 1000).toFixed(1),
    dbMB: +(size(db) / 2 ** 20).toFixed(1), walMB: +(size(db + '-wal') / 2 ** 20).toFixed(1),
    due: metric(t, 'mmsgate_jobs', 'state="due"'), leased: metric(t, 'mmsgate_jobs', 'state="leased"'),
    scheduled: metric(t, 'mmsgate_jobs', 'state="scheduled"'), blocked: metric(t, 'mmsgate_jobs', 'state="blocked"'),
    dead: metric(t, 'mmsgate_jobs', 'state="dead"'),
    accepted: accepted.size, reportsSeen: reports.size, mos: moAccepted.size,
  };
  series.push(s);
  log(JSON.stringify(s));
}

// ---------- run ----------
const t0 = Date.now();
async function main(): Promise<void> {
  await makeImages();
  await new Promise<void>((r) => receiver.listen(RECV_PORT, '127.0.0.1', r));
  await new Promise<void>((r) => origin.listen(ORIGIN_PORT, '127.0.0.1', r));
  const out = createWriteStream(gatewayLog);
  const gw = spawn(process.execPath, [join(ROOT, 'bin/mmsgate.js'), 'serve', '--config', join(DIR, 'mmsgate.yaml')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  gw.stdout.pipe(out); gw.stderr.pipe(out);
  gwPid = gw.pid!;
  let exited = false;
  gw.on('exit', (code) => { exited = true; log('gateway exited', code); });
  for (let i = 0; ; i++) {
    try { const h = await fetch(`http://127.0.0.1:${PORT}/healthz`); if (h.ok) break; } catch { /* starting */ }
    if (i > 100 || exited) throw new Error('gateway did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  log(`gateway pid ${gwPid} on ${PORT}; sending ${RATE}/s for ${MINUTES} min`);
  await sample('start');
  const sampler = setInterval(() => void sample('load'), SAMPLE_MS);

  // flap: from minute 3 on, every 6 minutes: a minute of 500s, 2 minutes of 200, a minute of hanging, then 200.
  const flapper = setInterval(() => {
    const m = (Date.now() - t0) / 60_000;
    if (m < 3 || m > MINUTES - 4) { if (mode !== 'ok') log('receiver -> ok'); mode = 'ok'; }
    else {
      const phase = (m - 3) % 6;
      const next: Mode = phase < 1 ? 'fail500' : phase >= 3 && phase < 4 ? 'hang' : 'ok';
      if (next !== mode) log(`receiver -> ${next}`);
      mode = next;
    }
    if (mode !== 'hang') for (const h of hanging) h.destroy();
  }, 1000);

  const end = t0 + MINUTES * 60_000;
  const tick = 50; const perTick = RATE * tick / 1000; let carry = 0;
  while (Date.now() < end && !exited) {
    const started = Date.now();
    carry += perTick;
    while (carry >= 1) {
      carry--;
      if (inFlight > 400) { bump('skipped-backpressure'); continue; }
      inFlight++;
      sendOne().catch((e: Error) => bump(`error:${e.message}`)).finally(() => inFlight--);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, tick - (Date.now() - started))));
  }
  clearInterval(flapper); mode = 'ok';
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 100));
  log('sending stopped', stats);

  // drain: every expected report and MO arrived, and the queue is empty except dead jobs
  const drainStart = Date.now();
  const missing = (): number => { let k = 0; for (const a of accepted.values()) if (a.expect === 'final' && !reports.has(a.mtId)) k++; return k + [...moAccepted].filter((m) => !mos.has(m)).length; };
  while (Date.now() - drainStart < DRAIN_MAX_MS) {
    const t = await metricsText();
    const pending = ['due', 'leased', 'scheduled', 'blocked'].reduce((a, s) => a + metric(t, 'mmsgate_jobs', `state="${s}"`), 0);
    const miss = missing();
    if (pending === 0 && miss === 0) break;
    log(`draining: ${pending} jobs pending, ${miss} deliveries missing`);
    await new Promise((r) => setTimeout(r, 10_000));
  }
  clearInterval(sampler);
  log(`drained in ${Math.round((Date.now() - drainStart) / 1000)} s`);
  // idle a little to see memory settle after the load
  await new Promise((r) => setTimeout(r, 15_000));
  await sample('idle');

  // ---------- verdict ----------
  const v: Record<string, unknown> = {};
  let lost = 0, dup = 0, unexpected = 0, nonFinalLast = 0; const dupList: number[] = []; const lostList: number[] = [];
  for (const a of accepted.values()) {
    const r = reports.get(a.mtId);
    if (a.expect === 'none') { if (r) unexpected++; continue; }
    if (!r) { lost++; if (lostList.length < 20) lostList.push(a.mtId); continue; }
    if (r.n > 1) { dup++; if (dupList.length < 20) dupList.push(a.mtId); }
    if (!FINAL.has(r.statuses[r.statuses.length - 1]!)) nonFinalLast++;
  }
  for (const k of reports.keys()) if (!accepted.has(k)) unexpected++;
  let moLost = 0, moDup = 0;
  for (const m of moAccepted) { const c = mos.get(m) ?? 0; if (c === 0) moLost++; else if (c > 1) moDup++; }
  const logLines = readFileSync(gatewayLog, 'utf8').split('\n');
  const errors = logLines.filter((l) => { try { return (JSON.parse(l) as { level: number }).level >= 50; } catch { return l.trim() !== '' && !l.startsWith('{'); } });
  const warnings = logLines.filter((l) => { try { return (JSON.parse(l) as { level: number }).level === 40; } catch { return false; } });
  const warnMsgs: Record<string, number> = {};
  for (const w of warnings) { const m = (JSON.parse(w) as { msg: string }).msg; warnMsgs[m] = (warnMsgs[m] ?? 0) + 1; }
  Object.assign(v, {
    minutes: MINUTES, rate: RATE, sends: stats, accepted: accepted.size, mosAccepted: moAccepted.size,
    reportPosts, moPosts, refusedWhileDown: refused, hungWhileDown: hung, originHits,
    lostReports: lost, lostList, duplicateReports: dup, dupList, unexpectedReports: unexpected, nonFinalLast,
    moLost, moDuplicates: moDup, errorLines: errors.length, firstErrors: errors.slice(0, 10), warnings: warnMsgs,
  });
  writeFileSync(join(DIR, 'summary.json'), JSON.stringify({ verdict: v, series }, null, 2));
  log(JSON.stringify(v, null, 1));

  if (!args.includes('--keep')) {
    gw.kill('SIGTERM');
    await new Promise((r) => gw.once('exit', r));
  } else log(`gateway left running, pid ${gwPid}`);
  receiver.close(); origin.close(); agent.destroy();
  for (const h of hanging) h.destroy();
  const ok = lost === 0 && unexpected === 0 && moLost === 0 && errors.length === 0 && nonFinalLast === 0;
  log(ok ? 'PASS' : 'FAIL');
  process.exit(ok ? 0 : 1);
}
main().catch((e) => { console.error(e); process.exit(1); });
