/**
 * Idempotency keys inside `write()`: which units of a batch claim a key, and the race-safe claim itself.
 *
 * Race safety rests on the primary key (account_id, idem_key) and one statement per key:
 *   INSERT ... ON CONFLICT (account_id, idem_key) DO UPDATE SET ... WHERE idempotency_keys.expires_at <= now
 *   RETURNING mt_id
 * A row comes back when the key was free or expired (then replaced); none when a live key holds it. On PostgreSQL
 * the INSERT waits for another transaction that inserted the same key until it commits or rolls back, so of two
 * nodes claiming one key exactly one wins; the loser then reads the winner's committed row (READ COMMITTED: each
 * statement sees what committed before it began). On SQLite the write lock (BEGIN IMMEDIATE) serialises claims.
 */
import type { Kysely } from 'kysely';
import { MAX_IDEMPOTENCY_KEY_LENGTH, type IdempotencyClaim, type IdempotencyHit, type WriteUnit } from './store.ts';
import type { Database } from './schema.ts';

/** A key that must be claimed in the database, and the units of the batch that named it after the first. */
export interface KeyClaim {
  /** Index of the first applied unit with this key (the candidate). */
  unit: number;
  claim: IdempotencyClaim;
  /** Later units of the same batch with the same key: skipped, answered with the key's holder. */
  followers: number[];
}

/** Reject keys the API should have refused; a store error is better than a silently shortened key. */
export function checkClaim(c: IdempotencyClaim): void {
  if (typeof c.accountId !== 'string' || c.accountId.length === 0 || c.accountId.length > 256) {
    throw new TypeError('idempotency accountId must be 1..256 characters');
  }
  if (typeof c.key !== 'string' || c.key.length === 0 || c.key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw new TypeError(`idempotency key must be 1..${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  }
  if (typeof c.requestHash !== 'string' || c.requestHash.length > 256) throw new TypeError('idempotency requestHash too long');
  if (!Number.isSafeInteger(c.mtId) || !Number.isSafeInteger(c.expiresAt)) {
    throw new TypeError('idempotency mtId and expiresAt must be safe integers');
  }
}

/**
 * Group the applied units of a batch by key (pure). The first unit naming a key is its candidate; later ones follow
 * it. Claims come back sorted by (accountId, key) so concurrent transactions lock keys in one order (no deadlock
 * between nodes whose batches share keys).
 */
export function planClaims(units: readonly WriteUnit[], applied: readonly boolean[]): KeyClaim[] {
  const byKey = new Map<string, KeyClaim>();
  units.forEach((u, i) => {
    const c = u.idempotency;
    if (!c || !applied[i]) return;
    checkClaim(c);
    const k = JSON.stringify([c.accountId, c.key]);
    const first = byKey.get(k);
    if (first) first.followers.push(i);
    else byKey.set(k, { unit: i, claim: c, followers: [] });
  });
  return [...byKey.values()].sort((a, b) =>
    cmp(a.claim.accountId, b.claim.accountId) || cmp(a.claim.key, b.claim.key),
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Claim one key; returns undefined when this unit now holds it, else the holder. */
async function claimOne(conn: Kysely<Database>, c: IdempotencyClaim, now: number): Promise<IdempotencyHit | undefined> {
  // Two rounds cover a holder that expired and was purged between our INSERT and our SELECT.
  for (let round = 0; round < 2; round++) {
    const won = await conn
      .insertInto('idempotency_keys')
      .values({
        account_id: c.accountId,
        idem_key: c.key,
        request_hash: c.requestHash,
        mt_id: c.mtId,
        expires_at: c.expiresAt,
        created_at: now,
      })
      .onConflict((oc) =>
        oc
          .columns(['account_id', 'idem_key'])
          .doUpdateSet((eb) => ({
            request_hash: eb.ref('excluded.request_hash'),
            mt_id: eb.ref('excluded.mt_id'),
            expires_at: eb.ref('excluded.expires_at'),
            created_at: eb.ref('excluded.created_at'),
          }))
          .where('idempotency_keys.expires_at', '<=', now),
      )
      .returning('mt_id')
      .executeTakeFirst();
    if (won) return undefined;
    const holder = await conn
      .selectFrom('idempotency_keys')
      .select(['mt_id', 'request_hash'])
      .where('account_id', '=', c.accountId)
      .where('idem_key', '=', c.key)
      .executeTakeFirst();
    if (holder) return { mtId: holder.mt_id, requestHash: holder.request_hash };
  }
  throw new Error('idempotency key claim did not settle');
}

/**
 * Inside a write transaction: claim the keys of the applied units. Units that lose (to a committed key or to an
 * earlier unit of the batch) get `applied[i] = false`; the returned array holds their key's holder.
 */
export async function claimIdempotencyKeys(
  conn: Kysely<Database>,
  units: readonly WriteUnit[],
  applied: boolean[],
  now: number,
): Promise<(IdempotencyHit | undefined)[]> {
  const hits: (IdempotencyHit | undefined)[] = units.map(() => undefined);
  for (const k of planClaims(units, applied)) settleClaim(k, await claimOne(conn, k.claim, now), applied, hits);
  return hits;
}

/**
 * Record the result of one planned claim: when another request holds the key (`holder`), the claiming unit is
 * skipped; the later units of the batch with the same key are skipped in any case and answer with the holder (or
 * with the claiming unit, which now holds the key). Shared by the Kysely path and SQLite's prepared statements.
 */
export function settleClaim(
  k: KeyClaim,
  holder: IdempotencyHit | undefined,
  applied: boolean[],
  hits: (IdempotencyHit | undefined)[],
): void {
  if (holder) {
    applied[k.unit] = false;
    hits[k.unit] = holder;
  }
  const answer = holder ?? { mtId: k.claim.mtId, requestHash: k.claim.requestHash };
  for (const f of k.followers) {
    applied[f] = false;
    hits[f] = answer;
  }
}
