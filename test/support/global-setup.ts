/**
 * Vitest globalSetup: one embedded PostgreSQL server for the whole test run, on 127.0.0.1 only.
 *
 * Its admin URL reaches tests through `inject('pgUrl')` (and the MMSGATE_TEST_PG_URL environment variable); each
 * test file takes its own empty database with `freshPgDatabase()` (test/support/postgres.ts).
 */
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from './embedded-pg.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of the test PostgreSQL server (database "postgres"). */
    pgUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pg = await startEmbeddedPostgres({ prefix: 'mmsgate-pg', durable: false, maxConnections: 300 });
  project.provide('pgUrl', pg.adminUrl);
  process.env.MMSGATE_TEST_PG_URL = pg.adminUrl;
  return () => pg.stop();
}
