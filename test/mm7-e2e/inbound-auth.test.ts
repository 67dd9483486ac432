/**
 * Basic authentication of POST /mm7/{id} is per operator (docs/api.md, `operators[].inbound`): a credential verified
 * for one operator, and cached for it, never opens another operator's endpoint. A wrong username costs the same key
 * derivation as a wrong password, so timing does not reveal the username.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inboundCredentialCheck } from '../../src/api/routes/mm7-inbound.ts';
import { DerivationGate, hashSecret, verifySecret } from '../../src/core/secrets.ts';
import { postRaw, type PeerAuth } from '../support/mm7-peer.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { RawConnection } from '../api/raw-http.ts';

const OP_A = 320;
const OP_B = 321;
/** An mm7 operator with no inbound section. */
const OP_CLOSED = 322;
/** An mm7 operator whose MMSC is known by address only (allowIps, no credentials). */
const OP_BY_ADDRESS = 323;
const AUTH_A: PeerAuth = { username: 'mmsc-a', password: 'mmsc-a-secret' };
const AUTH_B: PeerAuth = { username: 'mmsc-b', password: 'mmsc-b-secret' };

/** An mm7 operator whose outbound side is never used here (no MT is sent): only its inbound credentials matter. */
function mm7Operator(id: number, prefix: string, inbound: PeerAuth) {
  return {
    id,
    name: `MM7 ${id}`,
    type: 'mm7',
    prefixes: [prefix],
    mm7: { url: 'http://127.0.0.1:9/mm7', username: 'vasp-out', password: 'vasp-out-secret', vaspId: 'vasp-auth' },
    inbound: { username: inbound.username, password: inbound.password },
  };
}

let gw: TestGateway;

beforeAll(async () => {
  const { inbound: _none, ...closed } = mm7Operator(OP_CLOSED, '1777', AUTH_A);
  const byAddress = { ...mm7Operator(OP_BY_ADDRESS, '1888', AUTH_A), inbound: { allowIps: ['127.0.0.0/8'] } };
  gw = await startTestGateway({ operators: [mm7Operator(OP_A, '1555', AUTH_A), mm7Operator(OP_B, '1666', AUTH_B), closed, byAddress] });
});
afterAll(async () => {
  await gw?.stop();
});

/**
 * POST a body that is not XML to /mm7/{op}; returns the HTTP status: 401 when the credentials are refused, else the
 * MM7 fault 2007 that follows authentication (HTTP 500, SOAP 1.1 §6.2), so nothing else is exercised.
 */
async function post(op: number, auth: PeerAuth): Promise<number> {
  const res = await postRaw(`${gw.url}/mm7/${op}`, { headers: { 'content-type': 'text/xml; charset=utf-8' }, body: 'not xml' }, auth);
  if (res.status !== 401) expect(res.body).toContain('2007');
  return res.status;
}

describe('inbound MM7 credentials are checked per operator', () => {
  it("operator A's credentials, verified and cached on /mm7/A, get 401 on /mm7/B (and the other way round)", async () => {
    expect(await post(OP_A, AUTH_A)).toBe(500);
    expect(await post(OP_A, AUTH_A)).toBe(500); // now from the cache
    expect(await post(OP_B, AUTH_A)).toBe(401);
    expect(await post(OP_B, AUTH_B)).toBe(500);
    expect(await post(OP_A, AUTH_B)).toBe(401);
    expect(await post(OP_B, AUTH_A)).toBe(401);
  });
});

describe('an operator without inbound credentials', () => {
  it('is refused outright when it has no inbound section: 403 with MM7 fault 4001, whatever the caller presents', async () => {
    for (const auth of [AUTH_A, undefined]) {
      const res = await postRaw(`${gw.url}/mm7/${OP_CLOSED}`, { headers: { 'content-type': 'text/xml; charset=utf-8' }, body: 'not xml' }, auth);
      expect(res.status).toBe(403);
      expect(res.body).toContain('4001');
    }
  });
  it('is let in by address alone when its inbound section has only allowIps', async () => {
    const res = await postRaw(`${gw.url}/mm7/${OP_BY_ADDRESS}`, { headers: { 'content-type': 'text/xml; charset=utf-8' }, body: 'not xml' });
    expect(res.status).toBe(500); // past the door: the MM7 fault for a body that is not XML
    expect(res.body).toContain('2007');
  });
});

describe('inboundCredentialCheck', () => {
  const passwordHash = hashSecret(AUTH_A.password);
  /** A check whose key derivations are recorded (with the hash each ran against). */
  function counted() {
    const derivations: string[] = [];
    const check = inboundCredentialCheck({ username: AUTH_A.username, passwordHash }, (plain, stored) => {
      derivations.push(stored);
      return verifySecret(plain, stored);
    });
    return { check, derivations };
  }

  it("runs the key derivation against the operator's hash for a wrong username too", async () => {
    const { check, derivations } = counted();
    expect(await check('someone-else', AUTH_A.password)).toBe(false);
    expect(await check('someone-else', 'wrong')).toBe(false);
    expect(await check(AUTH_A.username, 'wrong')).toBe(false);
    expect(derivations).toEqual([passwordHash, passwordHash, passwordHash]);
  });

  it('remembers a verified credential, and a refused one for a minute: each costs one derivation', async () => {
    const { check, derivations } = counted();
    expect(await check(AUTH_A.username, AUTH_A.password)).toBe(true);
    expect(await check(AUTH_A.username, AUTH_A.password)).toBe(true);
    expect(derivations).toHaveLength(1);
    expect(await check('someone-else', AUTH_A.password)).toBe(false);
    expect(await check('someone-else', AUTH_A.password)).toBe(false);
    expect(derivations).toHaveLength(2);
    // A refusal is not taken for anything else: the right credential is still right, another wrong one is derived.
    expect(await check(AUTH_A.username, 'wrong')).toBe(false);
    expect(derivations).toHaveLength(3);
    expect(await check(AUTH_A.username, AUTH_A.password)).toBe(true);
  });

  it("answers 'busy' without deriving when the node's password checks are full", async () => {
    const gate = new DerivationGate(1, 0);
    let release!: () => void;
    const holding = gate.tryRun(() => new Promise<void>((r) => (release = r)));
    const derivations: string[] = [];
    const check = inboundCredentialCheck({ username: AUTH_A.username, passwordHash }, (plain, stored) => {
      derivations.push(stored);
      return verifySecret(plain, stored);
    }, gate);
    expect(await check(AUTH_A.username, AUTH_A.password)).toBe('busy');
    expect(derivations).toHaveLength(0);
    release();
    await holding;
    expect(await check(AUTH_A.username, AUTH_A.password)).toBe(true);
    expect(derivations).toHaveLength(1);
  });

  it('runs one derivation for the same credential presented on several connections at once', async () => {
    const { check, derivations } = counted();
    const answers = await Promise.all(Array.from({ length: 8 }, () => check(AUTH_A.username, AUTH_A.password)));
    expect(answers.every(Boolean)).toBe(true);
    expect(derivations).toHaveLength(1);
  });
});

describe('Expect: 100-continue on /mm7/{id}', () => {
  const head = (auth: PeerAuth, length: number, path = `/mm7/${OP_A}`) =>
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: ${length}\r\n` +
    `Authorization: Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}\r\nExpect: 100-continue\r\n\r\n`;

  it('a refused caller gets its final answer without 100 Continue; a let-in MMSC gets 100 Continue, then its answer', async () => {
    const port = Number(new URL(gw.url).port);
    const refused = await RawConnection.open(port);
    await refused.write(head({ username: AUTH_A.username, password: 'wrong' }, 10_000_000));
    expect((await refused.next()).status).toBe(401);
    expect(await refused.closed(3_000)).toBe(true);

    const body = 'not xml';
    const let_in = await RawConnection.open(port);
    await let_in.write(head(AUTH_A, body.length));
    expect((await let_in.next()).status).toBe(100);
    await let_in.write(body);
    const r = await let_in.next();
    expect(r.status).toBe(500);
    expect(r.body).toContain('2007');
    let_in.socket.destroy();
  });

  // The router percent-decodes the path and takes the absolute form, so these reach the MM7 route too: they must not
  // be invited to upload before their credentials are checked either.
  it.each([[`/%6Dm7/${OP_A}`], [`/%6d%6D%37/${OP_A}`], [`http://127.0.0.1/mm7/${OP_A}`]])('%s: a refused caller gets no 100 Continue', async (path) => {
    const port = Number(new URL(gw.url).port);
    const refused = await RawConnection.open(port);
    await refused.write(head({ username: AUTH_A.username, password: 'wrong' }, 10_000_000, path));
    expect((await refused.next()).status).toBe(401);
    refused.socket.destroy();
  });
});
