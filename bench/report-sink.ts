/**
 * The customer's report endpoint for the end-to-end scenario: a node:http server on 127.0.0.1 that takes the
 * gateway's REPORT webhooks (OpenMarket HTTP MMS v2 delivery report JSON, `mtId` a number), answers 200, and records
 * when the first report for each mtId arrived.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { epochMs } from './stats.ts';

/** Largest report body read (a REPORT is a few hundred bytes). */
const MAX_REPORT_BYTES = 64 * 1024;

/** A running sink. */
export interface ReportSink {
  /** The URL to configure as the mtConfig's reportUrl. */
  readonly reportUrl: string;
  /** Epoch ms of the first REPORT per mtId. */
  readonly firstArrival: Map<number, number>;
  /** Counters since the last reset. */
  readonly counts: { reports: number; duplicates: number; malformed: number; byStatus: Record<string, number> };
  /** Epoch ms of the most recent report. */
  lastArrival(): number;
  /** Forget everything recorded so far. */
  reset(): void;
  close(): Promise<void>;
}

/** Start a sink on an ephemeral loopback port. */
export async function startReportSink(): Promise<ReportSink> {
  const firstArrival = new Map<number, number>();
  const counts = { reports: 0, duplicates: 0, malformed: 0, byStatus: {} as Record<string, number> };
  let last = 0;
  const server = createServer((req, res) => {
    const at = epochMs();
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_REPORT_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      let report: { type?: unknown; mtId?: unknown; status?: unknown } | undefined;
      try {
        report = size <= MAX_REPORT_BYTES ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      } catch {
        report = undefined;
      }
      if (!report || report.type !== 'REPORT' || typeof report.mtId !== 'number') {
        counts.malformed++;
      } else {
        counts.reports++;
        last = at;
        const status = String(report.status);
        counts.byStatus[status] = (counts.byStatus[status] ?? 0) + 1;
        if (firstArrival.has(report.mtId)) counts.duplicates++;
        else firstArrival.set(report.mtId, at);
      }
      res.writeHead(200, { 'content-length': '0' });
      res.end();
    });
  });
  server.keepAliveTimeout = 72_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    reportUrl: `http://127.0.0.1:${port}/reports`,
    firstArrival,
    counts,
    lastArrival: () => last,
    reset() {
      firstArrival.clear();
      counts.reports = counts.duplicates = counts.malformed = 0;
      counts.byStatus = {};
      last = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
