/**
 * The simulator's delivery: at the scheduled time, put the message on the virtual handset (byte-exact parts, kept in
 * the store for the sandbox API and tests) and produce the operator's delivery report per the test numbers — in
 * one unit with the job's completion, so a crash can neither lose nor double the delivery.
 */
import type { RetrySchedule } from '../../core/retry-policy.ts';
import type { Job, Store, WriteUnit } from '../../store/store.ts';
import type { Step, StepOutcome } from '../../pipeline/job-runner.ts';
import { mergeUnits, outcomeUnit } from '../../pipeline/units.ts';
import { retryElsewhere, unknownForMt, type ConfiguredHere } from '../../pipeline/not-configured-here.ts';
import { createMtLoader } from '../../store/mt-loader.ts';
import { simBehaviour } from './test-numbers.ts';
import type { MtMessage, Part } from '../../core/message.ts';
import type { Outcome } from '../../core/outcomes.ts';

/** The parts the simulator accepted (recorded at submission), if the job carries them. */
function submittedParts(job: Job): Part[] | undefined {
  const parts = (job.payload as { parts?: Part[] }).parts;
  return Array.isArray(parts) ? parts : undefined;
}

/**
 * What the virtual operator does with a message per the test numbers: the handset's copy (byte-exact parts; only
 * with `handsetCopy`) and the report it will give (null: it never reports). Used by the delayed `sim-deliver` job
 * and, with deliveryDelay 0, at submission itself.
 */
export function simulatedDelivery(
  mt: MtMessage,
  parts: Part[],
  at: number,
  nodeId: string,
  userAgent: string,
  handsetCopy = true,
): { unit: WriteUnit; report: { outcome: Outcome; userAgent: string | null } | null } {
  const b = simBehaviour(mt.destination);
  // No copy (a test mtConfig's message, standing in for a real operator): no handset-received event either, since
  // no virtual handset holds anything; the report the test number asks for still comes.
  const unit: WriteUnit =
    b.deliverToHandset && handsetCopy
      ? {
          handsetMessages: [{ number: mt.destination, mtId: mt.mtId, source: mt.source, subject: mt.subject, receivedAt: at, parts }],
          events: [{ mtId: mt.mtId, at, type: 'handset-received', node: nodeId, detail: { number: mt.destination } }],
        }
      : {};
  if (!b.report) {
    return { unit: mergeUnits(unit, { events: [{ mtId: mt.mtId, at, type: 'operator-no-report', node: nodeId, detail: { simulator: true } }] }), report: null };
  }
  return { unit, report: { outcome: b.report, userAgent: b.report.status === 'Retrieved' ? userAgent : null } };
}

export interface SimDeliverDeps {
  store: Store;
  nodeId: string;
  schedule: RetrySchedule;
  userAgentOf(operatorId: number): string;
  reportUrlFor(accountId: string, mtConfig: string): string | undefined;
  /** What this node's configuration holds (another node's may differ for a while). */
  configured: ConfiguredHere;
  now?: () => number;
}

export function createSimDeliverStep(deps: SimDeliverDeps): Step {
  const now = deps.now ?? Date.now;
  // One getMts per claimed batch rather than two queries per message.
  const loadMt = createMtLoader(deps.store);
  return {
    name: 'sim-deliver',
    kinds: ['sim-deliver'],
    concurrency: 64,
    retrySchedule: deps.schedule,
    async run(job: Job): Promise<StepOutcome> {
      const mt = await loadMt(job.refId);
      if (!mt) return { type: 'dead', error: `message ${job.refId} not found` };
      const t = now();
      // The report's URL comes from this node's configuration: one that lacks the account would drop the report.
      const unknown = unknownForMt(deps.configured, mt, false);
      const elsewhere = unknown ? retryElsewhere(job, deps.schedule, unknown, t) : null;
      if (elsewhere) return elsewhere;
      const handsetCopy = (job.payload as { handset?: boolean }).handset !== false;
      const d = simulatedDelivery(mt, submittedParts(job) ?? mt.parts, t, deps.nodeId, deps.userAgentOf(mt.operatorId), handsetCopy);
      if (!d.report) return { type: 'done', effects: d.unit };
      const report = outcomeUnit(
        mt,
        d.report.outcome,
        { nodeId: deps.nodeId, reportUrl: deps.reportUrlFor(mt.accountId, mt.mtConfig), now: t },
        { userAgent: d.report.userAgent, eventType: 'report-received', detail: { operatorMessageId: mt.operatorMessageId, simulator: true } },
      );
      return { type: 'done', effects: mergeUnits(d.unit, report) };
    },
  };
}
