/**
 * The outcome table: what a delivery report tells the customer.
 *
 * A REPORT carries `status` (an MM7 MMStatus word, 3GPP TS 23.140 §8.4.2.x / REL-6 schema `mmDeliveryStatusType`),
 * `outcomeId` (integer) and `outcomeDescription`. OpenMarket documents four pairs (1 Retrieved "Success.",
 * 4 Deferred, 5 Forwarded, 9 Rejected "Recipient not found on mobile operator"); the rest is ours and documented in
 * docs/outcomes.md (kept in sync by a test). `final` says whether the message's life ends with this outcome:
 * Deferred, Forwarded and Processing are interim, a later report may follow; so is a status word we do not know, since
 * only a report we understand may end the message.
 */

export type DeliveryStatus =
  | 'Retrieved'
  | 'Rejected'
  | 'Expired'
  | 'Deferred'
  | 'Forwarded'
  | 'Indeterminate'
  | 'Unrecognised'
  | 'DeliveryConditionNotMet'
  | 'Unreachable'
  | 'NotSupported'
  | 'Processing'
  | 'Cancelled'
  | 'Replaced';

export interface Outcome {
  readonly id: number;
  readonly status: DeliveryStatus;
  readonly description: string;
  /** True when no later report is expected for the message. */
  readonly final: boolean;
  /** Where the outcome comes from: reported by the operator, or decided inside the gateway. */
  readonly source: 'operator' | 'gateway';
}

const o = (id: number, status: DeliveryStatus, description: string, final: boolean, source: Outcome['source']): Outcome =>
  Object.freeze({ id, status, description, final, source });

/** Every outcome, by a stable symbolic name used in code. */
export const OUTCOMES = Object.freeze({
  // --- reported by the operator (MM7 DeliveryReportReq MMStatus, or the simulator)
  RETRIEVED: o(1, 'Retrieved', 'Success.', true, 'operator'),
  EXPIRED: o(2, 'Expired', 'Message expired before the handset retrieved it.', true, 'operator'),
  INDETERMINATE: o(3, 'Indeterminate', 'The mobile operator could not determine the delivery status.', true, 'operator'),
  DEFERRED: o(4, 'Deferred', 'Delivery deferred; the handset has not retrieved the message yet.', false, 'operator'),
  FORWARDED: o(5, 'Forwarded', 'Message forwarded by the recipient.', false, 'operator'),
  UNRECOGNISED: o(6, 'Unrecognised', 'The mobile operator did not recognise the message.', true, 'operator'),
  CONDITION_NOT_MET: o(7, 'DeliveryConditionNotMet', 'The handset does not meet the delivery conditions.', true, 'operator'),
  UNREACHABLE: o(8, 'Unreachable', 'The handset is unreachable.', true, 'operator'),
  RECIPIENT_NOT_FOUND: o(9, 'Rejected', 'Recipient not found on mobile operator', true, 'operator'),
  REJECTED_BY_HANDSET: o(10, 'Rejected', 'The recipient or handset rejected the message.', true, 'operator'),
  NOT_SUPPORTED: o(11, 'NotSupported', 'The handset does not support MMS.', true, 'operator'),
  // REL-6 mmDeliveryStatusType also lists Processing, Cancelled and Replaced (TS 23.140 §8.4.2 MM Status).
  PROCESSING: o(12, 'Processing', 'The mobile operator is still processing the message.', false, 'operator'),
  CANCELLED: o(13, 'Cancelled', 'The message was cancelled at the mobile operator before the handset retrieved it.', true, 'operator'),
  REPLACED: o(14, 'Replaced', 'The message was replaced at the mobile operator by another message.', true, 'operator'),
  UNKNOWN_STATUS: o(15, 'Indeterminate', 'The mobile operator reported a status unknown to the gateway; a later report may follow.', false, 'operator'),
  // --- permanent failures decided inside the gateway (each its own id, so customers can tell them apart)
  UNROUTABLE: o(20, 'Rejected', 'No mobile operator serves the destination.', true, 'gateway'),
  TOO_LARGE: o(21, 'Rejected', 'Message too large for the mobile operator and could not be adapted.', true, 'gateway'),
  CONTENT_FETCH_FAILED: o(22, 'Rejected', 'Remote content could not be fetched.', true, 'gateway'),
  CONTENT_ADDRESS_REFUSED: o(23, 'Rejected', 'Remote content address refused (a private or reserved address, or a host not in remoteContent.allowedHosts).', true, 'gateway'),
  CONTENT_UNSUPPORTED: o(24, 'Rejected', 'Remote content type is not supported.', true, 'gateway'),
  EXPIRED_IN_QUEUE: o(25, 'Expired', 'Message expired in the gateway before the mobile operator accepted it.', true, 'gateway'),
  OPERATOR_REJECTED: o(26, 'Rejected', 'The mobile operator rejected the message.', true, 'gateway'),
  OPERATOR_ADDRESS_ERROR: o(27, 'Rejected', 'The mobile operator refused the recipient address.', true, 'gateway'),
  OPERATOR_CONTENT_REFUSED: o(28, 'Rejected', 'The mobile operator refused the message content.', true, 'gateway'),
  OPERATOR_DENIED: o(29, 'Rejected', 'The mobile operator denied the service (identification or permission).', true, 'gateway'),
  // Not resent: the operator answered with success at the HTTP level, so it may have taken the message, and a resend
  // would reach the handset twice. Indeterminate, not Rejected: the handset may well get it.
  OPERATOR_ANSWER_UNREADABLE: o(
    30,
    'Indeterminate',
    'The mobile operator answer was unreadable; the message may have been delivered.',
    true,
    'gateway',
  ),
});

export type OutcomeName = keyof typeof OUTCOMES;

const BY_ID = new Map<number, Outcome>(Object.values(OUTCOMES).map((x) => [x.id, x]));

/** The outcome with this id, or undefined. */
export function outcomeById(id: number): Outcome | undefined {
  return BY_ID.get(id);
}

/** All outcomes, ordered by id (for docs and the status API). */
export function allOutcomes(): Outcome[] {
  return [...BY_ID.values()].sort((a, b) => a.id - b.id);
}

/**
 * Map an MM7 MMStatus word (as an operator sent it; case and spelling vary, NOTES quirk list) to an outcome.
 * StatusText is not used for the mapping: operators fill it freely. A word we do not know is interim
 * (UNKNOWN_STATUS): ending the message on it would make the forward-only state machine drop the operator's later,
 * final report (a Retrieved after some operator's "Sent"), so the message stays open for it.
 */
export function outcomeFromMmStatus(mmStatus: string): Outcome {
  switch (mmStatus.trim().toLowerCase()) {
    case 'retrieved':
    case 'delivered':
      return OUTCOMES.RETRIEVED;
    case 'expired':
      return OUTCOMES.EXPIRED;
    case 'deferred':
      return OUTCOMES.DEFERRED;
    case 'forwarded':
      return OUTCOMES.FORWARDED;
    case 'rejected':
      return OUTCOMES.REJECTED_BY_HANDSET;
    case 'indeterminate':
      return OUTCOMES.INDETERMINATE;
    case 'unrecognised':
    case 'unrecognized':
      return OUTCOMES.UNRECOGNISED;
    case 'deliveryconditionnotmet':
      return OUTCOMES.CONDITION_NOT_MET;
    case 'unreachable':
      return OUTCOMES.UNREACHABLE;
    case 'notsupported':
      return OUTCOMES.NOT_SUPPORTED;
    case 'processing':
      return OUTCOMES.PROCESSING;
    case 'cancelled':
    case 'canceled':
      return OUTCOMES.CANCELLED;
    case 'replaced':
      return OUTCOMES.REPLACED;
    default:
      return OUTCOMES.UNKNOWN_STATUS;
  }
}
