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
