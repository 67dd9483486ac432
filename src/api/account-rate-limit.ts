/**
 * Per-account send rate (`accounts[].maxSendsPerSecond`, `sendBurst`): a limit for the whole cluster, each node
 * taking its share from a local bucket (cluster/shared-token-bucket.ts).
 *
 * The send route asks the account's gate once the request's head has passed its own checks and before any of the
 * body is read or `100 Continue` is sent (api/multipart-request.ts BodyGate): a throttled client never uploads its
 * body, and a request refused for its head (401, 415, ...) is no send and takes no token. Every send that gets that
 * far counts, whatever its outcome: a dry run, an Idempotency-Key replay (its stored answer is only found from the
 * body, which a throttled request must not send) and a request later refused for its content all cost the gateway
 * the same reading and parsing.
 */
import type { AccountConfig } from '../config/schema.ts';
import { ApiError } from '../core/errors.ts';
import { SharedTokenBucket } from '../cluster/shared-token-bucket.ts';
import type { BodyGate } from './multipart-request.ts';

/** One account's gate: lets the send read its body, or refuses it with 429 RATE_LIMITED. */
export class AccountSendGate implements BodyGate {
  constructor(
    private readonly bucket: SharedTokenBucket,
    /** The account's maxSendsPerSecond and sendBurst, as one text (a reload keeps a gate whose settings stay). */
    readonly settings: string = '',
  ) {}

  admit(): void {
    const waitMs = this.bucket.tryTake();
    if (waitMs === 0) return;
    // Retry-After is whole seconds (RFC 9110 §10.2.3); rounding up means a client that waits it out finds a token.
    throw new ApiError('RATE_LIMITED', { cause: "over the account's send rate", retryAfter: Math.max(1, Math.ceil(waitMs / 1000)) });
  }
}

/**
 * The gates of the accounts that have a limit, by account id; undefined when none has, so that the send path then
 * checks one property and allocates nothing. `previous` (a configuration reload): an account whose limit is
 * unchanged keeps its gate, and with it the tokens it has used, so a reload opens no burst.
 */
export function accountSendGates(
  accounts: readonly Pick<AccountConfig, 'id' | 'maxSendsPerSecond' | 'sendBurst'>[],
  liveNodes: () => number,
  now?: () => number,
  previous?: ReadonlyMap<string, AccountSendGate>,
): ReadonlyMap<string, AccountSendGate> | undefined {
  const gates = new Map<string, AccountSendGate>();
  for (const a of accounts) {
    if (a.maxSendsPerSecond === undefined) continue;
    const settings = `${a.maxSendsPerSecond}/${a.sendBurst ?? ''}`;
    const kept = previous?.get(a.id);
    if (kept && kept.settings === settings) {
      gates.set(a.id, kept);
      continue;
    }
    const bucket = new SharedTokenBucket({
      limit: a.maxSendsPerSecond,
      liveNodes,
      ...(a.sendBurst !== undefined ? { burst: a.sendBurst } : {}),
      ...(now ? { now } : {}),
    });
    gates.set(a.id, new AccountSendGate(bucket, settings));
  }
  return gates.size > 0 ? gates : undefined;
}
