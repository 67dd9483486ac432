/**
 * Mapping of content failures to what the pipeline understands: the retry-policy error types (the worker retries
 * TemporaryError and gives up on PermanentError) and the outcome a final failure reports to the customer.
 */
import { OUTCOMES, type Outcome } from '../core/outcomes.ts';
import { PermanentError, TemporaryError } from '../core/retry-policy.ts';
import { ContentFetchError, type FetchFailureReason } from './guarded-fetch.ts';

/** The outcome reported when fetching remote content fails for good. */
export function outcomeForFetchFailure(reason: FetchFailureReason): Outcome {
  switch (reason) {
    case 'address-refused':
      return OUTCOMES.CONTENT_ADDRESS_REFUSED;
    case 'unsupported-type':
      return OUTCOMES.CONTENT_UNSUPPORTED;
    default:
      return OUTCOMES.CONTENT_FETCH_FAILED;
  }
}

/** A remote-content failure that retrying cannot fix; `outcome` goes into the delivery report. */
export class ContentRejectedError extends PermanentError {
  readonly outcome: Outcome;
  readonly reason: FetchFailureReason;
  constructor(err: ContentFetchError) {
    super(err.message);
    this.name = 'ContentRejectedError';
    this.reason = err.reason;
    this.outcome = outcomeForFetchFailure(err.reason);
  }
}

/**
 * Turn a ContentFetchError into the retry-policy type: permanent -> ContentRejectedError (a PermanentError with
 * an outcome), temporary -> TemporaryError carrying Retry-After. Other errors are returned unchanged.
 */
export function toPipelineError(err: unknown): unknown {
  if (!(err instanceof ContentFetchError)) return err;
  if (err.permanent) return new ContentRejectedError(err);
  return new TemporaryError(`${err.reason}: ${err.message}`, err.retryAfterMs);
}

/**
 * What a customer is told about a failure (dry run answers, the message's events in the status API). A refused
 * address is not named: the guard's own message says which address a host name resolved to from inside the
 * gateway's network (an internal DNS oracle). Every other message is the error's own.
 */
export function customerFacingMessage(err: unknown): string {
  if ((err as { reason?: unknown }).reason === 'address-refused') {
    return 'the remote content address is refused (a private or reserved address, or a host not allowed by remoteContent.allowedHosts)';
  }
  return err instanceof Error ? err.message : String(err);
}
