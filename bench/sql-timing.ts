/**
 * Diagnostics for the SQLite scenarios (BENCH_SQL_TIMING=1): wrap better-sqlite3's Statement run/all/get to count
 * statements and time them by kind, so the report can say how many commits (fsyncs) the accept path made, how big
 * its group-commit batches were, and how long the event loop was blocked inside SQLite.
 */
import { createRequire } from 'node:module';

/** Time and count per statement kind (first words of the SQL). */
export interface SqlTiming {
  statements: Record<string, { count: number; ms: number }>;
  /** Rows inserted into mt_messages (one per accepted MT). */
  mtRows: number;
}

/** Install the wrappers (once per process) and return a function that reads the totals. */
export function installSqlTiming(): () => SqlTiming {
  const require = createRequire(import.meta.url);
  const Database = require('better-sqlite3') as new (path: string) => { prepare(sql: string): object; close(): void };
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, (...a: unknown[]) => unknown>;
  probe.close();
  const stats: SqlTiming = { statements: {}, mtRows: 0 };
  for (const method of ['run', 'all', 'get'] as const) {
    const original = proto[method]!;
    proto[method] = function (this: { source: string }, ...args: unknown[]) {
      const t = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        const ms = performance.now() - t;
        const key = statementKind(this.source);
        const e = (stats.statements[key] ??= { count: 0, ms: 0 });
        e.count++;
        e.ms += ms;
        if (key === 'insert into mt_messages') stats.mtRows += args.length > 0 ? countRows(this.source) : 0;
      }
    };
  }
  return () => structuredClone(stats);
}

/** First words of the statement; for an UPDATE also the first column it sets (claims and resolutions differ). */
function statementKind(source: string): string {
  const head = /^\s*(\w+(?:\s+\w+)?(?:\s+"?\w+"?)?)/.exec(source)?.[1]?.replace(/"/g, '').toLowerCase() ?? '?';
  if (!head.startsWith('update')) return head;
  const set = /\bset\s+"?(\w+)"?\s*=\s*(\S+)/i.exec(source);
  return set ? `${head} ${set[1]} = ${set[2]!.slice(0, 12)}` : head;
}

/** Rows in a multi-row INSERT: one parenthesised tuple per row after VALUES. */
function countRows(sql: string): number {
  const i = sql.toLowerCase().indexOf(' values ');
  if (i < 0) return 1;
  return (sql.slice(i).match(/\),\s*\(/g)?.length ?? 0) + 1;
}
