/**
 * `mmsgate listen`: a developer's webhook sink. Prints every delivery report and MO as it arrives, saves MO
 * content parts to a folder under safe names, and answers 200 (after the parts are on disk, so a failed write makes
 * the gateway redeliver). Runs until SIGINT/SIGTERM.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { createWebhookHandler, type DeliveryReport, type MoMessage, type WebhookMeta } from '../client/index.ts';
import { intOption, parseCommandLine, UsageError, type CliIo } from './args.ts';
import { reportError } from './send.ts';
import { printable } from './terminal.ts';

const USAGE = `usage: mmsgate listen [--port 9100] [--host 127.0.0.1] [--save-dir ./mo-parts] [--secret whsec_...]...
`;

/** Options of {@link startListener}. */
export interface ListenerOptions {
  /** Port (default 9100; 0 picks a free one). */
  port?: number;
  /** Interface (default 127.0.0.1). */
  host?: string;
  /** Folder for MO parts (default ./mo-parts; created when missing). */
  saveDir?: string;
  /** Standard Webhooks secrets; when given, unsigned requests get 401. */
  secrets?: string[];
  /** Where the blocks are printed. */
  out: NodeJS.WritableStream;
}

/** A running listener. */
export interface Listener {
  port: number;
  url: string;
  close(): Promise<void>;
}

const EXT_BY_TYPE: Record<string, string> = {
  'image/jpeg': '.jpg',
  'image/png': '.png',
  'image/gif': '.gif',
  'image/webp': '.webp',
  'video/mp4': '.mp4',
  'video/3gpp': '.3gp',
  'audio/amr': '.amr',
  'audio/mpeg': '.mp3',
  'text/vcard': '.vcf',
  'text/x-vcard': '.vcf',
  'application/smil': '.smil',
  'text/plain': '.txt',
};

/**
 * A file name that stays inside the save folder: only letters, digits, `.`, `_` and `-`, no leading dot, at most
 * 100 characters, prefixed with the moId and part number; an extension from the content type when it has none.
 */
export function safePartFileName(moId: number, index: number, contentId: string, contentType: string): string {
  let name = contentId.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+/, '').replace(/\.{2,}/g, '.').slice(0, 80);
  if (!name) name = 'part';
  const ext = EXT_BY_TYPE[contentType.split(';')[0]!.trim().toLowerCase()];
  if (ext && !/\.[A-Za-z0-9]{1,5}$/.test(name)) name += ext;
  return `${moId}-${index}-${name}`;
}

async function saveExclusive(dir: string, name: string, bytes: Buffer): Promise<string> {
  for (let n = 1; n <= 100; n++) {
    const candidate = n === 1 ? name : name.replace(/(\.[^.]*)?$/, `-${n}$1`);
    const path = join(dir, candidate);
    try {
      await writeFile(path, bytes, { flag: 'wx' }); // never overwrite an earlier delivery
      return path;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new Error(`too many files named like ${name}`);
}

function preview(bytes: Buffer): string {
  const s = printable(bytes.toString('utf8', 0, 200).replace(/\s+/g, ' ').trim());
  return bytes.length > 200 ? `${s}...` : s;
}

/** A field of a webhook for a terminal: whoever posts to the listener chooses it (see terminal.ts); '-' when empty. */
function field(v: unknown): string {
  return v === undefined || v === null || v === '' ? '-' : printable(v);
}

/** One readable block per report. Pure; exported for tests. */
export function formatReport(r: DeliveryReport, meta: WebhookMeta): string {
  return (
    `--- REPORT  mtId ${field(r.mtId)}\n` +
    `  status      ${field(r.status)}\n` +
    `  outcome     ${field(r.outcomeId)} ${field(r.outcomeDescription)}\n` +
    `  date        ${field(r.date)}\n` +
    (r.userAgent ? `  userAgent   ${field(r.userAgent)}\n` : '') +
    `  request id  ${field(meta.requestId)}   delivery id ${field(meta.deliveryId)}\n`
  );
}

/** The header of an MO's block (its parts follow). Pure; exported for tests. */
export function formatMoHead(m: MoMessage, meta: WebhookMeta): string {
  const { mo } = m;
  const list = (xs: readonly unknown[]) => (xs.length ? xs.map(field).join(', ') : '-');
  return (
    `--- MO  moId ${field(mo.moId)}  from ${field(mo.source)}  to ${list(mo.destinations)}\n` +
    (mo.ccs.length ? `  cc          ${list(mo.ccs)}\n` : '') +
    `  subject     ${field(mo.subject)}\n` +
    `  date        ${field(mo.date)}   operator ${field(mo.mobileOperatorId)}   userAgent ${field(mo.userAgent)}\n` +
    `  request id  ${field(meta.requestId)}\n`
  );
}

/** Starts the webhook sink; resolves once it listens. */
export async function startListener(opts: ListenerOptions): Promise<Listener> {
  const dir = resolve(opts.saveDir ?? 'mo-parts');
  const out = opts.out;
  const onMo = async (m: MoMessage, meta: WebhookMeta): Promise<void> => {
    const { mo } = m;
    let block = formatMoHead(m, meta);
    if (m.parts.length) await mkdir(dir, { recursive: true });
    for (const [i, p] of m.parts.entries()) {
      const path = await saveExclusive(dir, safePartFileName(mo.moId, i + 1, p.contentId, p.contentType), p.bytes);
      block += `  part ${i + 1}      ${field(p.contentType)}  id ${field(p.contentId)}  ${p.bytes.length} bytes -> ${printable(path)}\n`;
      if (p.contentType.toLowerCase().startsWith('text/plain')) block += `              "${preview(p.bytes)}"\n`;
    }
    out.write(block);
  };
  const handler = createWebhookHandler({
    ...(opts.secrets?.length ? { secrets: opts.secrets } : {}),
    onReport: (r, meta) => void out.write(formatReport(r, meta)),
    onMo,
  });
  const server = createServer((req, res) => {
    res.on('finish', () => {
      if (res.statusCode !== 200) out.write(`--- ${printable(req.method)} ${printable(req.url)} answered ${res.statusCode}\n`);
    });
    handler(req, res);
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 9100, host, ok);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeIdleConnections();
        server.close(() => ok());
      }),
  };
}

/** Runs `mmsgate listen` until SIGINT/SIGTERM (or `io.signal`); returns the exit code. */
export async function runListen(argv: string[], io: CliIo): Promise<number> {
  let listener: Listener;
  try {
    const { values } = parseCommandLine(
      argv,
      {
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        'save-dir': { type: 'string' },
        secret: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      false,
    );
    if (values.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    const secrets = values.secret ?? [];
    for (const s of secrets) if (!s.startsWith('whsec_')) throw new UsageError('--secret must start with whsec_');
    listener = await startListener({
      port: intOption(values.port, 'port', 0, 65535) ?? 9100,
      host: values.host ?? '127.0.0.1',
      saveDir: values['save-dir'] ?? 'mo-parts',
      secrets,
      out: io.stdout,
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      io.stderr.write(`mmsgate listen: ${(e as Error).message}\n`);
      return 1;
    }
    return reportError(io, 'listen', e, USAGE.trimEnd());
  }
  io.stderr.write(`listening on ${listener.url}  (Ctrl-C to stop)\n`);
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      io.signal?.removeEventListener('abort', stop);
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (io.signal?.aborted) stop();
    else io.signal?.addEventListener('abort', stop);
  });
  await listener.close();
  return 0;
}
