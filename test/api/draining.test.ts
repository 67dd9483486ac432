/**
 * While a node drains (graceful stop), every request routed to the customer API is refused with 503 SHUTTING_DOWN, so
 * the client sends it to another node; whatever form of the request-target the router accepts for an API route, not
 * only the raw `/mms/...` text. The router percent-decodes the path (`/%6Dms/v2/send` is the send route) and takes
 * the absolute form (`http://host/mms/v2/send`, RFC 9112 §3.2.2); neither starts with `/mms/`, and neither is taken
 * by the send fast path, which serves the raw `/mms/v2/send` itself.
 */
import { describe, expect, it } from 'vitest';
import { rawGatewayPerTest, type RawResponse } from './raw-http.ts';

/** Request-targets the router sends to an API route although their raw text does not start with `/mms/`. */
const ROUTED_FORMS: [string, string][] = [
  ['POST', '/mms/v2/send'], // the send fast path
  ['POST', '/mms/v2/send?x=1'], // the send fast path, with a query
  ['POST', '/%6Dms/v2/send'],
  ['POST', '/%6D%6D%73/v2/send'],
  ['POST', 'http://127.0.0.1/mms/v2/send'],
  ['GET', '/%6Dms/v2/status/1'],
  ['GET', 'http://127.0.0.1/mms/v2/status/1'],
];

/**
 * Forms that look like the send path but that no route serves (the router does not merge duplicate slashes, and so
 * the raw `//mms/` needs no refusal of its own): 404 on a running node and on a draining one alike.
 */
const UNROUTED_FORMS = ['//mms/v2/send', 'http://127.0.0.1//mms/v2/send'];

const fixture = rawGatewayPerTest();
const connect = () => fixture.connection();

const head = (method: string, target: string): string =>
  `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Length: 0\r\n\r\n`;

/**
 * Each request-target's answer once the node drains. A connection that has begun a request is not idle, so the
 * stopping server waits for it: each request's first byte goes out before the stop, the rest after it.
 */
async function answersWhileDraining(requests: [string, string][]): Promise<RawResponse[]> {
  const gw = await fixture.start();
  const conns = await Promise.all(requests.map(() => connect()));
  await Promise.all(conns.map((c, i) => c.write(head(...requests[i]!).slice(0, 1))));
  await new Promise((r) => setTimeout(r, 50)); // the server has read the first bytes
  const stopping = gw.gateway.stop();
  const answers = await Promise.all(conns.map(async (c, i) => (await c.write(head(...requests[i]!).slice(1)), c.next())));
  for (const c of conns) c.destroy();
  await stopping;
  return answers;
}

describe('a draining node', () => {
  it('is reached by each request-target form on a running node (no credentials: 401, not 404)', async () => {
    await fixture.start();
    for (const [method, target] of ROUTED_FORMS) {
      const c = await connect();
      await c.write(head(method, target));
      const res = await c.next();
      expect({ target, status: res.status }).toEqual({ target, status: 401 });
    }
    for (const target of UNROUTED_FORMS) {
      const c = await connect();
      await c.write(head('POST', target));
      const res = await c.next();
      expect({ target, status: res.status, body: JSON.parse(res.body).code }).toEqual({ target, status: 404, body: 'NOT_FOUND' });
    }
  });

  it('refuses every form routed to the API with 503 SHUTTING_DOWN', async () => {
    const answers = await answersWhileDraining(ROUTED_FORMS);
    const seen = answers.map((res, i) => ({ target: ROUTED_FORMS[i]![1], status: res.status, code: JSON.parse(res.body).code }));
    expect(seen).toEqual(ROUTED_FORMS.map(([, target]) => ({ target, status: 503, code: 'SHUTTING_DOWN' })));
    for (const res of answers) expect(res.headers['x-request-id']).toBeTruthy();
  });

  it('answers a form no route serves as a running node does (404), never accepting it', async () => {
    const answers = await answersWhileDraining(UNROUTED_FORMS.map((t) => ['POST', t]));
    expect(answers.map((res) => res.status)).toEqual(UNROUTED_FORMS.map(() => 404));
  });
});
