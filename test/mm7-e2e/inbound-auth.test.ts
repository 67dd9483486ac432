/**
 * Basic authentication of POST /mm7/{id} is per operator (docs/api.md, `operators[].inbound`): a credential verified
 * for one operator, and cached for it, never opens another operator's endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendDeliveryReport, type PeerAuth } from '../support/mm7-peer.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

const OP_A = 320;
const OP_B = 321;
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
  gw = await startTestGateway({ operators: [mm7Operator(OP_A, '1555', AUTH_A), mm7Operator(OP_B, '1666', AUTH_B)] });
});
afterAll(async () => {
  await gw?.stop();
});

/** POST a DeliveryReportReq (for a MessageID never issued) to /mm7/{op}; returns the HTTP status. */
async function post(op: number, auth: PeerAuth): Promise<number> {
  const res = await sendDeliveryReport(`${gw.url}/mm7/${op}`, { messageId: 'never-issued-auth', mmStatus: 'Retrieved' }, auth);
  return res.status;
}

describe('inbound MM7 credentials are checked per operator', () => {
  it("operator A's credentials, verified and cached on /mm7/A, get 401 on /mm7/B (and the other way round)", async () => {
    // Past authentication the unknown MessageID is a SOAP fault (HTTP 500, 2005): the credentials were accepted.
    expect(await post(OP_A, AUTH_A)).toBe(500);
    expect(await post(OP_A, AUTH_A)).toBe(500); // now from the cache
    expect(await post(OP_B, AUTH_A)).toBe(401);
    expect(await post(OP_B, AUTH_B)).toBe(500);
    expect(await post(OP_A, AUTH_B)).toBe(401);
    expect(await post(OP_B, AUTH_A)).toBe(401);
  });
});
