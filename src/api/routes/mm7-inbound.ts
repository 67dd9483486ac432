/**
 * `POST /mm7/{operatorId}`: the operator MMSC's requests to us (DeliverReq, DeliveryReportReq, ReadReplyReq).
 * The operator, its source address and its credentials are checked from the request line and headers alone, before a
 * byte of the body is read: a stranger gets 404/403/401 and the connection closes, so nobody can make us buffer an
 * upload of up to api.maxBodyBytes per connection without credentials. Then the body is taken raw (bounded) and handed
 * to the MM7 adapter, which answers with the matching SOAP response or fault.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ExpiringLru } from '../../shared/expiring-lru.ts';
import { bodyPending, CONTINUE_DEFERRED } from '../replies.ts';
import { credentialDigest, DerivationGate, hashSecret, operatorPasswordChecks, safeEqual, verifySecret } from '../../core/secrets.ts';
import { checkMm7Access, handleMm7Request, mm7FaultResponse, type Mm7HttpResponse } from '../../operators/mm7/mm7-inbound.ts';
import { SingleFlight } from '../../shared/single-flight.ts';
import type { GatewayContext } from '../context.ts';

export function registerMm7InboundRoute(app: FastifyInstance, ctx: GatewayContext): void {
  const operators = new Map(ctx.config.operators.filter((o) => o.type === 'mm7').map((o) => [o.id, o]));
  if (operators.size === 0) return;
  // One checker, with its own cache, per operator: Basic auth is per operator (`operators[].inbound`).
  const checkers = new Map<number, CredentialCheck>();
  for (const op of operators.values()) {
    const inb = op.inbound;
    if (inb?.username !== undefined) checkers.set(op.id, inboundCredentialCheck({ username: inb.username, passwordHash: inb.passwordHash }));
  }
  const operatorOf = (params: unknown) => operators.get(Number((params as { operatorId?: string }).operatorId));

  /** Answer a refusal without reading the body: `Connection: close`, so node:http drops the connection after it. */
  const refuse = (reply: FastifyReply, res: Mm7HttpResponse): FastifyReply =>
    reply.status(res.status).headers(res.headers).header('connection', 'close').send(res.body);

  app.register(async (scope) => {
    // onRequest runs after routing and before the body is parsed: nothing of the body has been read yet.
    scope.addHook('onRequest', async (req, reply) => {
      const op = operatorOf(req.params);
      if (!op) {
        req.log.warn({ operatorId: (req.params as { operatorId?: string }).operatorId }, 'MM7 request for an unknown operator');
        return refuse(reply, mm7FaultResponse(4001, 'Unknown operator', 404));
      }
      const inbound = op.inbound;
      if (!inbound) {
        // No inbound section: nobody may speak for this operator (see operators[].inbound in config/operators.ts).
        req.log.warn({ operatorId: op.id }, 'MM7 request refused: the operator has no inbound section (credentials or allowIps)');
        return refuse(reply, mm7FaultResponse(4001, 'No inbound access is configured for this operator', 403, op.mm7?.namespace));
      }
      const checkCredentials = checkers.get(op.id);
      const refused = await checkMm7Access(
        { headers: req.headers, remoteAddress: req.ip },
        {
          operatorId: op.id,
          auth: checkCredentials ? { checkCredentials } : undefined,
          allowIps: inbound.allowIps.length ? inbound.allowIps : undefined,
          logger: req.log,
        },
      );
      if (refused) return refuse(reply, refused);
      // Let in: an MMSC waiting on `Expect: 100-continue` may send its body now (held back by app.ts until here).
      if ((req.raw as { [CONTINUE_DEFERRED]?: boolean })[CONTINUE_DEFERRED]) reply.raw.writeContinue();
    });

    // Read the body here (bounded: one byte past the limit is enough to know) so that the MM7 handler answers
    // every refusal itself, as a SOAP fault, and never Fastify's JSON error.
    const maxBody = ctx.config.api.maxBodyBytes;
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => {
      const chunks: Buffer[] = [];
      let size = 0;
      payload.on('data', (c: Buffer) => {
        if (size > maxBody) return;
        size += c.length;
        chunks.push(c);
        if (size > maxBody) payload.resume(); // keep draining into nothing; the handler answers 413
      });
      payload.on('end', () => done(null, Buffer.concat(chunks)));
      payload.on('error', (err) => done(err, undefined));
    });
    scope.setErrorHandler((err, req, reply) => {
      const op = operatorOf(req.params);
      // Fastify's errors carry `statusCode`, ours (ApiError) `status`.
      const e = err as { statusCode?: number; status?: number };
      const status = e.statusCode ?? e.status;
      req.log.warn({ err }, 'MM7 request refused before the handler');
      const res =
        status === 404
          ? mm7FaultResponse(4001, 'Unknown operator', 404)
          : status === 413
            ? mm7FaultResponse(2007, 'Message too large', 413, op?.mm7?.namespace)
            : status && status < 500
              ? mm7FaultResponse(2007, 'Message format corrupt', 500, op?.mm7?.namespace)
              : mm7FaultResponse(3000, 'Server error', 500, op?.mm7?.namespace);
      if (bodyPending(req.raw)) res.headers.connection = 'close';
      reply.status(res.status).headers(res.headers).send(res.body);
    });

    scope.post<{ Params: { operatorId: string } }>('/mm7/:operatorId', async (req, reply) => {
      // The onRequest hook has found the operator and let the caller in (address, credentials).
      const op = operatorOf(req.params)!;
      const res = await handleMm7Request(
        { headers: req.headers, body: (req.body as Buffer | undefined) ?? Buffer.alloc(0), remoteAddress: req.ip },
        {
          operatorId: op.id,
          sink: ctx.sink,
          logger: req.log,
          defaultNamespace: op.mm7?.namespace,
          maxBodyBytes: ctx.config.api.maxBodyBytes,
        },
      );
      reply.status(res.status).headers(res.headers);
      return res.body;
    });
  });
}

/** Checks a username and password presented to one operator's endpoint; 'busy' when no check could be run now. */
export type CredentialCheck = (user: string, pass: string) => Promise<boolean | 'busy'>;

/** How long a refused credential is answered from memory, and how many are remembered. */
const REFUSED_TTL_MS = 60_000;
const MAX_REFUSED = 1_000;

/**
 * The credential check of one operator's inbound account, with its own cache of verified credentials (keyed by an
 * HMAC, never the plain text) so that an MMSC posting many reports costs one key derivation. The cache is this
 * operator's alone: a credential verified for another operator says nothing about this one's account.
 *
 * Timing: a wrong username costs the same as a wrong password. The username is compared in constant time and the
 * password is always run through the key derivation against this operator's hash, whatever the username; answering a
 * wrong username at once (about 0.5 ms against about 40 ms for scrypt) let a caller find the operator's username
 * before guessing its password. The derivation runs on libuv's pool (verifySecret), not on the event loop. Only a
 * credential verified here is cached, so a cache hit is fast only for someone who already holds the right password.
 *
 * Derivations go through the operators' gate (core/secrets.ts operatorPasswordChecks, apart from the customers'): when it is full the answer is
 * 'busy' (503, which MMSCs retry) with nothing derived; a refused credential is remembered for a minute, so a sender
 * repeating a wrong password costs one derivation, not one per request.
 *
 * `verify` is the key derivation and comparison (core/secrets.ts); a parameter so tests can count derivations.
 */
export function inboundCredentialCheck(
  inbound: { username: string; passwordHash?: string },
  verify: (plain: string, stored: string) => Promise<boolean> = verifySecret,
  gate: DerivationGate = operatorPasswordChecks,
): CredentialCheck {
  const verified = new Set<string>();
  const refused = new ExpiringLru<true>(MAX_REFUSED);
  // Checks running now, by credential: an MMSC that opens several connections at once (after our restart) costs one
  // key derivation, not one per connection.
  const checking = new SingleFlight<string, boolean | 'busy'>();
  // loadConfig always sets passwordHash; should one ever be missing, nothing passes, at the same cost as a real check
  // (a hash of a random secret, made with the same parameters as the others).
  const stored = inbound.passwordHash ?? hashSecret(randomBytes(32).toString('base64'));
  return async (user, pass) => {
    const key = credentialDigest(user, pass).toString('hex');
    if (verified.has(key)) return true;
    if (refused.get(key)) return false;
    return checking.run(key, async () => {
      const userOk = safeEqual(user, inbound.username);
      const passOk = await gate.tryRun(() => verify(pass, stored));
      if (passOk === undefined) return 'busy';
      const ok = userOk && passOk && inbound.passwordHash !== undefined;
      if (ok) verified.add(key);
      else refused.set(key, true, REFUSED_TTL_MS);
      return ok;
    });
  };
}
