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
  constructor(private readonly bucket: SharedTokenBucket) {}

  admit(): void {
    const waitMs = this.bucket.tryTake();
    if (waitMs === 0) return;
    // Retry-After is whole seconds (RFC 9110 §10.2.3); rounding up means a client that waits it out finds a token.
    throw new ApiError('RATE_LIMITED', { cause: "over the account's send rate", retryAfter: Math.max(1, Math.ceil(waitMs / 1000)) });
  }
}

/**
 * The gates of the accounts that have a limit, by account id; undefined when none has, so that the send path then
 * checks one property and allocates nothing.
 */
export function accountSendGates(
  accounts: readonly Pick<AccountConfig, 'id' | 'maxSendsPerSecond' | 'sendBurst'>[],
  liveNodes: () => number,
  now?: () => number,
): ReadonlyMap<string, AccountSendGate> | undefined {
  const gates = new Map<string, AccountSendGate>();
  for (const a of accounts) {
    if (a.maxSendsPerSecond === undefined) continue;
    const bucket = new SharedTokenBucket({
      limit: a.maxSendsPerSecond,
      liveNodes,
      ...(a.sendBurst !== undefined ? { burst: a.sendBurst } : {}),
      ...(now ? { now } : {}),
    });
    gates.set(a.id, new AccountSendGate(bucket));
  }
  return gates.size > 0 ? gates : undefined;
}
