/**
 * The one registry of errors mmsgate returns to customers.
 *
 * Every error a customer can see on the HTTP API is listed here with its code, HTTP status, whether retrying the
 * same request can help, and a description. `docs/errors.md` is generated from this table and a test keeps the two
 * in sync (test/core/errors-doc.test.ts). OpenMarket does not publish its own code table, so these codes are ours.
 *
 * Response body shape: `{"code": "<CODE>", "description": "<text>"}`.
 */

export interface ErrorDef {
  /** HTTP status the API answers with. */
  readonly status: number;
  /** True when the same request may succeed later unchanged (customer should retry with backoff). */
  readonly retryable: boolean;
  /** Human description; `{name}` placeholders are filled from the details given when raising. */
  readonly description: string;
}

export const ERRORS = {
  // --- authentication and authorisation
  AUTH_REQUIRED: { status: 401, retryable: false, description: 'Basic authentication is required.' },
  AUTH_INVALID: { status: 401, retryable: false, description: 'The account ID or password is wrong.' },
  FORBIDDEN_SOURCE: {
    status: 403,
    retryable: false,
    description: 'The source {source} does not belong to this account.',
  },
  // --- HTTP framing, refused by the HTTP parser before the request reaches a route
  MALFORMED_REQUEST: { status: 400, retryable: false, description: 'The HTTP request is malformed: {reason}.' },
  REQUEST_HEADERS_TOO_LARGE: { status: 431, retryable: false, description: 'The HTTP request headers exceed {limit} bytes.' },
  REQUEST_TIMEOUT: {
    status: 408,
    retryable: true,
    description: 'The request did not arrive in time (headers or body stalled); nothing was stored.',
  },
  // --- request framing
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    retryable: false,
    description: 'Content-Type must be multipart/mixed with a boundary; got {contentType}.',
  },
  UNSUPPORTED_CONTENT_ENCODING: {
    status: 415,
    retryable: false,
    description: 'Content-Encoding {encoding} is not supported; send the body without a content coding.',
  },
  MISSING_BOUNDARY: { status: 400, retryable: false, description: 'The multipart Content-Type has no boundary parameter.' },
  MALFORMED_MULTIPART: { status: 400, retryable: false, description: 'The multipart body is malformed: {reason}.' },
  BODY_TOO_LARGE: { status: 413, retryable: false, description: 'The request body exceeds {limit} bytes.' },
  PART_TOO_LARGE: { status: 413, retryable: false, description: 'A part exceeds {limit} bytes.' },
  TOO_MANY_PARTS: { status: 413, retryable: false, description: 'The request has more than {limit} parts.' },
  HEADER_TOO_LARGE: { status: 431, retryable: false, description: 'A part header block exceeds {limit} bytes.' },
  UNSUPPORTED_TRANSFER_ENCODING: {
    status: 400,
    retryable: false,
    description: 'Content-Transfer-Encoding {encoding} is not supported (binary, 8bit, 7bit, base64, quoted-printable).',
  },
  // --- control part
  MISSING_CONTROL_PART: { status: 400, retryable: false, description: 'The request has no JSON control part.' },
  INVALID_JSON: { status: 400, retryable: false, description: 'The control part is not valid JSON: {reason}.' },
  INVALID_TYPE: { status: 400, retryable: false, description: 'The control part type must be "MT".' },
  MISSING_FIELD: { status: 400, retryable: false, description: 'The field {field} is required.' },
  INVALID_FIELD: { status: 400, retryable: false, description: 'The field {field} is invalid: {reason}.' },
  INVALID_DESTINATION: {
    status: 400,
    retryable: false,
    description: 'The destination must be a number in international format without "+" (digits only).',
  },
  INVALID_SOURCE: {
    status: 400,
    retryable: false,
    description: 'The source must be a short code or a number in international format without "+".',
  },
  UNKNOWN_MT_CONFIG: { status: 400, retryable: false, description: 'The mtConfig {mtConfig} is not configured for this account.' },
  UNKNOWN_OPERATOR: { status: 400, retryable: false, description: 'The mobileOperatorId {operatorId} is not known.' },
  NO_ROUTE: { status: 400, retryable: false, description: 'No mobile operator serves the destination {destination}.' },
  NO_CONTENT: { status: 400, retryable: false, description: 'The message has no content parts (or only empty ones).' },
  INVALID_REMOTE_CONTENT: {
    status: 400,
    retryable: false,
    description: 'A remote content part must hold one absolute http(s) URL: {reason}.',
  },
  IDEMPOTENCY_CONFLICT: {
    status: 409,
    retryable: false,
    description: 'The Idempotency-Key was already used with a different request body.',
  },
  // --- lookups and methods
  NOT_FOUND: { status: 404, retryable: false, description: 'No such resource.' },
  METHOD_NOT_ALLOWED: { status: 405, retryable: false, description: 'Method {method} is not allowed here.' },
  SANDBOX_HOST_REFUSED: {
    status: 403,
    retryable: false,
    description: 'The sandbox answers requests for localhost, an IP address or a name in sandbox.hosts only, not for {host}.',
  },
  // --- capacity and server
  RATE_LIMITED: { status: 429, retryable: true, description: 'Too many requests ({cause}); retry after {retryAfter} s.' },
  SHUTTING_DOWN: { status: 503, retryable: true, description: 'This node is shutting down; send to another node.' },
  STORE_UNAVAILABLE: { status: 503, retryable: true, description: 'The message store is unavailable; retry later.' },
  INTERNAL: { status: 500, retryable: true, description: 'Internal error; the request was not accepted.' },
} as const satisfies Record<string, ErrorDef>;

export type ErrorCode = keyof typeof ERRORS;

/** An error meant for the customer: carries a registry code; the API turns it into the JSON error body. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, string | number>>;

  constructor(code: ErrorCode, details: Record<string, string | number> = {}) {
    const def: ErrorDef = ERRORS[code];
    super(fillTemplate(def.description, details));
    this.name = 'ApiError';
    this.code = code;
    this.status = def.status;
    this.retryable = def.retryable;
    this.details = details;
  }

  /** The JSON body sent to the customer. */
  toBody(): { code: ErrorCode; description: string } {
    return { code: this.code, description: this.message };
  }
}

function fillTemplate(template: string, details: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (m, name: string) => (name in details ? String(details[name]) : m));
}
