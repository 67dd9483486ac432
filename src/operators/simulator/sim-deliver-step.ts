/**
 * The simulator's delivery: at the scheduled time, put the message on the virtual handset (byte-exact parts, kept in
 * the store for the sandbox API and tests) and produce the operator's delivery report per the test numbers — in
 * one unit with the job's completion, so a crash can neither lose nor double the delivery.
 */
import type { RetrySchedule } from '../../core/retry-policy.ts';
import type { Job, Store, WriteUnit } from '../../store/store.ts';
import type { Step, StepOutcome } from '../../pipeline/job-runner.ts';
import { mergeUnits, outcomeUnit } from '../../pipeline/units.ts';
import { createMtLoader } from '../../store/mt-loader.ts';
import { simBehaviour } from './test-numbers.ts';
import type { Part } from '../../core/message.ts';

/** The parts the simulator accepted (recorded at submission), if the job carries them. */
function submittedParts(job: Job): Part[] | undefined {
  const parts = (job.payload as { parts?: Part[] }).parts;
  return Array.isArray(parts) ? parts : undefined;
}

export interface SimDeliverDeps {
  store: Store;
  nodeId: string;
  schedule: RetrySchedule;
  userAgentOf(operatorId: number): string;
  reportUrlFor(accountId: string, mtConfig: string): string | undefined;
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
      const b = simBehaviour(mt.destination);
      const handset: WriteUnit = b.deliverToHandset
        ? {
            handsetMessages: [
              { number: mt.destination, mtId: mt.mtId, source: mt.source, subject: mt.subject, receivedAt: t, parts: submittedParts(job) ?? mt.parts },
            ],
            events: [{ mtId: mt.mtId, at: t, type: 'handset-received', node: deps.nodeId, detail: { number: mt.destination } }],
          }
        : {};
      if (!b.report) {
        return { type: 'done', effects: mergeUnits(handset, { events: [{ mtId: mt.mtId, at: t, type: 'operator-no-report', node: deps.nodeId, detail: { simulator: true } }] }) };
      }
      const userAgent = b.report.status === 'Retrieved' ? deps.userAgentOf(mt.operatorId) : null;
      const report = outcomeUnit(
        mt,
        b.report,
        { nodeId: deps.nodeId, reportUrl: deps.reportUrlFor(mt.accountId, mt.mtConfig), now: t },
        { userAgent, eventType: 'report-received', detail: { operatorMessageId: mt.operatorMessageId, simulator: true } },
      );
      return { type: 'done', effects: mergeUnits(handset, report) };
    },
  };
}
