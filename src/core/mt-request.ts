/**
 * Validation of the send API's JSON control part (OpenMarket HTTP MMS v2 `POST /mms/v2/send`), and operator routing.
 * Pure: takes the parsed JSON, the account and the operators; returns the validated request or throws ApiError.
 */
import { ApiError } from './errors.ts';
import { isInternationalNumber, isShortCode } from './message.ts';

export interface RoutableOperator {
  id: number;
  prefixes: readonly string[];
}

export interface SendingAccount {
  id: string;
  mtConfigs: Readonly<Record<string, unknown>>;
  numbers: readonly { number: string }[];
}

export interface ValidMtRequest {
  source: string;
  destination: string;
  mtConfig: string;
  subject: string | null;
  operatorId: number;
}

/** Subjects longer than this are refused (MM7 Subject has no limit, handsets show ~40 characters). */
export const MAX_SUBJECT_CHARS = 1000;

/** The operator serving `destination`: longest matching prefix; undefined when none. */
export function routeByPrefix<O extends RoutableOperator>(operators: readonly O[], destination: string): O | undefined {
  let best: O | undefined;
  let bestLen = -1;
  for (const op of operators) {
    for (const p of op.prefixes) {
      if (destination.startsWith(p) && p.length > bestLen) {
        best = op;
        bestLen = p.length;
      }
    }
  }
  return best;
}

/** Accept numbers given as JSON numbers too (some clients send them unquoted), but only plain digit strings result. */
function asDigits(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  return undefined;
}

export function validateMtRequest(
  json: unknown,
  account: SendingAccount,
  operators: readonly RoutableOperator[],
): ValidMtRequest {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ApiError('INVALID_JSON', { reason: 'the control part must be a JSON object' });
  }
  const j = json as Record<string, unknown>;
  if (j.type !== undefined && (typeof j.type !== 'string' || j.type.toUpperCase() !== 'MT')) throw new ApiError('INVALID_TYPE');

  if (j.destination === undefined || j.destination === null || j.destination === '') {
    throw new ApiError('MISSING_FIELD', { field: 'destination' });
  }
  const destination = asDigits(j.destination);
  if (destination === undefined || !isInternationalNumber(destination)) throw new ApiError('INVALID_DESTINATION');

  if (j.source === undefined || j.source === null || j.source === '') throw new ApiError('MISSING_FIELD', { field: 'source' });
  const source = asDigits(j.source);
  if (source === undefined || !(isShortCode(source) || isInternationalNumber(source))) throw new ApiError('INVALID_SOURCE');
  if (!account.numbers.some((n) => n.number === source)) throw new ApiError('FORBIDDEN_SOURCE', { source });

  let mtConfig = 'default';
  if (j.mtConfig !== undefined && j.mtConfig !== null) {
    if (typeof j.mtConfig !== 'string' || j.mtConfig.length === 0 || j.mtConfig.length > 64) {
      throw new ApiError('INVALID_FIELD', { field: 'mtConfig', reason: 'must be a non-empty string of at most 64 characters' });
    }
    mtConfig = j.mtConfig;
  }
  if (!Object.prototype.hasOwnProperty.call(account.mtConfigs, mtConfig)) throw new ApiError('UNKNOWN_MT_CONFIG', { mtConfig });

  let subject: string | null = null;
  if (j.subject !== undefined && j.subject !== null) {
    if (typeof j.subject !== 'string') throw new ApiError('INVALID_FIELD', { field: 'subject', reason: 'must be a string' });
    // Characters, not UTF-16 units; a string no longer than the limit in units cannot have more characters.
    if (j.subject.length > MAX_SUBJECT_CHARS && [...j.subject].length > MAX_SUBJECT_CHARS) {
      throw new ApiError('INVALID_FIELD', { field: 'subject', reason: `longer than ${MAX_SUBJECT_CHARS} characters` });
    }
    subject = j.subject;
  }

  let operatorId: number;
  if (j.mobileOperatorId !== undefined && j.mobileOperatorId !== null && j.mobileOperatorId !== '') {
    const raw = asDigits(j.mobileOperatorId);
    const id = raw !== undefined && /^[0-9]{1,9}$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(id)) {
      throw new ApiError('INVALID_FIELD', { field: 'mobileOperatorId', reason: 'must be an integer' });
    }
    if (!operators.some((o) => o.id === id)) throw new ApiError('UNKNOWN_OPERATOR', { operatorId: id });
    operatorId = id;
  } else {
    const op = routeByPrefix(operators, destination);
    if (!op) throw new ApiError('NO_ROUTE', { destination });
    operatorId = op.id;
  }
  return { source, destination, mtConfig, subject, operatorId };
}
