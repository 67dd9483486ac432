/**
 * `Idempotency-Key` end to end, on SQLite and on PostgreSQL: a repeat answers the first mtId (header
 * `idempotent-replayed: true`) and sends nothing; ten concurrent requests with one key store and deliver exactly one
 * message; the same key with a different request is 409 IDEMPOTENCY_CONFLICT, which the client throws as a typed
 * MmsApiError.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { buildSendBody, MmsApiError, MmsClient, type SendRequest } from '../../src/client/index.ts';
import { ACCOUNT, AUTH, OTHER_ACCOUNT, sleep, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { freshPgDatabase } from '../support/postgres.ts';
import { Cleanups, handsetMessages, storedMessageCount, waitForHandset } from './helpers.ts';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

/** Raw POST /mms/v2/send with the given Idempotency-Key; status, replay header and parsed body. */
async function rawSend(gw: TestGateway, key: string, body: { contentType: string; body: Buffer }) {
  const res = await request(`${gw.url}/mms/v2/send`, {
    method: 'POST',
    headers: { authorization: AUTH, 'content-type': body.contentType, 'idempotency-key': key },
    body: body.body,
  });
  const text = await res.body.text();
  return { status: res.statusCode, replayed: res.headers['idempotent-replayed'], json: JSON.parse(text) as { mtId?: number; code?: string } };
}

describe.each([
  ['SQLite', async () => ({})],
  ['PostgreSQL', async () => ({ store: await freshPgDatabase() })],
] as const)('Idempotency-Key on %s', (_name, storeOverride) => {
  let gw: TestGateway;
  let client: MmsClient;
  beforeAll(async () => {
    gw = await startTestGateway(await storeOverride());
    client = new MmsClient({ endpoints: [gw.url], accountId: ACCOUNT.id, password: ACCOUNT.password, timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await client?.close();
    await gw?.stop();
  });

  const mt = (destination: string, key: string, text = 'once only'): SendRequest => ({
    source: '88600',
    destination,
    subject: 'idempotent',
    parts: [{ text }, { data: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]), contentType: 'image/jpeg', contentId: 'pic.jpg' }],
    idempotencyKey: key,
  });

  it('answers a sequential repeat with the same mtId and sends once', async () => {
    const before = await storedMessageCount(gw);
    const key = `seq-${Date.now()}`;
    const first = await client.send(mt('15551240001', key));
    const second = await client.send(mt('15551240001', key));
    expect(second.mtId).toBe(first.mtId);

    // The raw answer says it is a replay.
    const raw = await rawSend(gw, key, await buildSendBody(mt('15551240001', key)));
    expect(raw).toMatchObject({ status: 200, replayed: 'true', json: { mtId: first.mtId } });

    const [msg] = await waitForHandset(gw, '15551240001');
    expect(msg!.mtId).toBe(first.mtId);
    await sleep(300); // a second delivery, if there were one, would have arrived by now (50 ms simulator delay)
    expect(await handsetMessages(gw, '15551240001')).toHaveLength(1);
    expect(await storedMessageCount(gw)).toBe(before + 1);
  });

  it('stores and delivers one message when ten requests with one key race', async () => {
    const before = await storedMessageCount(gw);
    const key = `race-${Date.now()}`;
    const body = await buildSendBody(mt('15551240002', key));
    const answers = await Promise.all(Array.from({ length: 10 }, () => rawSend(gw, key, body)));

    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    const ids = new Set(answers.map((a) => a.json.mtId));
    expect(ids.size).toBe(1);
    const [mtId] = [...ids];
    expect(Number.isSafeInteger(mtId)).toBe(true);
    // Exactly one of them created the message; the other nine are replays.
    expect(answers.filter((a) => a.replayed === 'true')).toHaveLength(9);

    const [msg] = await waitForHandset(gw, '15551240002');
    expect(msg!.mtId).toBe(mtId);
    await sleep(300);
    expect(await handsetMessages(gw, '15551240002')).toHaveLength(1);
    expect(await storedMessageCount(gw)).toBe(before + 1);
  });

  it('refuses the same key with a different request: 409 IDEMPOTENCY_CONFLICT as a typed error', async () => {
    const key = `conflict-${Date.now()}`;
    const first = await client.send(mt('15551240003', key, 'the original'));
    const before = await storedMessageCount(gw);

    const err = await client.send(mt('15551240003', key, 'something else')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MmsApiError);
    expect(err).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', httpStatus: 409, retryable: false, endpoint: gw.url });
    expect((err as MmsApiError).requestId).not.toBe('');

    // Another destination is a different request too.
    const other = await client.send(mt('15551240004', key, 'the original')).catch((e: unknown) => e);
    expect(other).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', httpStatus: 409 });
    expect(await storedMessageCount(gw)).toBe(before);

    // The original is untouched and still replays.
    expect((await client.send(mt('15551240003', key, 'the original'))).mtId).toBe(first.mtId);
  });

  it('keeps keys per account: another account may use the same key for its own message', async () => {
    const key = `shared-${Date.now()}`;
    const mine = await client.send(mt('15551240005', key));
    const other = new MmsClient({ endpoints: [gw.url], accountId: OTHER_ACCOUNT.id, password: OTHER_ACCOUNT.password });
    cleanups.add(() => other.close());
    const theirs = await other.send({ ...mt('15551240006', key), source: '88700' });
    expect(theirs.mtId).not.toBe(mine.mtId);
  });
});

describe('Idempotency-Key across two nodes sharing one PostgreSQL database', () => {
  let a: TestGateway;
  let b: TestGateway;
  beforeAll(async () => {
    const store = await freshPgDatabase();
    a = await startTestGateway({ store, node: { id: 'node-a' } });
    b = await startTestGateway({ store, node: { id: 'node-b' } });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  it('a retry on the other node (the first answer lost) replays the same mtId', async () => {
    const key = `nodes-${Date.now()}`;
    const req: SendRequest = { source: '88600', destination: '15551240010', parts: [{ text: 'sent via node A' }], idempotencyKey: key };
    const body = await buildSendBody(req);
    const first = await rawSend(a, key, body);
    expect(first.status).toBe(200);
    // The customer never saw that answer and retries through node B with the same key, as MmsClient does.
    const c = new MmsClient({ endpoints: [b.url], accountId: ACCOUNT.id, password: ACCOUNT.password });
    cleanups.add(() => c.close());
    expect((await c.send(req)).mtId).toBe(first.json.mtId);
  });

  it('ten requests with one key racing over both nodes store and deliver one message', async () => {
    const before = await storedMessageCount(a);
    const key = `nodes-race-${Date.now()}`;
    const body = await buildSendBody({ source: '88600', destination: '15551240011', parts: [{ text: 'one of ten' }], idempotencyKey: key });
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => rawSend(i % 2 ? b : a, key, body)));
    expect(answers.map((x) => x.status)).toEqual(Array(10).fill(200));
    const ids = new Set(answers.map((x) => x.json.mtId));
    expect(ids.size).toBe(1);
    expect(answers.filter((x) => x.replayed === 'true')).toHaveLength(9);

    const [msg] = await waitForHandset(a, '15551240011');
    expect(msg!.mtId).toBe([...ids][0]);
    await sleep(300);
    expect(await handsetMessages(b, '15551240011')).toHaveLength(1);
    expect(await storedMessageCount(a)).toBe(before + 1);
  });
});
