/**
 * Schema migrations: a versioned list applied in order, each in its own transaction, recorded in
 * `schema_migrations`. Never edit a released migration; append a new one.
 */
import { sql, type Kysely } from 'kysely';
import type { DdlTypes, StoreDialect } from './dialect.ts';
import type { Database } from './schema.ts';

/** First id handed out by the "mt" and "mo" sequences: 15 digits, like OpenMarket's mtIds. */
export const FIRST_SEQUENCE_ID = 100_000_000_000_000;

/** One schema step. */
export interface Migration {
  version: number;
  name: string;
  /** DDL statements (run in order inside one transaction). */
  statements(t: DdlTypes): string[];
}

/** Parts of MT and MO messages: same shape, separate tables keyed by their own id space. */
function partsTable(name: string, t: DdlTypes): string {
  return `CREATE TABLE ${name} (
    msg_id ${t.bigint} NOT NULL,
    seq ${t.int} NOT NULL,
    content_type ${t.text} NOT NULL,
    content_id ${t.text} NOT NULL,
    sha256 ${t.text},
    size ${t.bigint} NOT NULL,
    remote_url ${t.text},
    PRIMARY KEY (msg_id, seq)
  )`;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    statements: (t) => [
      `CREATE TABLE sequences (name ${t.text} PRIMARY KEY, next ${t.bigint} NOT NULL)`,
      `INSERT INTO sequences (name, next) VALUES ('mt', ${FIRST_SEQUENCE_ID}), ('mo', ${FIRST_SEQUENCE_ID})`,
      `CREATE TABLE mt_messages (
        mt_id ${t.bigint} PRIMARY KEY,
        account_id ${t.text} NOT NULL,
        request_id ${t.text} NOT NULL,
        source ${t.text} NOT NULL,
        destination ${t.text} NOT NULL,
        mt_config ${t.text} NOT NULL,
        subject ${t.text},
        operator_id ${t.int} NOT NULL,
        state ${t.text} NOT NULL,
        state_rank ${t.int} NOT NULL,
        status ${t.text},
        outcome_id ${t.int},
        outcome_description ${t.text},
        user_agent ${t.text},
        operator_message_id ${t.text},
        created_at ${t.bigint} NOT NULL,
        updated_at ${t.bigint} NOT NULL
      )`,
      `CREATE INDEX mt_messages_operator_msg ON mt_messages (operator_id, operator_message_id)
        WHERE operator_message_id IS NOT NULL`,
      partsTable('mt_parts', t),
      `CREATE TABLE blobs (sha256 ${t.text} PRIMARY KEY, bytes ${t.blob} NOT NULL, size ${t.bigint} NOT NULL)`,
      `CREATE TABLE mo_messages (
        mo_id ${t.bigint} PRIMARY KEY,
        operator_id ${t.int} NOT NULL,
        source ${t.text} NOT NULL,
        destinations ${t.json} NOT NULL,
        ccs ${t.json} NOT NULL,
        bccs ${t.json} NOT NULL,
        subject ${t.text},
        user_agent ${t.text},
        account_id ${t.text},
        number ${t.text},
        state ${t.text} NOT NULL,
        operator_message_id ${t.text},
        received_at ${t.bigint} NOT NULL,
        updated_at ${t.bigint} NOT NULL
      )`,
      partsTable('mo_parts', t),
      `CREATE TABLE events (
        id ${t.autoId},
        ref_kind ${t.text} NOT NULL,
        ref_id ${t.bigint} NOT NULL,
        at ${t.bigint} NOT NULL,
        type ${t.text} NOT NULL,
        node ${t.text} NOT NULL,
        detail ${t.json} NOT NULL
      )`,
      `CREATE INDEX events_ref ON events (ref_kind, ref_id, id)`,
      `CREATE TABLE jobs (
        id ${t.autoId},
        kind ${t.text} NOT NULL,
        ref_id ${t.bigint} NOT NULL,
        order_key ${t.text},
        payload ${t.json} NOT NULL,
        state ${t.text} NOT NULL,
        run_at ${t.bigint} NOT NULL,
        attempts ${t.int} NOT NULL,
        first_attempt_at ${t.bigint},
        lease_owner ${t.text},
        lease_expires_at ${t.bigint},
        last_error ${t.text},
        created_at ${t.bigint} NOT NULL,
        updated_at ${t.bigint} NOT NULL
      )`,
      // The claim query scans ready jobs of some kinds by (run_at, id); partial indexes stay small as jobs finish.
      `CREATE INDEX jobs_claim ON jobs (kind, run_at, id) WHERE state = 'ready'`,
      // "Is there an older ready job with my order_key?"
      `CREATE INDEX jobs_order ON jobs (order_key, id) WHERE state = 'ready' AND order_key IS NOT NULL`,
      `CREATE INDEX jobs_ref ON jobs (ref_id)`,
      `CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL`,
      `CREATE INDEX jobs_state ON jobs (state, id)`,
      `CREATE TABLE handset_messages (
        id ${t.autoId},
        number ${t.text} NOT NULL,
        mt_id ${t.bigint} NOT NULL,
        source ${t.text} NOT NULL,
        subject ${t.text},
        received_at ${t.bigint} NOT NULL,
        parts ${t.json} NOT NULL
      )`,
      `CREATE INDEX handset_messages_number ON handset_messages (number, id)`,
      `CREATE TABLE inbox (
        id ${t.autoId},
        box ${t.text} NOT NULL,
        received_at ${t.bigint} NOT NULL,
        headers ${t.json} NOT NULL,
        content_type ${t.text} NOT NULL,
        body ${t.blob} NOT NULL
      )`,
      `CREATE INDEX inbox_box ON inbox (box, id)`,
      `CREATE TABLE nodes (
        id ${t.text} PRIMARY KEY,
        data_center ${t.text} NOT NULL,
        started_at ${t.bigint} NOT NULL,
        heartbeat_at ${t.bigint} NOT NULL
      )`,
    ],
  },
  {
    version: 2,
    name: 'idempotency-url-cache-node-url',
    statements: (t) => [
      // The primary key is what makes concurrent claims of one key race-safe: INSERT ... ON CONFLICT waits for
      // the other transaction and then sees its row.
      `CREATE TABLE idempotency_keys (
        account_id ${t.text} NOT NULL,
        idem_key ${t.text} NOT NULL,
        request_hash ${t.text} NOT NULL,
        mt_id ${t.bigint} NOT NULL,
        expires_at ${t.bigint} NOT NULL,
        created_at ${t.bigint} NOT NULL,
        PRIMARY KEY (account_id, idem_key)
      )`,
      `CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at)`,
      `CREATE TABLE url_cache (
        url ${t.text} PRIMARY KEY,
        sha256 ${t.text} NOT NULL,
        content_type ${t.text} NOT NULL,
        size ${t.bigint} NOT NULL,
        etag ${t.text},
        last_modified ${t.text},
        fresh_until ${t.bigint} NOT NULL,
        fetched_at ${t.bigint} NOT NULL
      )`,
      `ALTER TABLE nodes ADD COLUMN url ${t.text}`,
      `CREATE INDEX nodes_heartbeat ON nodes (heartbeat_at)`,
      // Purging finished jobs by age without scanning the live queue.
      `CREATE INDEX jobs_done_updated ON jobs (updated_at, id) WHERE state = 'done'`,
    ],
  },
  {
    version: 3,
    name: 'leaner-job-indexes',
    // Every job is inserted, claimed and resolved once; each index whose columns change costs a B-tree update and a
    // dirty page per commit (two for a key that moves). jobs_state (state, id) moved on every resolution and
    // jobs_lease_owner on every claim and resolution, for queries that are rare: dead-letter listings get a
    // partial index that normal traffic never touches; ready jobs are listed through jobs_claim (same predicate);
    // releasing a node's leases at shutdown scans the ready jobs.
    statements: () => [
      `DROP INDEX jobs_state`,
      `DROP INDEX jobs_lease_owner`,
      `CREATE INDEX jobs_dead ON jobs (id) WHERE state = 'dead'`,
    ],
  },
  {
    version: 4,
    name: 'mt-parts-in-message-row',
    // Every accepted MT wrote a message row and, in mt_parts, a part row: a second INSERT, B-tree and dirty page per
    // commit on the hot path, and every load of an MT read both tables. MT parts are only ever written and read with
    // their message, so they move into it as a JSON array (rows.ts mtPartsJson). MO parts keep their table.
    statements: (t) => [
      `ALTER TABLE mt_messages ADD COLUMN parts ${t.json} NOT NULL DEFAULT '[]'`,
      `UPDATE mt_messages SET parts = (
         SELECT ${t.jsonArrayAgg(
           t.jsonObject([
             ['contentType', 'p.content_type'],
             ['contentId', 'p.content_id'],
             ['sha256', 'p.sha256'],
             ['size', 'p.size'],
             ['remoteUrl', 'p.remote_url'],
           ]),
           'p.seq',
         )}
         FROM mt_parts p WHERE p.msg_id = mt_messages.mt_id)
       WHERE EXISTS (SELECT 1 FROM mt_parts p WHERE p.msg_id = mt_messages.mt_id)`,
      `DROP TABLE mt_parts`,
    ],
  },
  {
    version: 5,
    name: 'mo-operator-message-id-index',
    // An operator's resend of an MO (its DeliverReq again, same LinkedID) is looked up by this pair before a new MO
    // is created (pipeline/inbound-sink.ts).
    statements: () => [
      `CREATE INDEX mo_messages_operator_msg ON mo_messages (operator_id, operator_message_id)
        WHERE operator_message_id IS NOT NULL`,
    ],
  },
  {
    version: 6,
    name: 'parked-reports',
    // A delivery report whose MessageID matches no message yet (it overtook the commit of our SubmitRsp by more than
    // the inbound sink's short wait) is kept here and applied once the message carries that ID
    // (pipeline/inbound-sink.ts), instead of being refused and, by MMSCs that do not resend, lost.
    statements: (t) => [
      `CREATE TABLE parked_reports (
        id ${t.autoId},
        operator_id ${t.int} NOT NULL,
        operator_message_id ${t.text} NOT NULL,
        report ${t.json} NOT NULL,
        received_at ${t.bigint} NOT NULL
      )`,
      `CREATE INDEX parked_reports_msg ON parked_reports (operator_id, operator_message_id)`,
      `CREATE INDEX parked_reports_received ON parked_reports (received_at)`,
    ],
  },
  {
    version: 7,
    name: 'retention',
    // Messages past the configured retention are deleted, and then the blobs nothing references any more
    // (retention.ts). Old messages are found by their creation time (one more index entry per message: measured as
    // noise on the accept path, and exact where id order only approximates time). MT parts live in a JSON column, so
    // "is this blob referenced" is not a query an index answers; each blob instead carries a lower bound of when a
    // message last brought it (blob-cache.ts). Blobs stored before this migration count as brought now (a constant
    // default: no rewrite of the stored bytes), so they get a whole retention period from the upgrade.
    statements: (t) => [
      `CREATE INDEX mt_messages_created ON mt_messages (created_at)`,
      `CREATE INDEX mo_messages_received ON mo_messages (received_at)`,
      `ALTER TABLE blobs ADD COLUMN last_ref_at ${t.bigint} NOT NULL DEFAULT ${Date.now()}`,
      `CREATE INDEX blobs_last_ref ON blobs (last_ref_at, sha256)`,
      // The sweep keeps blobs a cached URL still names; stale cache rows go by age.
      `CREATE INDEX url_cache_sha256 ON url_cache (sha256)`,
      `CREATE INDEX url_cache_fetched ON url_cache (fetched_at)`,
    ],
  },
  {
    version: 8,
    name: 'jobs-passed-on',
    // A job that names an operator or account this node's configuration lacks is passed on to the other nodes: due
    // at once for them, not claimable by the nodes that passed it on until passed_until (pipeline/not-configured-here.ts,
    // store/job-passing.ts). Nullable columns with no default: adding them rewrites no row on either backend, and no
    // index changes (the claim checks them on the rows it already reads through jobs_claim).
    statements: (t) => [
      `ALTER TABLE jobs ADD COLUMN passed_by ${t.text}`,
      `ALTER TABLE jobs ADD COLUMN passed_until ${t.bigint}`,
    ],
  },
];

/** The store's schema was upgraded by a newer release than this one: this code must not run on it. */
export class SchemaTooNewError extends Error {
  constructor(readonly found: number, readonly known: number) {
    super(
      `the store's schema is version ${found}, newer than this mmsgate knows (${known}): a newer release has upgraded ` +
        'it; run that release (nodes of two releases on one database are not supported, docs/deployment.md)',
    );
    this.name = 'SchemaTooNewError';
  }
}

/** Apply pending migrations. Returns the versions applied by this call. */
export async function runMigrations(
  db: Kysely<Database>,
  dialect: StoreDialect,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  return db.connection().execute((pinned) => dialect.withMigrationLock(pinned, async (conn) => {
    const t = dialect.ddl;
    await sql
      .raw(
        `CREATE TABLE IF NOT EXISTS schema_migrations (version ${t.int} PRIMARY KEY, name ${t.text} NOT NULL, ` +
          `applied_at ${t.bigint} NOT NULL)`,
      )
      .execute(conn);
    // A database a newer release has upgraded may lack what this code uses (release 4 dropped mt_parts): a node of
    // the older release would still pass its health check, then fail every send and burn the attempts of the jobs
    // it claims from the newer nodes. Refused before anything is applied or served.
    const known = Math.max(0, ...migrations.map((m) => m.version));
    const newest = await conn
      .selectFrom('schema_migrations')
      .select((eb) => eb.fn.max('version').as('v'))
      .executeTakeFirst();
    const found = Number(newest?.v ?? 0);
    if (found > known) throw new SchemaTooNewError(found, known);
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      // Check and apply inside one write transaction so a concurrent migrator (another process on the same SQLite
      // file) cannot apply the same step twice.
      const done = await inTransaction(conn, dialect.beginWrite, async () => {
        const row = await conn
          .selectFrom('schema_migrations')
          .select('version')
          .where('version', '=', m.version)
          .executeTakeFirst();
        if (row) return false;
        for (const stmt of m.statements(t)) await sql.raw(stmt).execute(conn);
        await conn
          .insertInto('schema_migrations')
          .values({ version: m.version, name: m.name, applied_at: Date.now() })
          .execute();
        return true;
      });
      if (done) applied.push(m.version);
    }
    return applied;
  }));
}

/**
 * Run `fn` between `begin` and COMMIT on a connection that the caller pinned (kysely `db.connection()`), rolling
 * back on error. Used instead of kysely's transaction() so SQLite can BEGIN IMMEDIATE.
 */
export async function inTransaction<T>(conn: Kysely<Database>, begin: string, fn: () => Promise<T>): Promise<T> {
  await sql.raw(begin).execute(conn);
  try {
    const result = await fn();
    await sql.raw('COMMIT').execute(conn);
    return result;
  } catch (err) {
    // Also after a failed COMMIT: SQLite keeps the transaction open when COMMIT fails (SQLITE_BUSY).
    await sql.raw('ROLLBACK').execute(conn).catch(() => {});
    throw err;
  }
}
