/**
 * `POST /mm7/{operatorId}`: the operator MMSC's requests to us (DeliverReq, DeliveryReportReq, ReadReplyReq).
 * The body is taken raw (bounded) and handed to the MM7 adapter, which answers with the matching SOAP response or
 * fault; this route only finds the operator and checks its credentials.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../core/errors.ts';
import { credentialDigest, verifySecretSync } from '../../core/secrets.ts';
import { handleMm7Request } from '../../operators/mm7/mm7-inbound.ts';
import type { GatewayContext } from '../context.ts';

export function registerMm7InboundRoute(app: FastifyInstance, ctx: GatewayContext): void {
  const operators = new Map(ctx.config.operators.filter((o) => o.type === 'mm7').map((o) => [o.id, o]));
  if (operators.size === 0) return;
  // Verified inbound credentials (keyed by an HMAC, never the plain text), so that an MMSC posting many reports
  // costs one key derivation.
  const verified = new Map<string, boolean>();

  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: ctx.config.api.maxBodyBytes }, (_req, body, done) => done(null, body));

    scope.post<{ Params: { operatorId: string } }>('/mm7/:operatorId', async (req, reply) => {
      const op = operators.get(Number(req.params.operatorId));
      if (!op) throw new ApiError('NOT_FOUND');
      const inbound = op.inbound as { username: string; passwordHash?: string; allowIps: string[] } | undefined;
      const res = await handleMm7Request(
        { headers: req.headers, body: (req.body as Buffer | undefined) ?? Buffer.alloc(0), remoteAddress: req.ip },
        {
          operatorId: op.id,
          auth: inbound
            ? {
                checkCredentials: (user: string, pass: string) => {
                  const key = credentialDigest(user, pass).toString('hex');
                  const hit = verified.get(key);
                  if (hit !== undefined) return hit;
                  const ok = user === inbound.username && !!inbound.passwordHash && verifySecretSync(pass, inbound.passwordHash);
                  if (ok) verified.set(key, true);
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
