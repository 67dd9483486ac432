/**
 * The built-in simulated operator (`type: simulator`). It accepts submissions (with configurable chaos: temporary
 * failures, permanent rejections, extra latency, as mailpit's chaos triggers do for SMTP), and schedules the
 * delivery to the virtual handset as a durable `sim-deliver` job, so a restart loses no simulated delivery either.
 */
import { OUTCOMES } from '../../core/outcomes.ts';
import { TemporaryError } from '../../core/retry-policy.ts';
import type { OperatorConfig } from '../../config/schema.ts';
import { OperatorRejectedError, type Connector, type SubmitAccepted, type SubmitRequest } from '../connector.ts';
import { simulatedDelivery } from './sim-deliver-step.ts';

export interface SimulatorSettings {
  deliveryDelay: number;
  userAgent: string;
  chaos: { submitTemporaryFailure: number; submitPermanentFailure: number; extraLatency: number };
}

export const DEFAULT_SIMULATOR: SimulatorSettings = {
  deliveryDelay: 200,
  userAgent: 'SimPhone MMS/1.0',
  chaos: { submitTemporaryFailure: 0, submitPermanentFailure: 0, extraLatency: 0 },
};

/** How a simulator connector serves: as an operator of its own, or standing in for a real one (a test mtConfig). */
export interface SimulatorRole {
  /**
   * Keep a copy of each delivered message on the virtual handset (the sandbox's handset API). Off when standing in for
   * a real operator: test traffic on a production node leaves no copies to pile up.
   */
  handsetCopies: boolean;
  /** Event-log detail of a submission (the operator's own simulator: `{ simulator: true }`). */
  detail: Record<string, unknown>;
  /** The real operator's pre-send refusals (Connector.check), run first so a test is refused where it would be. */
  precheck?: (req: SubmitRequest) => void;
}

const OWN_OPERATOR: SimulatorRole = { handsetCopies: true, detail: { simulator: true } };

export class SimulatorConnector implements Connector {
  readonly operatorId: number;
  private readonly settings: SimulatorSettings;

  constructor(
    op: Pick<OperatorConfig, 'id' | 'simulator' | 'maxMessageBytes'>,
    /** Written into the event log of immediate deliveries. */
    private readonly nodeId = 'simulator',
    private readonly random: () => number = Math.random,
    private readonly now: () => number = Date.now,
    private readonly role: SimulatorRole = OWN_OPERATOR,
  ) {
    this.operatorId = op.id;
    this.settings = op.simulator ?? DEFAULT_SIMULATOR;
    this.maxMessageBytes = op.maxMessageBytes;
  }
  private readonly maxMessageBytes: number;

  async submit(req: SubmitRequest): Promise<SubmitAccepted> {
    const { chaos } = this.settings;
    if (chaos.extraLatency > 0) await new Promise((r) => setTimeout(r, chaos.extraLatency));
    req.signal?.throwIfAborted(); // the job's lease may be gone: accept nothing more for it
    this.role.precheck?.(req);
    const size = req.parts.reduce((n, p) => n + p.bytes.length, 0);
    if (size > this.maxMessageBytes) {
      throw new OperatorRejectedError(OUTCOMES.TOO_LARGE, `message of ${size} bytes exceeds the operator limit ${this.maxMessageBytes}`);
    }
    if (chaos.submitTemporaryFailure > 0 && this.random() < chaos.submitTemporaryFailure) {
      throw new TemporaryError('simulated temporary submit failure (chaos)');
    }
    if (chaos.submitPermanentFailure > 0 && this.random() < chaos.submitPermanentFailure) {
      throw new OperatorRejectedError(OUTCOMES.OPERATOR_REJECTED, 'simulated permanent rejection (chaos)');
    }
    const operatorMessageId = `sim-${req.mt.mtId}`;
    const { handsetCopies, detail } = this.role;
    if (this.settings.deliveryDelay === 0) {
      // Delivered at once: the handset's copy and the report commit with the submission (one unit, no extra job).
      const d = simulatedDelivery(req.mt, req.parts.map((p) => p.part), this.now(), this.nodeId, this.settings.userAgent, handsetCopies);
      return { operatorMessageId, detail, effects: d.unit, ...(d.report ? { immediateReport: d.report } : {}) };
    }
    return {
      operatorMessageId,
      detail,
      effects: {
        // The handset gets exactly what was submitted (after fetching and adaptation), not the original parts.
        jobs: [
          {
            kind: 'sim-deliver',
            refId: req.mt.mtId,
            runAt: this.now() + this.settings.deliveryDelay,
            payload: { operatorId: this.operatorId, parts: req.parts.map((p) => p.part), ...(handsetCopies ? {} : { handset: false }) },
          },
        ],
      },
    };
  }

  /** The simulated handset's user agent. */
  get userAgent(): string {
    return this.settings.userAgent;
  }

  async close(): Promise<void> {}
}
