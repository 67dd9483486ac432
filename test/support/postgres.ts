/**
 * PostgreSQL for tests: each caller gets its own empty database on the one server that the global setup started
 * (test/support/global-setup.ts), so test files never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/** Admin URL of the test server. */
export function pgAdminUrl(): string {
  const url = inject('pgUrl') ?? process.env.MMSGATE_TEST_PG_URL;
  if (!url) throw new Error('no test PostgreSQL: is test/support/global-setup.ts configured as globalSetup?');
  return url;
}

/** Create a new empty database and return its postgres:// URL. */
export async function freshPgDatabase(): Promise<string> {
  const admin = new URL(pgAdminUrl());
  const name = `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  admin.pathname = `/${name}`;
  return admin.toString();
}
