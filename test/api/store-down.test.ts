import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, simpleMt, startTestGateway, type TestGateway } from '../support/gateway.ts';

describe('store unavailable', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw.stop().catch(() => undefined);
  });

  it('reports the node unavailable on /healthz once its store can no longer make writes durable', async () => {
    const healthy = await fetch(`${gw.url}/healthz`);
    expect(healthy.status).toBe(200);
    const store = gw.gateway.store as { fatalError?: () => Error | undefined };
    const original = store.fatalError;
    store.fatalError = () => new Error('syncing the SQLite WAL failed: EIO'); // as after a failed fdatasync
    try {
      const r = await fetch(`${gw.url}/healthz`);
      expect(r.status).toBe(503);
      expect(await r.json()).toMatchObject({ status: 'unavailable' });
    } finally {
      store.fatalError = original;
    }
  });

  it('answers 503 STORE_UNAVAILABLE (retryable) instead of a 500 when the store cannot take the message', async () => {
    const ok = await send(gw.url, simpleMt('15551230001'));
    expect(ok.status).toBe(200);
    await gw.gateway.store.close();
    const r = await send(gw.url, simpleMt('15551230001'));
    expect(r.status).toBe(503);
    expect(r.json).toEqual({ code: 'STORE_UNAVAILABLE', description: expect.any(String) });
    expect(r.headers['x-request-id']).toBeTruthy();
  });
});
