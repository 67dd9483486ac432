/**
 * Errors the customer client throws. An HTTP answer other than 200 becomes {@link MmsApiError} (the gateway's JSON
 * `{"code", "description"}` body); failing to get any answer becomes {@link MmsNetworkError}.
 */

/** HTTP statuses after which the same request may succeed later. */
const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

/** The gateway answered with an error. */
export class MmsApiError extends Error {
  /** The gateway's UPPER_SNAKE error code, or `HTTP_<status>` when the body was not the gateway's JSON. */
  readonly code: string;
  readonly description: string;
  readonly httpStatus: number;
  /** `X-Request-Id` of the answer ("" when absent). */
  readonly requestId: string;
  /** True when retrying the same request later may succeed (429 and 5xx). */
  readonly retryable: boolean;
  /** The endpoint that answered. */
  readonly endpoint: string;
  /** Seconds from Retry-After, when given. */
  readonly retryAfterSec: number | undefined;

  constructor(init: {
    code: string;
    description: string;
    httpStatus: number;
    requestId: string;
    endpoint: string;
    retryAfterSec?: number;
  }) {
    super(`${init.code} (HTTP ${init.httpStatus}): ${init.description}`);
    this.name = 'MmsApiError';
    this.code = init.code;
    this.description = init.description;
    this.httpStatus = init.httpStatus;
    this.requestId = init.requestId;
    this.endpoint = init.endpoint;
    this.retryAfterSec = init.retryAfterSec;
    this.retryable = RETRYABLE_STATUS.has(init.httpStatus);
  }
}

/** One failed attempt, kept on {@link MmsNetworkError}. */
export interface AttemptFailure {
  endpoint: string;
  error: Error;
}

/** No endpoint gave an answer (connection refused, reset, timeout, DNS failure) within the allowed attempts. */
export class MmsNetworkError extends Error {
  /** Every failed attempt, in order. */
  readonly attempts: AttemptFailure[];
  /** Always true: with the same idempotency key a retry cannot cause a double send. */
  readonly retryable = true;

  constructor(attempts: AttemptFailure[]) {
    const last = attempts[attempts.length - 1];
    super(
      last
        ? `no endpoint answered after ${attempts.length} attempt(s); last: ${last.endpoint}: ${describe(last.error)}`
        : 'no endpoint answered',
      last ? { cause: last.error } : undefined,
    );
    this.name = 'MmsNetworkError';
    this.attempts = attempts;
  }
}

/** A short description of a low-level error, with its code when it has one (ECONNREFUSED, UND_ERR_...). */
export function describe(e: Error): string {
  const code = (e as NodeJS.ErrnoException).code;
  const msg = e.message || e.name;
  return code && !msg.includes(code) ? `${code} ${msg}` : msg;
}
