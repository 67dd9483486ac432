/**
 * The operator connector port: how the pipeline hands an MT to a mobile operator, and how an operator's inbound
 * traffic (delivery reports, MO messages, read replies) enters the pipeline. One implementation per operator type:
 * the built-in simulator (operators/simulator/) and MM7 (operators/mm7/).
 *
 * Failure contract (see core/retry-policy): `submit` throws TemporaryError to be retried with backoff, and
 * OperatorRejectedError (a PermanentError) to end the message with a Rejected report carrying its outcome.
 */
import type { MtMessage, Part } from '../core/message.ts';
import type { Outcome } from '../core/outcomes.ts';
import { PermanentError } from '../core/retry-policy.ts';
import type { WriteUnit } from '../store/store.ts';

/** A content part with its bytes, ready to send. */
export interface PartWithBytes {
  part: Part;
  bytes: Buffer;
}

/** What the submit worker hands to a connector. */
export interface SubmitRequest {
  mt: MtMessage;
  /** All parts, fetched and adapted, in message order. */
  parts: PartWithBytes[];
  /** The mtConfig name (MM7 uses it as the default VASID). */
  mtConfig: string;
  /**
   * Aborts when the job runner may no longer hold this job's lease (job-runner.ts): a request not sent yet must not
   * be sent, a wait for a slot ends; the connector then throws (a TemporaryError, or the signal's reason).
   */
  signal?: AbortSignal;
}

/** The operator accepted the message. */
export interface SubmitAccepted {
  /** Operator's ID for the message (MM7 MessageID), used to correlate its delivery reports. */
  operatorMessageId: string;
  /** Extra durable work to commit with the submission (the simulator schedules its delivery here). */
  effects?: WriteUnit;
  /** Free-form detail for the event log (e.g. MM7 status code and text). */
  detail?: Record<string, unknown>;
  /**
   * The operator's delivery report came with its acceptance (the simulator with deliveryDelay 0): the pipeline
   * records it and queues the customer REPORT in the same unit as the submission.
   */
  immediateReport?: { outcome: Outcome; userAgent: string | null };
}

/** The operator refused the message for good; the customer gets a report with `outcome`. */
export class OperatorRejectedError extends PermanentError {
  readonly outcome: Outcome;
  readonly detail: Record<string, unknown>;
  constructor(outcome: Outcome, message: string, detail: Record<string, unknown> = {}) {
    super(message);
    this.name = 'OperatorRejectedError';
    this.outcome = outcome;
    this.detail = detail;
  }
}

export interface Connector {
  /** The operator this connector serves (mobileOperatorId). */
  readonly operatorId: number;
  /**
   * Submit one MT. Resolves when the operator accepted it; throws TemporaryError (retry later) or
   * OperatorRejectedError (give up with that outcome).
   */
  submit(req: SubmitRequest): Promise<SubmitAccepted>;
  /**
   * The refusals submit() makes before sending anything (the operator's size limit on the request as it would go
   * out), without sending: throws OperatorRejectedError. A test mtConfig's stand-in runs it so a test is refused
   * exactly where the real submission would be. Absent: nothing is checked before sending.
   */
  check?(req: SubmitRequest): void;
  /** Release connections and timers. */
  close(): Promise<void>;
}

/** A delivery report from an operator. */
export interface InboundReport {
  operatorId: number;
  /** Correlates with SubmitAccepted.operatorMessageId (MM7: MessageID only; quirk 6 swaps Sender/Recipient). */
  operatorMessageId: string;
  outcome: Outcome;
  /** Operator's own words (MM7 StatusText), for the event log. */
  statusText?: string | null;
  userAgent?: string | null;
  /** When the operator says it happened (ms); default now. */
  at?: number;
}

/** A read reply from an operator (MM7 ReadReplyReq): recorded on the message. */
export interface InboundReadReply {
  operatorId: number;
  operatorMessageId: string;
  /** Read | Deleted | Indeterminate. */
  mmStatus: string;
  at?: number;
}

/** An MO message from an operator. */
export interface InboundMo {
  operatorId: number;
  source: string;
  destinations: string[];
  ccs?: string[];
  bccs?: string[];
  subject?: string | null;
  userAgent?: string | null;
  operatorMessageId?: string | null;
  /** Decoded content parts. */
  parts: { contentType: string; contentId: string; bytes: Buffer }[];
}

/** Where connectors and inbound adapters deliver operator traffic. Implemented by the pipeline. */
export interface InboundSink {
  /** Record a delivery report and queue the customer REPORT. 'unknown' when no MT has that operator message ID. */
  deliveryReport(ev: InboundReport): Promise<'ok' | 'unknown'>;
  /** Record a read reply on the MT. */
  readReply(ev: InboundReadReply): Promise<'ok' | 'unknown'>;
  /** Store an MO durably and queue its delivery to the customer. Resolves once stored. */
  mo(ev: InboundMo): Promise<{ moId: number }>;
}
