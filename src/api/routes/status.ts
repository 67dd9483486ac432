/**
 * `GET /mms/v2/status/{mtId}` (OpenMarket has none; customers ask for it): state, outcome and the event timeline of
 * one MT, for the owning account only (404 for anyone else, so mtIds of other accounts cannot be probed).
 * `GET /healthz`: liveness plus a store round trip.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../core/errors.ts';
import type { GatewayContext } from '../context.ts';

const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(ms).toISOString());

export function registerStatusRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  app.get<{ Params: { mtId: string } }>('/mms/v2/status/:mtId', async (req) => {
    const account = await ctx.auth.authenticate(req.headers.authorization);
    const mtId = /^[0-9]{1,16}$/.test(req.params.mtId) ? Number(req.params.mtId) : NaN;
    if (!Number.isSafeInteger(mtId)) throw new ApiError('NOT_FOUND');
    // One snapshot: state, timeline and jobs read apart could show a state change half done.
    const found = await ctx.store.getMtStatus(mtId);
    if (!found || found.mt.accountId !== account.id) throw new ApiError('NOT_FOUND');
    const { mt, events, jobs } = found;
    return {
      mtId: mt.mtId,
      state: mt.state,
      status: mt.status,
      outcomeId: mt.outcomeId,
      outcomeDescription: mt.outcomeDescription,
      userAgent: mt.userAgent,
      source: mt.source,
      destination: mt.destination,
      subject: mt.subject,
      mtConfig: mt.mtConfig,
      mobileOperatorId: mt.operatorId,
      operatorMessageId: mt.operatorMessageId,
      requestId: mt.requestId,
      createdAt: iso(mt.createdAt),
      updatedAt: iso(mt.updatedAt),
      parts: mt.parts.map((p) => ({ contentType: p.contentType, contentId: p.contentId, size: p.size, remoteUrl: p.remoteUrl })),
      events: events.map((e) => ({ at: iso(e.at), type: e.type, node: e.node, detail: e.detail })),
      jobs: jobs.map((j) => ({
        id: j.id,
        kind: j.kind,
        state: j.state,
        attempts: j.attempts,
        // A claim moves runAt to the lease's end (sql-store.ts claimJobs) and a finished job keeps it: shown, it
        // would read as a run still to come, so a done or dead job has none.
        runAt: j.state === 'ready' ? iso(j.runAt) : null,
        lastError: j.lastError,
      })),
    };
  });

  app.get('/healthz', async (_req, reply) => {
    try {
      const fatal = ctx.store.fatalError?.();
      if (fatal) throw fatal;
      await ctx.store.nextRunAt(['submit']);
    } catch (err) {
      ctx.log.warn({ err }, 'health check: store unavailable');
      reply.status(503);
      return { status: 'unavailable', node: ctx.nodeId, store: ctx.store.backend };
    }
    // Reads work but writes do not (a full disk, a read-only database): every send would be answered 503, so a load
    // balancer should send them elsewhere. Known from the node's last heartbeat write (no write of its own per probe):
    // at most node.heartbeatInterval old, or milliseconds after a send or job whose commit failed (probeSoon).
    const writeFailure = ctx.storeWriteFailure();
    if (writeFailure !== undefined) {
      ctx.log.warn({ error: writeFailure }, 'health check: store refuses writes');
      reply.status(503);
      return { status: 'unavailable', reason: 'store refuses writes', node: ctx.nodeId, store: ctx.store.backend };
    }
    return { status: ctx.isDraining() ? 'draining' : 'ok', node: ctx.nodeId, store: ctx.store.backend };
  });
}
