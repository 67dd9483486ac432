/**
 * Steps that POST to customer endpoints: `report` (delivery report JSON) and `mo` (MO multipart). Both go through
 * the one WebhookDispatcher (retry classification, signing, delivery ids).
 */
import type { Job, Store, WriteUnit } from '../store/store.ts';
import type { RetrySchedule } from '../core/retry-policy.ts';
import type { WebhookDispatcher } from '../webhooks/webhook-dispatcher.ts';
import { buildMoBody } from '../webhooks/mo-body.ts';
import { reportJson } from './units.ts';
import type { Step, StepOutcome } from './job-runner.ts';
import { retryElsewhere, type ConfiguredHere } from './not-configured-here.ts';

export interface WebhookStepDeps {
  store: Store;
  dispatcher: WebhookDispatcher;
  nodeId: string;
  concurrency: number;
  reportSchedule: RetrySchedule;
  moSchedule: RetrySchedule;
  /** The account's Standard Webhooks secrets (empty: unsigned). */
  secretsFor(accountId: string): readonly string[];
  /** What this node's configuration holds: an account unknown here has no secrets here, its webhook would go unsigned. */
  configured: ConfiguredHere;
  /**
   * The reportUrl of an account's mtConfig and the moUrl of an account's number as configured now. A webhook goes to
   * that URL when there is one, not to the one in force when its job was queued: a customer whose endpoint failed and
   * who moved it (a reload or a restart) gets the reports and MO still queued there, not only the new ones. With none
   * now, the queued URL is kept (nothing already owed is dropped).
   */
  reportUrlFor?(accountId: string, mtConfig: string): string | undefined;
  moUrlFor?(accountId: string, number: string): string | undefined;
  now?: () => number;
}

/**
 * Where a report or MO job posts when it runs: the URL configured now for its account's mtConfig or number (see
 * WebhookStepDeps.reportUrlFor), else the one it was queued with. Also what `mmsgate jobs` shows as its target.
 */
export function webhookUrl(job: Pick<Job, 'kind' | 'payload'>, urls: Pick<WebhookStepDeps, 'reportUrlFor' | 'moUrlFor'>): string | undefined {
  // mtConfig and number: in jobs queued since they were added to the payload; older ones keep their queued URL.
  const p = job.payload as { url?: unknown; accountId?: unknown; mtConfig?: unknown; number?: unknown };
  const queued = typeof p.url === 'string' ? p.url : undefined;
  if (typeof p.accountId !== 'string') return queued;
  const now =
    job.kind === 'report' && typeof p.mtConfig === 'string'
      ? urls.reportUrlFor?.(p.accountId, p.mtConfig)
      : job.kind === 'mo' && typeof p.number === 'string'
        ? urls.moUrlFor?.(p.accountId, p.number)
        : undefined;
  return now ?? queued;
}

export function createReportStep(deps: WebhookStepDeps): Step {
  const now = deps.now ?? Date.now;
  return {
    name: 'report',
    kinds: ['report'],
    concurrency: deps.concurrency,
    retrySchedule: deps.reportSchedule,
    async run(job: Job, signal?: AbortSignal): Promise<StepOutcome> {
      const p = job.payload as { url: string; requestId: string; accountId: string; body: Record<string, unknown> };
      const elsewhere = deps.configured.account(p.accountId) ? null : retryElsewhere(job, deps.reportSchedule, `account ${p.accountId}`, now());
      if (elsewhere) return elsewhere;
      const logEvent = (type: string, detail: Record<string, unknown>): WriteUnit => ({
        events: [{ mtId: job.refId, at: now(), type: `report-${type.replace(/^webhook-/, '')}`, node: deps.nodeId, detail }],
      });
      return deps.dispatcher.deliver(
        job,
        {
          url: webhookUrl(job, deps) ?? p.url,
          contentType: 'application/json',
          body: Buffer.from(reportJson(p.body)),
          requestId: p.requestId,
          deliveryId: `report-${job.id}`,
          secrets: deps.secretsFor(p.accountId),
          signal,
        },
        deps.reportSchedule,
        logEvent,
      );
    },
  };
}

export function createMoStep(deps: WebhookStepDeps): Step {
  const now = deps.now ?? Date.now;
  return {
    name: 'mo',
    kinds: ['mo'],
    concurrency: deps.concurrency,
    retrySchedule: deps.moSchedule,
    async run(job: Job, signal?: AbortSignal): Promise<StepOutcome> {
      const p = job.payload as { url: string; requestId: string; accountId: string };
      const mo = await deps.store.getMo(job.refId);
      if (!mo) return { type: 'dead', error: `MO ${job.refId} not found` };
      const elsewhere = deps.configured.account(p.accountId) ? null : retryElsewhere(job, deps.moSchedule, `account ${p.accountId}`, now());
      if (elsewhere) return elsewhere;
      const blobs = new Map<string, Buffer>();
      for (const part of mo.parts) {
        const b = part.sha256 ? await deps.store.getBlob(part.sha256) : undefined;
        if (!b) return { type: 'dead', error: `MO ${mo.moId}: blob of part ${part.contentId} missing` };
        blobs.set(part.sha256!, b);
      }
      const { contentType, body } = buildMoBody(mo, (sha) => blobs.get(sha)!);
      const logEvent = (type: string, detail: Record<string, unknown>): WriteUnit => ({
        events: [{ moId: mo.moId, at: now(), type: `mo-${type.replace(/^webhook-/, '')}`, node: deps.nodeId, detail }],
        ...(type === 'webhook-delivered' ? { moStates: [{ moId: mo.moId, state: 'delivered' as const }] } : {}),
        ...(type === 'webhook-gave-up' ? { moStates: [{ moId: mo.moId, state: 'failed' as const }] } : {}),
      });
      return deps.dispatcher.deliver(
        job,
        {
          url: webhookUrl(job, deps) ?? p.url,
          contentType,
          body,
          requestId: p.requestId,
          deliveryId: `mo-${mo.moId}`,
          secrets: deps.secretsFor(p.accountId),
          signal,
        },
        deps.moSchedule,
        logEvent,
      );
    },
  };
}
