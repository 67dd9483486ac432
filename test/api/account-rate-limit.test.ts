/**
 * accounts[].maxSendsPerSecond on a real gateway (loopback HTTP): a limited account gets 429 RATE_LIMITED with
 * Retry-After once its burst is used, stores nothing for it, and gets its tokens back over time; other accounts and
 * other routes are not held up; a throttled `Expect: 100-continue` send is refused before it sends its body.
 */
import { describe, expect, it } from 'vitest';
import { accountSendGates } from '../../src/api/account-rate-limit.ts';
import { ApiError } from '../../src/core/errors.ts';
import { basic, http, send, simpleMt, sleep, status, type HttpResult } from '../support/gateway.ts';
import { rawGatewayFixture, sendHead } from './raw-http.ts';

/** One account per test, so that no test depends on the tokens another left. */
const SLOW = { id: 'acme', password: 'acme-secret-1', number: '88600' }; // 2 at once, then one per 10 s
const FREE = { id: 'globex', password: 'globex-secret-2', number: '88700' }; // no limit
const CONTINUE = { id: 'initech', password: 'initech-secret-3', number: '88800' }; // 1 at once, then one per 10 s
const REFILL = { id: 'hooli', password: 'hooli-secret-4', number: '88900' }; // 1 at once, then one per 500 ms

const account = (a: { id: string; password: string; number: string }, limit: Record<string, number>) => ({
  id: a.id,
  password: a.password,
  numbers: [{ number: a.number }],
  ...limit,
});

const fixture = rawGatewayFixture({
  accounts: [
    account(SLOW, { maxSendsPerSecond: 0.1, sendBurst: 2 }),
    account(FREE, {}),
    account(CONTINUE, { maxSendsPerSecond: 0.1 }),
    account(REFILL, { maxSendsPerSecond: 2, sendBurst: 1 }),
  ],
});
const url = (): string => fixture.gw().url;
const sendAs = (a: { id: string; password: string; number: string }, headers: Record<string, string> = {}): Promise<HttpResult> =>
  send(url(), simpleMt('15551230001', { source: a.number }), basic(a.id, a.password), headers);

function expectThrottled(r: HttpResult): number {
  expect(r.status, r.body.toString()).toBe(429);
  expect(r.json).toEqual({ code: 'RATE_LIMITED', description: expect.stringMatching(/^Too many requests \(over the account's send rate\); retry after \d+ s\.$/) });
  const retryAfter = Number(r.headers['retry-after']);
  expect(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After ${r.headers['retry-after']}`).toBe(true);
  return retryAfter;
}

/** One sample of the Prometheus text, or 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

describe('per-account send rate on POST /mms/v2/send', () => {
  it('answers 429 RATE_LIMITED with Retry-After once the burst is used, and stores nothing for it', async () => {
    const first = await sendAs(SLOW, { 'idempotency-key': 'order-1' });
    expect(first.status, first.body.toString()).toBe(200);
    expect((await sendAs(SLOW)).status).toBe(200);
    // The next token is 10 s away (0.1 per second): Retry-After says so, in whole seconds, rounded up.
    const retryAfter = expectThrottled(await sendAs(SLOW));
    expect(retryAfter).toBeGreaterThanOrEqual(9);
    expect(retryAfter).toBeLessThanOrEqual(10);
    // A replay of an Idempotency-Key is throttled like any send (its answer is only found from the body).
    expectThrottled(await sendAs(SLOW, { 'idempotency-key': 'order-1' }));
    // Reading is not sending: the status of the account's message is still answered.
    expect((await status(url(), first.json.mtId, basic(SLOW.id, SLOW.password))).status).toBe(200);

    const metrics = (await http(`${url()}/metrics`)).body.toString();
    expect(sample(metrics, 'mmsgate_http_requests_total', { route: '/mms/v2/send', status: '429' })).toBe(2);
    expect(sample(metrics, 'mmsgate_message_events_total', { type: 'accepted' })).toBe(2);
  });

  it('leaves the other accounts on the same gateway alone', async () => {
    expectThrottled(await sendAs(SLOW)); // still throttled
    for (let i = 0; i < 5; i++) expect((await sendAs(FREE)).status).toBe(200);
    expectThrottled(await sendAs(SLOW));
  });

  it('gives the tokens back over time, and a refused send takes none', async () => {
    expect((await sendAs(REFILL)).status).toBe(200);
    const refusedAt = Date.now();
    for (let i = 0; i < 3; i++) expect(expectThrottled(await sendAs(REFILL))).toBe(1);
    // Three refusals within the first 500 ms took no token: the one that refills by then is there.
    expect(Date.now() - refusedAt, 'the refusals came within the refill time').toBeLessThan(450);
    await sleep(600);
    expect((await sendAs(REFILL)).status).toBe(200);
    expectThrottled(await sendAs(REFILL));
  });

  it('refuses a throttled Expect: 100-continue send without 100 Continue, so its body is never sent', async () => {
    expect((await sendAs(CONTINUE)).status).toBe(200); // its one token
    const conn = await fixture.connection();
    const mt = simpleMt('15551230001', { source: CONTINUE.number });
    const head = sendHead({ auth: basic(CONTINUE.id, CONTINUE.password), contentType: mt.contentType, contentLength: mt.body.length, extra: { Expect: '100-continue' } });
    await conn.write(head);
    const r = await conn.next();
    expect(r.status, 'the final answer, not 100 Continue').toBe(429);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'RATE_LIMITED' });
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(9);
    expect(r.headers.connection).toBe('close');
    expect(await conn.closed(3_000)).toBe(true);
    expect(conn.flushed, 'only the request head was written').toBe(head.length);
  });

  it('an unlimited account still gets 100 Continue and its answer', async () => {
    const conn = await fixture.connection();
    const mt = simpleMt('15551230001', { source: FREE.number });
    await conn.write(sendHead({ auth: basic(FREE.id, FREE.password), contentType: mt.contentType, contentLength: mt.body.length, extra: { Expect: '100-continue' } }));
    expect((await conn.next()).status).toBe(100);
    await conn.write(mt.body);
    expect((await conn.next()).status).toBe(200);
  });
});

describe('accountSendGates', () => {
  it('is undefined when no account has a limit (the send path then checks one property)', () => {
    expect(accountSendGates([{ id: 'a' }, { id: 'b' }], () => 1)).toBeUndefined();
  });

  it('has a gate for each limited account only, refusing with RATE_LIMITED and whole seconds to wait', () => {
    let t = 0;
    const gates = accountSendGates([{ id: 'a', maxSendsPerSecond: 0.4 }, { id: 'b' }], () => 1, () => t)!;
    expect([...gates.keys()]).toEqual(['a']);
    const gate = gates.get('a')!;
    gate.admit(); // the burst: one second's worth of 0.4, at least 1
    const refusal = (): ApiError => {
      try {
        gate.admit();
      } catch (err) {
        return err as ApiError;
      }
      throw new Error('admitted');
    };
    expect(refusal().details).toMatchObject({ retryAfter: 3 }); // 2.5 s, rounded up
    t = 2_400;
    expect(refusal().details).toMatchObject({ retryAfter: 1 }); // 0.1 s: never 0
    expect(refusal().code).toBe('RATE_LIMITED');
    t = 2_500;
    expect(() => gate.admit()).not.toThrow();
  });
});
