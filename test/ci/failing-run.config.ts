/**
 * The project's test setup (vitest.config.ts: its global setup, which starts PostgreSQL, and its pool) over one
 * fixture that fails, for test/ci/exit-code.test.ts.
 */
import { defineConfig } from 'vitest/config';
import base from '../../vitest.config.ts';

export default defineConfig({
  test: {
    include: ['test/ci/fixtures/fails-on-purpose.fixture.ts'],
    pool: base.test?.pool,
    globalSetup: base.test?.globalSetup,
    reporters: ['default'],
  },
});
