/**
 * Tables beside the message pipeline: the remote-content URL cache, the node registry and housekeeping
 * (expired idempotency keys, old done jobs, old parked reports). Functions over a kysely connection; SqlStore delegates to them.
 */
import type { Kysely, Selectable } from 'kysely';
import {
  DONE_JOB_RETENTION_MS,
  PARKED_REPORT_RETENTION_MS,
  MAX_CACHED_URL_BYTES,
  type CachedUrlRow,
  type IdempotencyHit,
  type NodeInfo,
  type NodeRow,
  type PurgeCounts,
} from './store.ts';
import type { Database, NodesTable, UrlCacheTable } from './schema.ts';
import { deleteInRounds, type MaintenanceWriter } from './maintenance-writes.ts';

/** Rows one purge statement deletes: short transactions, no long lock on the jobs table. */
export const PURGE_BATCH = 5000;
/** Most purge statements per table and call (a backlog is worked off over several calls). */
const MAX_PURGE_ROUNDS = 100;
/** Nodes listed at most (a registry is a handful of rows; the bound guards against a runaway writer). */
const MAX_NODES = 1000;
const MAX_NODE_FIELD = 256;
/** Longest Content-Type, ETag or Last-Modified kept. */
const MAX_VALIDATOR = 1024;

type Db = Kysely<Database>;

function checkUrl(url: string): void {
  if (typeof url !== 'string' || url.length === 0 || Buffer.byteLength(url, 'utf8') > MAX_CACHED_URL_BYTES) {
    // PostgreSQL B-tree entries are limited to about 2.7 kB; the bound keeps every URL indexable.
    throw new RangeError(`cached URL must be 1..${MAX_CACHED_URL_BYTES} bytes`);
  }
}

function cachedFromRow(r: Selectable<UrlCacheTable>): CachedUrlRow {
  return {
    url: r.url,
    sha256: r.sha256,
    contentType: r.content_type,
    size: Number(r.size),
    etag: r.etag,
    lastModified: r.last_modified,
    freshUntil: Number(r.fresh_until),
    fetchedAt: Number(r.fetched_at),
  };
}

function nodeFromRow(r: Selectable<NodesTable>): NodeRow {
  return {
    id: r.id,
    dataCenter: r.data_center,
    url: r.url,
    startedAt: Number(r.started_at),
    heartbeatAt: Number(r.heartbeat_at),
  };
}

/** See Store.getIdempotencyKey. */
export async function getIdempotencyKey(db: Db, accountId: string, key: string, now: number): Promise<IdempotencyHit | undefined> {
  const row = await db
    .selectFrom('idempotency_keys')
    .select(['mt_id', 'request_hash'])
    .where('account_id', '=', accountId)
    .where('idem_key', '=', key)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return row ? { mtId: Number(row.mt_id), requestHash: row.request_hash } : undefined;
}

/** See Store.getCachedUrl. */
export async function getCachedUrl(db: Db, url: string): Promise<CachedUrlRow | undefined> {
  checkUrl(url);
  const row = await db.selectFrom('url_cache').selectAll().where('url', '=', url).executeTakeFirst();
  return row ? cachedFromRow(row) : undefined;
}

/** See Store.putCachedUrl. */
export async function putCachedUrl(db: Db, row: CachedUrlRow): Promise<void> {
  checkUrl(row.url);
  if (!/^[0-9a-f]{64}$/.test(row.sha256)) throw new TypeError('cached URL sha256 must be lowercase hex');
  if (row.contentType.length > MAX_VALIDATOR) throw new RangeError(`cached contentType longer than ${MAX_VALIDATOR}`);
  const values = {
    url: row.url,
    sha256: row.sha256,
    content_type: row.contentType,
    size: row.size,
    // An oversized validator is dropped, never shortened: a wrong validator would be worse than none.
    etag: row.etag !== null && row.etag.length <= MAX_VALIDATOR ? row.etag : null,
    last_modified: row.lastModified !== null && row.lastModified.length <= MAX_VALIDATOR ? row.lastModified : null,
    fresh_until: row.freshUntil,
    fetched_at: row.fetchedAt,
  };
  const { url: _url, ...update } = values;
  await db
    .insertInto('url_cache')
    .values(values)
    .onConflict((oc) => oc.column('url').doUpdateSet(update))
    .execute();
}

/** See Store.heartbeat. */
export async function heartbeat(db: Db, node: NodeInfo, now: number): Promise<void> {
  if (!node.id || node.id.length > MAX_NODE_FIELD || node.dataCenter.length > MAX_NODE_FIELD) {
    throw new TypeError(`node id and dataCenter must be 1..${MAX_NODE_FIELD} characters`);
  }
  if (node.url !== null && node.url.length > 2048) throw new TypeError('node url longer than 2048 characters');
  const url = node.url;
  await db
    .insertInto('nodes')
    .values({ id: node.id, data_center: node.dataCenter, url, started_at: now, heartbeat_at: now })
    .onConflict((oc) => oc.column('id').doUpdateSet({ data_center: node.dataCenter, url, heartbeat_at: now }))
    .execute();
}

/** See Store.listNodes. */
export async function listNodes(db: Db, aliveSince: number): Promise<NodeRow[]> {
  const rows = await db
    .selectFrom('nodes')
    .selectAll()
    .where('heartbeat_at', '>=', aliveSince)
    .orderBy('id')
    .limit(MAX_NODES)
    .execute();
  return rows.map(nodeFromRow);
}

/**
 * See Store.purgeExpired. Each DELETE is its own short statement, so several nodes may purge at once; on the
 * backend's writer when it has one (maintenance-writes.ts).
 */
export async function purgeExpired(db: Db, now: number, w?: MaintenanceWriter): Promise<PurgeCounts> {
  // The condition is repeated outside the subquery: on PostgreSQL the DELETE re-checks, after waiting for a row
  // lock, only its own WHERE, so a key another node re-claimed meanwhile (a new expiry) would otherwise be deleted.
  const expiredKeys = db
    .deleteFrom('idempotency_keys')
    .where('expires_at', '<=', now)
    .where((eb) =>
      eb(
        eb.refTuple('account_id', 'idem_key'),
        'in',
        eb
          .selectFrom('idempotency_keys as k')
          .select(['k.account_id', 'k.idem_key'])
          .where('k.expires_at', '<=', now)
          .limit(PURGE_BATCH)
          .$asTuple('account_id', 'idem_key'),
      ),
    )
    .returning('idem_key');
  const cutoff = now - DONE_JOB_RETENTION_MS;
  const oldDoneJobs = db
    .deleteFrom('jobs')
    .where('state', '=', 'done') // repeated outside the subquery, as above
    .where('updated_at', '<', cutoff)
    .where('id', 'in', (eb) =>
      eb.selectFrom('jobs as d').select('d.id').where('d.state', '=', 'done').where('d.updated_at', '<', cutoff).limit(PURGE_BATCH),
    )
    .returning('id');
  // Reports parked before `now - PARKED_REPORT_RETENTION_MS` (their message ID never appeared).
  const parkedCutoff = now - PARKED_REPORT_RETENTION_MS;
  const oldParked = db
    .deleteFrom('parked_reports')
    .where('id', 'in', (eb) => eb.selectFrom('parked_reports as o').select('o.id').where('o.received_at', '<', parkedCutoff).limit(PURGE_BATCH))
    .returning('id');
  return {
    idempotencyKeys: await deleteInRounds(db, w, PURGE_BATCH, MAX_PURGE_ROUNDS, expiredKeys.compile()),
    doneJobs: await deleteInRounds(db, w, PURGE_BATCH, MAX_PURGE_ROUNDS, oldDoneJobs.compile()),
    parkedReports: await deleteInRounds(db, w, PURGE_BATCH, MAX_PURGE_ROUNDS, oldParked.compile()),
  };
}
