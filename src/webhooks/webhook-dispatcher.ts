/**
 * Webhook dispatch to customer endpoints: delivery reports (JSON) and MO messages (multipart/mixed).
 *
 * Success is any 2xx. Retried with the configured schedule on timeouts, connection errors, 408, 429 (Retry-After
 * honoured) and 5xx; any other 4xx is retried only `max4xxAttempts` times (a misconfigured endpoint may be fixed
 * quickly, but should not be hammered for a day). Given-up deliveries stay as dead jobs: visible and replayable.
 * Each delivery carries a stable id (`X-Mmsgate-Delivery-Id`, and `webhook-id` when signed) so customers can
 * deduplicate the at-least-once deliveries.
 */
import { request, type Dispatcher } from 'undici';
import { createGuardedDispatcher } from '../content/guarded-fetch.ts';
import type { AddressPolicy } from '../content/address-guard.ts';
import type { Logger } from 'pino';
import { nextAttemptAt, type RetrySchedule } from '../core/retry-policy.ts';
import type { Job } from '../store/store.ts';
import type { StepOutcome } from '../pipeline/job-runner.ts';
import type { WriteUnit } from '../store/store.ts';
import { signWebhook } from '../shared/standard-webhooks.ts';

/** A request to make. */
export interface WebhookRequest {
  url: string;
  contentType: string;
  body: Buffer;
  requestId: string;
  /** Stable across retries of the same delivery. */
  deliveryId: string;
  /** Standard Webhooks secrets of the account (empty = unsigned, the OpenMarket default). */
  secrets: readonly string[];
  /** Aborts the attempt when the job's lease may be gone (job-runner.ts); the attempt then fails as retryable. */
  signal?: AbortSignal;
}

export interface WebhookPolicy {
  /** Which addresses customer endpoints may resolve to (checked before connecting). */
  addressPolicy: AddressPolicy;
  max4xxAttempts: number;
  timeoutMs: number;
}

/** Result classification of one attempt. */
export type AttemptResult =
  | { ok: true; status: number }
  | { ok: false; retryable: boolean; error: string; retryAfterMs: number; status?: number };

/** Parse Retry-After (RFC 9110 §10.2.3): delta-seconds or an HTTP date. Capped at one hour. */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return 0;
  const ms = /^\s*\d+\s*$/.test(v) ? Number(v) * 1000 : Date.parse(v) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), 3_600_000) : 0;
}

export class WebhookDispatcher {
  private readonly agent: Dispatcher;

  constructor(
    private readonly policy: WebhookPolicy,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.agent = createGuardedDispatcher(policy.addressPolicy, { timeoutMs: policy.timeoutMs, connections: 64 });
  }

  /** Make one attempt. Never throws. */
  async attempt(req: WebhookRequest): Promise<AttemptResult> {
    const headers: Record<string, string> = {
      'content-type': req.contentType,
      'x-request-id': req.requestId,
      'x-mmsgate-delivery-id': req.deliveryId,
      'user-agent': 'mmsgate',
    };
    if (req.secrets.length > 0) {
      const ts = Math.floor(this.now() / 1000);
      headers['webhook-id'] = req.deliveryId;
      headers['webhook-timestamp'] = String(ts);
      headers['webhook-signature'] = signWebhook([...req.secrets], req.deliveryId, ts, req.body);
    }
    // webhooks.timeout bounds the whole attempt, not only each wait: undici's headersTimeout and bodyTimeout restart
    // with every byte, so an endpoint trickling its answer a byte at a time held the attempt (and one of the kind's
    // `webhooks.concurrency` slots, shared by every account) for days.
    const deadline = AbortSignal.timeout(this.policy.timeoutMs);
    const signal = req.signal ? AbortSignal.any([req.signal, deadline]) : deadline;
    try {
      req.signal?.throwIfAborted();
      const res = await request(req.url, {
        method: 'POST',
        headers,
        body: req.body,
        signal,
        dispatcher: this.agent,
        headersTimeout: this.policy.timeoutMs,
        bodyTimeout: this.policy.timeoutMs,
      });
      // The answer body is not used; read a little and drop the rest so the connection can be reused. The status has
      // arrived: a deadline passing while the rest trickles in cuts the connection but not the answer.
      await res.body.dump({ limit: 64 * 1024, signal }).catch(() => undefined);
      const s = res.statusCode;
      if (s >= 200 && s < 300) return { ok: true, status: s };
      const retryable = s === 408 || s === 429 || s >= 500;
      return { ok: false, retryable, status: s, error: `HTTP ${s}`, retryAfterMs: parseRetryAfter(res.headers['retry-after'], this.now()) };
    } catch (err) {
      if (req.signal?.aborted) return { ok: false, retryable: true, error: `stopped: ${(req.signal.reason as Error).message}`, retryAfterMs: 0 };
      if (deadline.aborted) return { ok: false, retryable: true, error: `timeout: no answer within ${this.policy.timeoutMs} ms`, retryAfterMs: 0 };
      const e = err as Error & { code?: string };
      return { ok: false, retryable: true, error: `${e.code ?? e.name}: ${e.message}`, retryAfterMs: 0 };
    }
  }

  /**
   * Attempt a delivery for a job and decide what happens to the job. `logEvent` builds the event-log effect for
   * the message the webhook belongs to.
   */
  async deliver(
    job: Job,
    req: WebhookRequest,
    schedule: RetrySchedule,
    logEvent: (type: string, detail: Record<string, unknown>) => WriteUnit,
  ): Promise<StepOutcome> {
    const r = await this.attempt(req);
    const t = this.now();
    if (r.ok) return { type: 'done', effects: logEvent('webhook-delivered', { url: req.url, status: r.status, attempt: job.attempts, deliveryId: req.deliveryId }) };
    const detail = { url: req.url, error: r.error, attempt: job.attempts, deliveryId: req.deliveryId };
    const giveUp4xx = !r.retryable && job.attempts >= this.policy.max4xxAttempts;
    const at = giveUp4xx ? null : nextAttemptAt(schedule, job.attempts, job.firstAttemptAt ?? t, t, r.retryAfterMs);
    if (at === null) {
      this.log.warn({ ...detail, jobId: job.id }, 'webhook delivery given up; kept as a dead job (replayable)');
      return { type: 'dead', error: r.error, effects: logEvent('webhook-gave-up', detail) };
    }
    return { type: 'retry', runAt: at, error: r.error, effects: logEvent('webhook-attempt-failed', { ...detail, nextAttemptAt: new Date(at).toISOString() }) };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
