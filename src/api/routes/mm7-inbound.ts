/**
 * `POST /mm7/{operatorId}`: the operator MMSC's requests to us (DeliverReq, DeliveryReportReq, ReadReplyReq).
 * The body is taken raw (bounded) and handed to the MM7 adapter, which answers with the matching SOAP response or
 * fault; this route only finds the operator and checks its credentials.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../core/errors.ts';
import { credentialDigest, verifySecretSync } from '../../core/secrets.ts';
import { handleMm7Request, mm7FaultResponse } from '../../operators/mm7/mm7-inbound.ts';
import type { GatewayContext } from '../context.ts';

export function registerMm7InboundRoute(app: FastifyInstance, ctx: GatewayContext): void {
  const operators = new Map(ctx.config.operators.filter((o) => o.type === 'mm7').map((o) => [o.id, o]));
  if (operators.size === 0) return;
  // Verified inbound credentials (keyed by an HMAC, never the plain text), so that an MMSC posting many reports
  // costs one key derivation. One cache per operator: Basic auth is per operator (`operators[].inbound`), so a
  // credential verified for one operator says nothing about another's account and must be checked against it.
  const verifiedByOperator = new Map<number, Set<string>>([...operators.keys()].map((id) => [id, new Set<string>()]));

  app.register(async (scope) => {
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
      const op = operators.get(Number((req.params as { operatorId?: string }).operatorId));
      const status = (err as { statusCode?: number }).statusCode;
      req.log.warn({ err }, 'MM7 request refused before the handler');
      const res =
        status === 413
          ? mm7FaultResponse(2007, 'Message too large', 413, op?.mm7?.namespace)
          : status && status < 500
            ? mm7FaultResponse(2007, 'Message format corrupt', 500, op?.mm7?.namespace)
            : mm7FaultResponse(3000, 'Server error', 500, op?.mm7?.namespace);
      reply.status(res.status).headers(res.headers).send(res.body);
    });

    scope.post<{ Params: { operatorId: string } }>('/mm7/:operatorId', async (req, reply) => {
      const op = operators.get(Number(req.params.operatorId));
      if (!op) throw new ApiError('NOT_FOUND');
      const inbound = op.inbound as { username: string; passwordHash?: string; allowIps: string[] } | undefined;
      const verified = verifiedByOperator.get(op.id)!;
      const res = await handleMm7Request(
        { headers: req.headers, body: (req.body as Buffer | undefined) ?? Buffer.alloc(0), remoteAddress: req.ip },
        {
          operatorId: op.id,
          auth: inbound
            ? {
                checkCredentials: (user: string, pass: string) => {
                  const key = credentialDigest(user, pass).toString('hex');
                  if (verified.has(key)) return true;
                  const ok = user === inbound.username && !!inbound.passwordHash && verifySecretSync(pass, inbound.passwordHash);
                  if (ok) verified.add(key);
                  return ok;
                },
              }
            : undefined,
          allowIps: inbound?.allowIps?.length ? inbound.allowIps : undefined,
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
