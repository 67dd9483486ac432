/**
 * acceptSend (src/api/routes/send.ts) on its own, with a stand-in store: how store failures surface to the client.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ApiAccount, GatewayContext } from '../../src/api/context.ts';
import { acceptSend } from '../../src/api/routes/send.ts';
import { loadConfig } from '../../src/config/load.ts';
import { ApiError } from '../../src/core/errors.ts';
import { AUTH, simpleMt, testConfig } from '../support/gateway.ts';
import { LogThrottle } from '../../src/shared/log-throttle.ts';

/** A context whose store is down: every store call throws what a dropped database connection would. */
function contextWithStoreDown(): GatewayContext {
  const config = loadConfig({ raw: testConfig({ dir: '/nonexistent' }) });
  const account = config.accounts[0] as unknown as ApiAccount;
  const down = async (): Promise<never> => {
    throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
  };
  return {
    config,
    nodeId: 'test-node',
    auth: { cached: () => account, authenticate: async () => account, current: () => account },
    store: { getIdempotencyKey: down },
    mtIds: { takeNow: () => undefined, take: down },
    commit: down,
    logThrottle: new LogThrottle(),
  } as unknown as GatewayContext;
}

/** The refusal acceptSend throws, and what it logged at error level. */
async function sendWith(ctx: GatewayContext, headers: Record<string, string>): Promise<{ err: unknown; logged: unknown[] }> {
  const req = simpleMt('15551230001');
  const logged: unknown[] = [];
  try {
    await acceptSend(ctx, {
      headers: { authorization: AUTH, 'content-type': req.contentType, ...headers },
      body: Readable.from([req.body]),
      requestId: 'r1',
      log: { error: (o) => logged.push(o) },
    });
  } catch (err) {
    return { err, logged };
  }
  throw new Error('the send was accepted with the store down');
}

describe('acceptSend with the store down', () => {
  it('an Idempotency-Key lookup that fails answers 503 STORE_UNAVAILABLE (retryable), not 500', async () => {
    const { err, logged } = await sendWith(contextWithStoreDown(), { 'idempotency-key': 'order-4711' });
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('STORE_UNAVAILABLE');
    expect((err as ApiError).status).toBe(503);
    // The cause stays visible to the operator.
    expect(logged).toEqual([{ err: expect.objectContaining({ message: expect.stringContaining('ECONNREFUSED') }) }]);
  });

  it('without a key, the failing id reservation answers 503 STORE_UNAVAILABLE too', async () => {
    const { err } = await sendWith(contextWithStoreDown(), {});
    expect((err as ApiError).code).toBe('STORE_UNAVAILABLE');
  });
});
