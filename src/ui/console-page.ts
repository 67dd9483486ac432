/**
 * The sandbox console page (GET /sandbox): one self-contained HTML document, inline CSS and JS, no external
 * resources and no build step. Everything it shows from the gateway goes into the DOM as textContent (or as an
 * image URL that must start with /sandbox/), never as HTML.
 */

/** What the page's forms start with. */
export interface ConsoleDefaults {
  username: string;
  password: string;
  /** Source number of the send form (a number the account owns) and destination of the MO form. */
  source: string;
  /** Default MT destination (a virtual handset of the simulator). */
  destination: string;
}

/** HTML-escape text for element content and double-quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page; `nonce` must match the Content-Security-Policy of the response. */
export function consolePage(d: ConsoleDefaults, nonce: string): string {
  const v = (s: string) => escapeHtml(s);
  const n = escapeHtml(nonce);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>mmsgate sandbox console</title>
<style nonce="${n}">
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#222}
header{background:#234;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header h1{font-size:18px;margin:0}#conn{font-size:12px;padding:2px 8px;border-radius:8px;background:#a33}
#conn.on{background:#393}main{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:12px;padding:12px}
section{background:#fff;border:1px solid #ccd;border-radius:6px;padding:10px 12px;min-width:0}
h2{font-size:15px;margin:0 0 8px}label{display:block;margin:4px 0}label span{display:inline-block;width:96px}
input[type=text],input[type=password],textarea{width:calc(100% - 110px);box-sizing:border-box}
table{border-collapse:collapse;width:100%;font-size:12px}td,th{border-bottom:1px solid #eee;padding:2px 4px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
.scroll{max-height:420px;overflow:auto}pre{white-space:pre-wrap;word-break:break-all;font-size:12px;background:#f8f8f8;margin:2px 0;padding:4px;max-height:160px;overflow:auto}
.msg{border-top:1px solid #ddd;padding:6px 0}.msg img{max-width:100%;max-height:240px;display:block;margin:4px 0}
.out{font-family:monospace;margin-left:8px}.err{color:#a00}.muted{color:#777;font-size:12px}
</style></head><body>
<header><h1>mmsgate sandbox console</h1><span id="conn">offline</span></header>
<main>
<section id="send"><h2>Send a test MMS</h2>
<p class="muted">Sent as <code>POST /mms/v2/send</code> with Basic authentication.</p>
<form id="send-form">
<label><span>Account</span><input type="text" name="username" value="${v(d.username)}" autocomplete="off"></label>
<label><span>Password</span><input type="text" name="password" value="${v(d.password)}" autocomplete="off"></label>
<label><span>Source</span><input type="text" name="source" value="${v(d.source)}"></label>
<label><span>Destination</span><input type="text" name="destination" value="${v(d.destination)}"></label>
<label><span>Subject</span><input type="text" name="subject" value="Hello from the console"></label>
<label><span>Text</span><textarea name="text" rows="3">Hello from mmsgate</textarea></label>
<label><span>Image</span><input type="file" name="image" accept="image/*"></label>
<button type="submit">Send</button><span class="out" id="send-result"></span>
</form></section>
<section id="mo"><h2>Inject an MO</h2>
<p class="muted">A virtual handset sends to one of the account's numbers (<code>POST /sandbox/mo</code>).</p>
<form id="mo-form">
<label><span>From</span><input type="text" name="from" value="15551230001"></label>
<label><span>To</span><input type="text" name="to" value="${v(d.source || '88600')}"></label>
<label><span>Subject</span><input type="text" name="subject" value=""></label>
<label><span>Text</span><textarea name="text" rows="2">Hi back</textarea></label>
<button type="submit">Inject</button><span class="out" id="mo-result"></span>
</form></section>
<section id="events"><h2>Live events</h2><div class="scroll"><table><thead><tr><th>time</th><th>id</th><th>type</th><th>status / outcome</th></tr></thead>
<tbody id="event-rows"></tbody></table></div></section>
<section id="inbox"><h2>Inbox (reports and MO) <button id="inbox-refresh" type="button">refresh</button></h2>
<div class="scroll" id="inbox-list"></div></section>
<section id="handset"><h2>Handset viewer</h2>
<form id="handset-form"><label><span>Number</span><input type="text" name="number" value="${v(d.destination)}"></label>
<button type="submit">Show</button></form><div class="scroll" id="handset-list"></div></section>
</main>
<script nonce="${n}">
'use strict';
const $ = (id) => document.getElementById(id);
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; };
const MAX_ROWS = 200;
const RESUBSCRIBE_MS = 5000; // the Retry-After of a 429 for too many live subscribers
function b64utf8(s) { const b = new TextEncoder().encode(s); let bin = ''; for (const x of b) bin += String.fromCharCode(x); return btoa(bin); }
function wrap76(s) { return s.replace(/.{1,76}/g, '$&\\r\\n'); }
function boundary() { const a = new Uint8Array(12); crypto.getRandomValues(a); return 'console' + Array.from(a, (x) => x.toString(16).padStart(2, '0')).join(''); }
function safeId(s) { return (s || 'image').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60) || 'image'; }
/** parts: [{headers: {..}, body: string}] -> {type, body} (RFC 2046 section 5.1.1). */
function multipart(parts) {
  const b = boundary(); let out = '';
  for (const p of parts) { out += '--' + b + '\\r\\n'; for (const [k, v] of Object.entries(p.headers)) out += k + ': ' + v + '\\r\\n'; out += '\\r\\n' + p.body + '\\r\\n'; }
  return { type: 'multipart/mixed; boundary=' + b, body: out + '--' + b + '--\\r\\n' };
}
function readBase64(file) {
  return new Promise((ok, fail) => { const r = new FileReader(); r.onload = () => ok(String(r.result).replace(/^[^,]*,/, '')); r.onerror = () => fail(r.error); r.readAsDataURL(file); });
}
async function answer(res) { const t = await res.text(); try { return { ok: res.ok, json: JSON.parse(t) }; } catch { return { ok: res.ok, json: { message: t.slice(0, 300) } }; } }
function show(out, ok, text) { out.textContent = text; out.className = ok ? 'out' : 'out err'; }

$('send-form').addEventListener('submit', async (ev) => {
  ev.preventDefault(); const f = ev.target; const out = $('send-result'); show(out, true, 'sending…');
  try {
    const ctl = { type: 'MT', source: f.source.value.trim(), destination: f.destination.value.trim() };
    if (f.subject.value) ctl.subject = f.subject.value;
    const parts = [{ headers: { 'Content-Type': 'application/json; charset=utf-8', 'Content-Id': '<main>' }, body: JSON.stringify(ctl) }];
    if (f.text.value) parts.push({ headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Id': '<text.txt>' }, body: f.text.value });
    const file = f.image.files[0];
    if (file) parts.push({ headers: { 'Content-Type': file.type || 'application/octet-stream', 'Content-Id': '<' + safeId(file.name) + '>', 'Content-Transfer-Encoding': 'base64' }, body: wrap76(await readBase64(file)) });
    const m = multipart(parts);
    // credentials 'omit': a 401 with WWW-Authenticate would otherwise make the browser prompt for a password (Fetch
    // standard, HTTP-network-or-cache fetch) instead of handing the refusal to the page; the header is still sent.
    const res = await fetch('/mms/v2/send', { method: 'POST', credentials: 'omit', headers: { 'Content-Type': m.type, Authorization: 'Basic ' + b64utf8(f.username.value + ':' + f.password.value) }, body: m.body });
    const a = await answer(res);
    show(out, a.ok, a.ok ? 'mtId ' + a.json.mtId : res.status + ' ' + (a.json.code || '') + ' ' + (a.json.description || a.json.message || ''));
  } catch (e) { show(out, false, String(e)); }
});

$('mo-form').addEventListener('submit', async (ev) => {
  ev.preventDefault(); const f = ev.target; const out = $('mo-result'); show(out, true, 'injecting…');
  try {
    const ctl = { source: f.from.value.trim(), destinations: [f.to.value.trim()] };
    if (f.subject.value) ctl.subject = f.subject.value;
    const parts = [{ headers: { 'Content-Type': 'application/json; charset=utf-8', 'Content-Id': '<main>' }, body: JSON.stringify(ctl) }];
    if (f.text.value) parts.push({ headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Id': '<text.txt>' }, body: f.text.value });
    const m = multipart(parts);
    const res = await fetch('/sandbox/mo', { method: 'POST', headers: { 'Content-Type': m.type }, body: m.body });
    const a = await answer(res);
    show(out, a.ok, a.ok ? 'moId ' + a.json.moId : res.status + ' ' + (a.json.code || '') + ' ' + (a.json.description || a.json.message || ''));
  } catch (e) { show(out, false, String(e)); }
});

function addEventRow(s) {
  const tr = el('tr');
  tr.append(el('td', (s.at || '').slice(11, 23)));
  tr.append(el('td', s.kind === 'inbox' ? 'inbox/' + s.box : s.mtId !== undefined ? 'mt ' + s.mtId : s.moId !== undefined ? 'mo ' + s.moId : ''));
  tr.append(el('td', s.kind === 'inbox' ? 'received' : s.type));
  const st = s.kind === 'inbox' ? s.contentType + ' ' + s.size + ' B'
    : [s.status, s.outcomeId !== undefined ? '#' + s.outcomeId : '', s.outcomeDescription, s.reason].filter(Boolean).join(' ');
  tr.append(el('td', st));
  const rows = $('event-rows'); rows.prepend(tr);
  while (rows.children.length > MAX_ROWS) rows.lastElementChild.remove();
}

async function loadInbox() {
  const list = $('inbox-list');
  try {
    const res = await fetch('/sandbox/inbox?limit=30'); const entries = await res.json();
    list.replaceChildren();
    if (!Array.isArray(entries) || entries.length === 0) { list.append(el('p', 'nothing received yet', 'muted')); return; }
    for (const e of entries) {
      const d = el('div', undefined, 'msg'); const b = e.body;
      let line = e.receivedAt + '  ' + e.box;
      if (b && typeof b === 'object' && b.type === 'REPORT') line += '  REPORT mt ' + b.mtId + '  ' + b.status + ' (' + b.outcomeId + ' ' + (b.outcomeDescription || '') + ')';
      d.append(el('div', line));
      d.append(el('pre', (typeof b === 'string' ? b : JSON.stringify(b, null, 1)).slice(0, 4000)));
      list.append(d);
    }
  } catch (e) { list.replaceChildren(el('p', 'inbox: ' + e, 'err')); }
}

// The viewer starts on the send form's destination, so a first send shows up without a click.
let handsetNumber = $('handset-form').number.value.trim();
async function loadHandset() {
  const list = $('handset-list'); if (!handsetNumber) return;
  try {
    const res = await fetch('/sandbox/handsets/' + encodeURIComponent(handsetNumber) + '/messages?limit=20');
    const msgs = await res.json(); list.replaceChildren();
    if (!Array.isArray(msgs) || msgs.length === 0) { list.append(el('p', 'no messages for ' + handsetNumber, 'muted')); return; }
    for (const m of msgs) {
      const d = el('div', undefined, 'msg');
      d.append(el('div', m.receivedAt + '  from ' + m.source + '  mt ' + m.mtId));
      if (m.subject) d.append(el('strong', m.subject));
      for (const p of m.parts) {
        const url = typeof p.url === 'string' && p.url.startsWith('/sandbox/') ? p.url : null;
        d.append(el('div', p.contentId + '  ' + p.contentType + '  ' + p.size + ' B', 'muted'));
        if (!url) continue;
        if (/^image\\//i.test(p.contentType)) { const img = el('img'); img.alt = p.contentId; img.src = url; d.append(img); }
        else if (/^text\\//i.test(p.contentType) || /smil/i.test(p.contentType)) {
          const pre = el('pre', '…'); d.append(pre);
          if (p.size > 65536) pre.textContent = '(too large to show)';
          else fetch(url).then((r) => r.text()).then((t) => { pre.textContent = t; }, (e) => { pre.textContent = String(e); });
        }
      }
      list.append(d);
    }
  } catch (e) { list.replaceChildren(el('p', 'handset: ' + e, 'err')); }
}
$('handset-form').addEventListener('submit', (ev) => { ev.preventDefault(); handsetNumber = ev.target.number.value.trim(); loadHandset(); });
$('inbox-refresh').addEventListener('click', loadInbox);

const later = (fn, ms) => { let t = null; return () => { if (t === null) t = setTimeout(() => { t = null; fn(); }, ms); }; };
const refreshInbox = later(loadInbox, 300);
const refreshHandset = later(loadHandset, 300);
function connect() {
  const es = new EventSource('/sandbox/events');
  es.onopen = () => { $('conn').textContent = 'live'; $('conn').className = 'on'; refreshInbox(); };
  es.onerror = () => {
    $('conn').textContent = 'reconnecting'; $('conn').className = '';
    // The browser reconnects by itself only after a dropped stream: any answer that is no event stream (429 while too
    // many consoles are open, a proxy's 502 while the gateway restarts) closes the source for good.
    if (es.readyState === EventSource.CLOSED) setTimeout(connect, RESUBSCRIBE_MS);
  };
  es.onmessage = (m) => {
    let s; try { s = JSON.parse(m.data); } catch { return; }
    addEventRow(s);
    if (s.kind === 'inbox') refreshInbox();
    if (s.type === 'handset-received') refreshHandset();
  };
  es.addEventListener('dropped', (m) => { let n = '?'; try { n = JSON.parse(m.data).dropped; } catch {} addEventRow({ kind: 'event', at: new Date().toISOString(), type: 'dropped', reason: n + ' events skipped (too slow)' }); refreshInbox(); });
}
loadInbox(); loadHandset(); connect();
</script></body></html>
`;
}
