/**
 * `mmsgate status MTID`: show a message's state, outcome and history (`GET /mms/v2/status/{mtId}`).
 */
import { MmsClient, type MtStatus } from '../client/index.ts';
import { clientOptions, CONNECTION_OPTIONS, parseCommandLine, UsageError, type CliIo } from './args.ts';
import { reportError } from './send.ts';
import { printable, safeJson } from './terminal.ts';

const USAGE = `usage: mmsgate status MTID [--json] [--endpoint URL]... [--account ID] [--password PW] [--timeout MS] [--ca PEMFILE]
`;

const OPTIONS = { ...CONNECTION_OPTIONS, json: { type: 'boolean' } } as const;

/** A field of the gateway's answer for a terminal (see terminal.ts); '-' when empty. */
function show(v: unknown): string {
  return v === null || v === undefined || v === '' ? '-' : printable(v);
}

/** The status document as aligned lines, then one line per event. Pure; exported for tests. */
export function formatStatus(s: MtStatus): string {
  const rows: [string, unknown][] = [
    ['mtId', s.mtId],
    ['state', s.state],
    ['status', s.status],
    ['outcome', s.outcomeId === null || s.outcomeId === undefined ? null : `${show(s.outcomeId)} ${show(s.outcomeDescription)}`],
    ['userAgent', s.userAgent],
    ['source', s.source],
    ['destination', s.destination],
    ['subject', s.subject],
    ['mtConfig', s.mtConfig],
    ['operator', s.mobileOperatorId],
    ['request id', s.requestId],
    ['created', s.createdAt],
    ['updated', s.updatedAt],
  ];
  let out = rows
    .filter(([k, v]) => v !== undefined || ['mtId', 'state', 'status', 'outcome'].includes(k))
    .map(([k, v]) => `${k.padEnd(12)}${show(v)}\n`)
    .join('');
  if (Array.isArray(s.parts)) {
    out += `parts (${s.parts.length})\n`;
    const idWidth = columnWidth(s.parts.map((p) => show(p.contentId)), 20);
    for (const p of s.parts) {
      // A link's content is fetched when the message is submitted; the part itself holds only the URL.
      const what = typeof p.remoteUrl === 'string' ? `link ${show(p.remoteUrl)}` : `${show(p.size)} bytes`;
      out += `  ${show(p.contentId).padEnd(idWidth)} ${show(p.contentType)}  ${what}\n`;
    }
  }
  const events = Array.isArray(s.events) ? s.events : [];
  out += `events (${events.length})\n`;
  // Columns as wide as their longest entry (report-attempt-failed, a long node id), so the details line up.
  const typeWidth = columnWidth(events.map((e) => show(e.type)), 17);
  const nodeWidth = columnWidth(events.map((e) => show(e.node)), 10);
  for (const e of events) {
    out += `  ${show(e.at)}  ${show(e.type).padEnd(typeWidth)} ${show(e.node).padEnd(nodeWidth)} ${formatDetail(e.detail)}`.trimEnd() + '\n';
  }
  return out;
}

/** Longest column a status table pads to: past it an entry just pushes its own line's rest to the right. */
const MAX_COLUMN_WIDTH = 40;

/** The width of a column: its longest entry, at least `min`, at most MAX_COLUMN_WIDTH. */
function columnWidth(cells: string[], min: number): number {
  return Math.min(MAX_COLUMN_WIDTH, Math.max(min, ...cells.map((c) => c.length)));
}

/** An event's detail on one line: text as is, an object as `key=value` pairs; cut at 160 characters, then made printable. */
export function formatDetail(detail: unknown): string {
  let s: string;
  if (detail === null || detail === undefined) s = '';
  else if (typeof detail === 'object' && !Array.isArray(detail)) {
    s = Object.entries(detail as Record<string, unknown>)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
  } else s = typeof detail === 'string' ? detail : JSON.stringify(detail);
  s = s.replace(/[\r\n\t]+/g, ' ');
  return printable(s.length > 160 ? `${s.slice(0, 157)}...` : s);
}

/** Runs `mmsgate status`; returns the exit code (0 found, 1 error or not found, 2 usage). */
export async function runStatus(argv: string[], io: CliIo): Promise<number> {
  let client: MmsClient | undefined;
  try {
    const { values, positionals } = parseCommandLine(argv, OPTIONS, true);
    if (values.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    const [mtId, ...extra] = positionals;
    if (!mtId || extra.length > 0 || !/^\d{1,19}$/.test(mtId)) throw new UsageError('give one numeric MTID');
    client = new MmsClient(clientOptions(values, io.env));
    const status = await client.status(mtId);
    io.stdout.write(values.json ? `${safeJson(status)}\n` : formatStatus(status));
    return 0;
  } catch (e) {
    return reportError(io, 'status', e, USAGE.trimEnd());
  } finally {
    await client?.close();
  }
}
