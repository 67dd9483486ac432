/**
 * The submit step: hand an accepted MT to its operator's connector. Accepted -> state submitted with the operator's
 * message ID; temporary failure -> retried on the submit schedule, and when that runs out the message expires in
 * the queue (outcome EXPIRED_IN_QUEUE); permanent rejection -> failed with the connector's outcome. Every outcome
 * that ends the message queues the customer's REPORT in the same unit.
 */
import { OUTCOMES } from '../core/outcomes.ts';
import { nextAttemptAt, PermanentError, type RetrySchedule, TemporaryError } from '../core/retry-policy.ts';
import { OperatorRejectedError, type Connector } from '../operators/connector.ts';
import { customerFacingMessage } from '../content/failures.ts';
import type { RemoteContentCache } from '../content/url-cache.ts';
import type { Outcome } from '../core/outcomes.ts';
import type { Job, Store, WriteUnit } from '../store/store.ts';
import { createMtLoader } from '../store/mt-loader.ts';
import { prepareContent, type ContentLimits } from './prepare-content.ts';
import type { Step, StepOutcome } from './job-runner.ts';
import { mergeUnits, outcomeUnit } from './units.ts';
import { retryElsewhere, unknownForMt, type ConfiguredHere } from './not-configured-here.ts';

export interface SubmitStepDeps {
  store: Store;
  connectors: ReadonlyMap<number, Connector>;
  /**
   * The simulators standing in for the operators, for messages accepted with a test mtConfig (`simulate: true`; the
   * submit job says so, decided at acceptance, so a later config change cannot send a test message for real).
   */
  testConnectors?: ReadonlyMap<number, Connector>;
  schedule: RetrySchedule;
  nodeId: string;
  concurrency: number;
  /** reportUrl for an account's mtConfig. */
  reportUrlFor(accountId: string, mtConfig: string): string | undefined;
  /** What this node's configuration holds (another node's may differ for a while). */
  configured: ConfiguredHere;
  /** The operator's content limits (size, image dimensions, SMIL). */
  limitsFor(operatorId: number): ContentLimits;
  /** Remote content cache (undefined: remote content refused). */
  cache: RemoteContentCache | undefined;
  now?: () => number;
}

export function createSubmitStep(deps: SubmitStepDeps): Step {
  const now = deps.now ?? Date.now;
  // One getMts per claimed batch rather than two queries per message.
  const loadMt = createMtLoader(deps.store);
  return {
    name: 'submit',
    kinds: ['submit'],
    concurrency: deps.concurrency,
    retrySchedule: deps.schedule,
    async run(job: Job, signal?: AbortSignal): Promise<StepOutcome> {
      const mt = await loadMt(job.refId);
      if (!mt) return { type: 'dead', error: `message ${job.refId} not found` };
      if (mt.state !== 'accepted') return { type: 'done' }; // already submitted (a re-run after a lost commit)
      const t = now();
      const unknown = unknownForMt(deps.configured, mt, true);
      const elsewhere = unknown ? retryElsewhere(job, deps.schedule, unknown, t) : null;
      if (elsewhere) {
        // Passed on: the other nodes may attempt it at once, this one not before runAt.
        const detail = { error: elsewhere.error, attempt: job.attempts, nextAttemptAt: new Date(t).toISOString(), notHereBefore: new Date(elsewhere.runAt).toISOString() };
        return { ...elsewhere, effects: { events: [{ mtId: mt.mtId, at: t, type: 'submit-retry', node: deps.nodeId, detail }] } };
      }
      const ctx = { nodeId: deps.nodeId, reportUrl: deps.reportUrlFor(mt.accountId, mt.mtConfig), now: t };
      // Passed on until its schedule ran out (maxAge) and its account or mtConfig is still unknown here: most likely the
      // account was removed. Such a message is not sent to the operator a day late for an account no node serves; it
      // expires in the queue as a message whose attempts ran out does. (An unknown operator ends as UNROUTABLE below.)
      const noAccount = unknown === undefined ? undefined : unknownForMt(deps.configured, mt, false);
      if (noAccount !== undefined) {
        const error = `${noAccount} is not in this node's configuration`;
        return { type: 'done', effects: outcomeUnit(mt, OUTCOMES.EXPIRED_IN_QUEUE, ctx, { eventType: 'submit-gave-up', detail: { error, attempts: job.attempts } }) };
      }
      // A test message never falls back to the operator's real connector: no stand-in means unroutable.
      const test = (job.payload as { test?: unknown } | undefined)?.test === true;
      const connector = test ? deps.testConnectors?.get(mt.operatorId) : deps.connectors.get(mt.operatorId);
      if (!connector) return { type: 'done', effects: outcomeUnit(mt, OUTCOMES.UNROUTABLE, ctx, { eventType: 'submit-failed' }) };

      try {
        const prepared = await prepareContent(mt.parts, deps.limitsFor(mt.operatorId), {
          cache: deps.cache,
          bytesOf: (sha) => deps.store.getBlob(sha),
        });
        const contentEvents: NonNullable<WriteUnit['events']> = [];
        if (prepared.fetched.length) {
          contentEvents.push({ mtId: mt.mtId, at: t, type: 'content-fetched', node: deps.nodeId, detail: { parts: prepared.fetched } });
        }
        if (prepared.changes.length || prepared.smilGenerated) {
          contentEvents.push({
            mtId: mt.mtId,
            at: t,
            type: 'content-adapted',
            node: deps.nodeId,
            detail: { changes: prepared.changes, smilGenerated: prepared.smilGenerated, bytes: prepared.parts.reduce((n, p) => n + p.bytes.length, 0) },
          });
        }
        const accepted = await connector.submit({ mt, parts: prepared.parts, mtConfig: mt.mtConfig, signal });
        const done = now();
        return {
          type: 'done',
          effects: mergeUnits(
            { blobs: prepared.blobs, events: contentEvents },
            {
              mtPatches: [{ mtId: mt.mtId, state: 'submitted', operatorMessageId: accepted.operatorMessageId }],
              events: [
                {
                  mtId: mt.mtId,
                  at: done,
                  type: 'submitted',
                  node: deps.nodeId,
                  detail: { operatorId: mt.operatorId, operatorMessageId: accepted.operatorMessageId, attempt: job.attempts, ...accepted.detail },
                },
              ],
            },
            accepted.effects,
            accepted.immediateReport
              ? outcomeUnit({ ...mt, state: 'submitted', operatorMessageId: accepted.operatorMessageId }, accepted.immediateReport.outcome, { ...ctx, now: done }, {
                  userAgent: accepted.immediateReport.userAgent,
                  eventType: 'report-received',
                  detail: { operatorMessageId: accepted.operatorMessageId, immediate: true },
                })
              : undefined,
          ),
        };
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (err instanceof OperatorRejectedError) {
          return { type: 'done', effects: outcomeUnit(mt, err.outcome, ctx, { eventType: 'submit-rejected', detail: { error: message, ...err.detail } }) };
        }
        if (err instanceof PermanentError) {
          // Content errors (fetch, adaptation) carry their own outcome; anything else is the operator's refusal.
          const outcome = (err as PermanentError & { outcome?: Outcome }).outcome ?? OUTCOMES.OPERATOR_REJECTED;
          // The customer reads this event (status API): a refused address is not named there (content/failures.ts).
          return { type: 'done', effects: outcomeUnit(mt, outcome, ctx, { eventType: 'submit-rejected', detail: { error: customerFacingMessage(err) } }) };
        }
        const retryAfter = err instanceof TemporaryError ? err.retryAfterMs : 0;
        // The backoff counts from the failure, not from the start of the attempt (content preparation and the
        // operator's answer may have taken a while).
        const failedAt = now();
        const at = nextAttemptAt(deps.schedule, job.attempts, job.firstAttemptAt ?? t, failedAt, retryAfter);
        if (at === null) {
          return { type: 'done', effects: outcomeUnit(mt, OUTCOMES.EXPIRED_IN_QUEUE, ctx, { eventType: 'submit-gave-up', detail: { error: message, attempts: job.attempts } }) };
        }
        return {
          type: 'retry',
          runAt: at,
          error: message,
          effects: {
            events: [
              { mtId: mt.mtId, at: failedAt, type: 'submit-retry', node: deps.nodeId, detail: { error: message, attempt: job.attempts, nextAttemptAt: new Date(at).toISOString() } },
            ],
          },
        };
      }
    },
  };
}
