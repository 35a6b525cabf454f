// The shared state store for several replicas: PostgreSQL through a node-postgres pool. Same contract
// as the SQLite store; rows that two replicas may race on are guarded by row locks (claims use
// FOR UPDATE SKIP LOCKED) or by transaction-scoped advisory locks on the key (creates).
import pg from "pg";
import { Code, RegplaneError } from "../core/errors.js";
import { OPERATIONS_CHANNEL, OperationEventListener, type ListenerLogger } from "./postgres-listener.js";
import { SqlLifecycleStore } from "./lifecycle-sql.js";
import { POSTGRES_MIGRATIONS } from "./postgres-migrations.js";
import { migratePostgres, isConnectionError, storeUnavailable } from "./postgres-schema.js";
import { toOperationRecord, type OperationRowOf } from "./operation-row.js";
import { encodeStatus } from "./status-codec.js";
import type {
  AnyBytes,
  CreateOperationOptions,
  ImageRef,
  ListOperationsFilter,
  OperationProgress,
  OperationRecord,
  OperationState,
  RepositoryRef,
  StatusRecord,
  Store,
  StoreEvent,
} from "../core/store.js";

/** Namespace (first key) of the two-key advisory locks this store takes; layouts use their own. */
export const ADVISORY_NAMESPACE = { create: 0x52500001, layout: 0x52500002 } as const;
const PAGE_STATE_SWEEP_MS = 60_000;

type OperationRow = OperationRowOf<string, boolean>;
const COLUMNS = `id, kind, resource_id, registry_id, description, created_at, created_by, modified_at, state,
  metadata_type_url, metadata_value, params, error, response_type_url, response_value, lease_owner,
  lease_expires_at, attempts, cancel_requested`;

/** Runs `sql` and sends `payload` on the operations channel for each returned row, in one statement. */
function notifying(sql: string, prefix: string): string {
  return `WITH changed AS (${sql} RETURNING ${COLUMNS})
    SELECT changed.*, pg_notify('${OPERATIONS_CHANNEL}', '${prefix}:' || changed.id) FROM changed`;
}

/** `?` placeholders as PostgreSQL's `$1`, `$2`, … (the lifecycle SQL is written once for both stores). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

export interface PostgresStoreOptions {
  url: string;
  /** Pool size (default 10). */
  maxConnections?: number;
  logger?: ListenerLogger;
}

export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
  private readonly listener: OperationEventListener;
  private lastPageStateSweep = 0;
  private closed = false;
  readonly lifecycle = new SqlLifecycleStore({
    rows: async <R extends object>(sql: string, args: unknown[]) => (await this.query<R & pg.QueryResultRow>(numbered(sql), args)).rows,
    batch: (statements) => this.transaction(async (client) => {
      for (const s of statements) await client.query(numbered(s.sql), s.args);
    }),
  });

  private constructor(pool: pg.Pool, listener: OperationEventListener) {
    this.pool = pool;
    this.listener = listener;
  }

  /** Connects, applies pending migrations under an advisory lock, and refuses a newer schema. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const logger = options.logger ?? { warn() {} };
    const pool = new pg.Pool({ connectionString: options.url, max: options.maxConnections ?? 10, connectionTimeoutMillis: 10_000 });
    // An idle connection dropped by a server restart must not crash the process; the next query reconnects.
    pool.on("error", (err) => logger.warn({ err: { message: err.message } }, "state store connection lost"));
    try {
      await migratePostgres(pool, POSTGRES_MIGRATIONS, options.url);
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
    return new PostgresStore(pool, new OperationEventListener({ connectionString: options.url }, logger));
  }

  /** Every query goes through here so a lost database is UNAVAILABLE with a retry hint, never INTERNAL. */
  private async query<R extends pg.QueryResultRow>(sql: string, args: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, args);
    } catch (err) {
      throw isConnectionError(err) ? storeUnavailable(err) : err;
    }
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect();
    let broken = false;
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      return result;
    } catch (err) {
      broken = isConnectionError(err);
      if (!broken) await client.query("ROLLBACK").catch(() => {});
      throw broken ? storeUnavailable(err) : err;
    } finally {
      client.release(broken);
    }
  }

  watch(listener: (event: StoreEvent) => void): () => void {
    return this.listener.subscribe(listener);
  }

  async ping(): Promise<void> {
    await this.query("SELECT 1");
  }

  async recordImageIds(entries: Array<ImageRef & { id: string }>): Promise<void> {
    if (entries.length === 0) return;
    // One statement for the whole page; the last entry for an id wins, as with one upsert per entry.
    const byId = new Map(entries.map((e) => [e.id, e]));
    const rows = [...byId.values()];
    await this.query(
      `INSERT INTO image_ids (id, registry_id, repository, digest)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
       ON CONFLICT (id) DO UPDATE SET registry_id = excluded.registry_id,
         repository = excluded.repository, digest = excluded.digest
       WHERE (image_ids.registry_id, image_ids.repository, image_ids.digest)
         IS DISTINCT FROM (excluded.registry_id, excluded.repository, excluded.digest)`,
      [rows.map((r) => r.id), rows.map((r) => r.registryId), rows.map((r) => r.repository), rows.map((r) => r.digest)],
    );
  }

  async resolveImageId(id: string): Promise<ImageRef | undefined> {
    const { rows } = await this.query<{ registry_id: string; repository: string; digest: string }>(
      `SELECT registry_id, repository, digest FROM image_ids WHERE id = $1`,
      [id],
    );
    const row = rows[0];
    return row && { registryId: row.registry_id, repository: row.repository, digest: row.digest };
  }

  async recordRepositoryIds(entries: Array<RepositoryRef & { id: string }>): Promise<void> {
    if (entries.length === 0) return;
    const rows = [...new Map(entries.map((e) => [e.id, e])).values()];
    await this.query(
      `INSERT INTO repository_ids (id, registry_id, repository)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
       ON CONFLICT (id) DO UPDATE SET registry_id = excluded.registry_id, repository = excluded.repository
       WHERE (repository_ids.registry_id, repository_ids.repository) IS DISTINCT FROM (excluded.registry_id, excluded.repository)`,
      [rows.map((r) => r.id), rows.map((r) => r.registryId), rows.map((r) => r.repository)],
    );
  }

  async resolveRepositoryId(id: string): Promise<RepositoryRef | undefined> {
    const { rows } = await this.query<{ registry_id: string; repository: string }>(`SELECT registry_id, repository FROM repository_ids WHERE id = $1`, [id]);
    return rows[0] && { registryId: rows[0].registry_id, repository: rows[0].repository };
  }

  async putPageState(handle: string, state: Uint8Array, expiresAt: Date): Promise<void> {
    const now = Date.now();
    await this.query(
      `INSERT INTO page_states (handle, state, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (handle) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at`,
      [handle, Buffer.from(state), expiresAt.getTime()],
    );
    if (now - this.lastPageStateSweep >= PAGE_STATE_SWEEP_MS) {
      this.lastPageStateSweep = now;
      await this.query(`DELETE FROM page_states WHERE expires_at <= $1`, [now]);
    }
  }

  async getPageState(handle: string): Promise<Uint8Array | undefined> {
    const { rows } = await this.query<{ state: Buffer; expires_at: string }>(
      `SELECT state, expires_at FROM page_states WHERE handle = $1`,
      [handle],
    );
    const row = rows[0];
    if (!row) return undefined;
    const now = Date.now();
    if (Number(row.expires_at) <= now) {
      await this.query(`DELETE FROM page_states WHERE handle = $1 AND expires_at <= $2`, [handle, now]);
      return undefined;
    }
    return new Uint8Array(row.state);
  }

  async getSetting(name: string): Promise<string | undefined> {
    const { rows } = await this.query<{ value: string }>(`SELECT value FROM settings WHERE name = $1`, [name]);
    return rows[0]?.value;
  }

  async initSetting(name: string, value: string): Promise<string> {
    // The insert waits for a concurrent one on the same name to commit, so the select sees the winner.
    await this.query(`INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [name, value]);
    return (await this.getSetting(name))!;
  }

  async createOperation(
    op: OperationRecord,
    options: CreateOperationOptions = {},
  ): Promise<{ operation: OperationRecord; created: boolean }> {
    const { idempotency, dedupeKey } = options;
    return this.transaction(async (client) => {
      // Creates sharing a key serialize here; READ COMMITTED then shows each the one before it.
      const keys = [idempotency && JSON.stringify(["i", idempotency.caller, idempotency.key]), dedupeKey && JSON.stringify(["d", dedupeKey])]
        .filter((k): k is string => !!k)
        .sort();
      for (const key of keys) {
        await client.query(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, [ADVISORY_NAMESPACE.create, key]);
      }
      if (idempotency) {
        const hit = await client.query<OperationRow>(
          `SELECT o.* FROM idempotency_keys k JOIN operations o ON o.id = k.operation_id
           WHERE k.caller = $1 AND k.key = $2`,
          [idempotency.caller, idempotency.key],
        );
        if (hit.rows[0]) return { operation: toOperationRecord(hit.rows[0]), created: false };
      }
      let result: { operation: OperationRecord; created: boolean } | undefined;
      if (dedupeKey !== undefined) {
        const dup = await client.query<OperationRow>(`SELECT * FROM operations WHERE dedupe_key = $1 AND state <> 'done'`, [dedupeKey]);
        if (dup.rows[0]) result = { operation: toOperationRecord(dup.rows[0]), created: false };
      }
      if (!result) {
        const inserted = await this.insertOperation(client, op, dedupeKey);
        result = { operation: toOperationRecord(inserted), created: true };
      }
      if (idempotency) {
        await client.query(`INSERT INTO idempotency_keys (caller, key, operation_id) VALUES ($1, $2, $3)`, [
          idempotency.caller,
          idempotency.key,
          result.operation.id,
        ]);
      }
      return result;
    });
  }

  private async insertOperation(client: pg.PoolClient, op: OperationRecord, dedupeKey: string | undefined): Promise<OperationRow> {
    try {
      const { rows } = await client.query<OperationRow>(
        notifying(
          `INSERT INTO operations (id, kind, resource_id, registry_id, description, created_at, created_by,
             modified_at, state, metadata_type_url, metadata_value, params, error, response_type_url,
             response_value, lease_owner, lease_expires_at, attempts, cancel_requested, dedupe_key)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
          "n",
        ),
        [
          op.id,
          op.kind,
          op.resourceId,
          op.registryId,
          op.description,
          op.createdAt.getTime(),
          op.createdBy,
          op.modifiedAt.getTime(),
          op.state,
          op.metadata.typeUrl,
          Buffer.from(op.metadata.value),
          JSON.stringify(op.params ?? null),
          op.error ? encodeStatus(op.error) : null,
          op.response?.typeUrl ?? null,
          op.response ? Buffer.from(op.response.value) : null,
          op.leaseOwner ?? null,
          op.leaseExpiresAt?.getTime() ?? null,
          op.attempts,
          op.cancelRequested,
          dedupeKey ?? null,
        ],
      );
      return rows[0]!;
    } catch (err) {
      if ((err as { code?: string; constraint?: string }).code === "23505" && (err as { constraint?: string }).constraint === "operations_pkey") {
        throw new RegplaneError(Code.ALREADY_EXISTS, `operation ${JSON.stringify(op.id)} already exists`, { cause: err });
      }
      throw err;
    }
  }

  async getOperation(id: string): Promise<OperationRecord | undefined> {
    const { rows } = await this.query<OperationRow>(`SELECT * FROM operations WHERE id = $1`, [id]);
    return rows[0] && toOperationRecord(rows[0]);
  }

  async listOperations(filter: ListOperationsFilter): Promise<OperationRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const arg = (v: unknown): string => {
      args.push(v);
      return `$${args.length}`;
    };
    if (filter.resourceId !== undefined) where.push(`resource_id = ${arg(filter.resourceId)}`);
    if (filter.done !== undefined) where.push(filter.done ? "state = 'done'" : "state <> 'done'");
    if (filter.visibleTo) {
      where.push(
        `(registry_id = ANY(${arg([...filter.visibleTo.registryIds])}::text[]) OR (registry_id = '' AND created_by = ${arg(filter.visibleTo.principal)}))`,
      );
    }
    if (filter.before) {
      where.push(`(created_at, id) < (${arg(filter.before.createdAt.getTime())}::bigint, ${arg(filter.before.id)}::text)`);
    }
    const sql =
      `SELECT * FROM operations` +
      (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
      ` ORDER BY created_at DESC, id DESC LIMIT ${arg(Math.max(0, Math.floor(filter.limit)))}`;
    const { rows } = await this.query<OperationRow>(sql, args);
    return rows.map(toOperationRecord);
  }

  async claimOperation(workerId: string, leaseMs: number, now: Date): Promise<OperationRecord | undefined> {
    const at = now.getTime();
    // SKIP LOCKED: replicas claiming at once each take a different row instead of queueing on one.
    const { rows } = await this.query<OperationRow>(
      `WITH pick AS (
         SELECT id FROM operations
         WHERE state = 'pending' OR (state = 'running' AND lease_expires_at < $1)
         ORDER BY created_at, id LIMIT 1
         FOR UPDATE SKIP LOCKED)
       UPDATE operations o SET state = 'running', lease_owner = $2, lease_expires_at = $3,
         attempts = o.attempts + 1, modified_at = $1
       FROM pick WHERE o.id = pick.id RETURNING o.*`,
      [at, workerId, at + leaseMs],
    );
    return rows[0] && toOperationRecord(rows[0]);
  }

  async renewLease(id: string, workerId: string, leaseMs: number, now: Date): Promise<boolean> {
    const { rowCount } = await this.query(
      `UPDATE operations SET lease_expires_at = $1 WHERE id = $2 AND state = 'running' AND lease_owner = $3`,
      [now.getTime() + leaseMs, id, workerId],
    );
    return rowCount === 1;
  }

  async saveProgress(id: string, workerId: string, progress: OperationProgress, now: Date): Promise<boolean> {
    const { metadata, params } = progress;
    const { rowCount } = await this.query(
      `UPDATE operations SET metadata_type_url = $1, metadata_value = $2, params = $3, modified_at = $4
       WHERE id = $5 AND state = 'running' AND lease_owner = $6`,
      [metadata.typeUrl, Buffer.from(metadata.value), JSON.stringify(params), now.getTime(), id, workerId],
    );
    return rowCount === 1;
  }

  async finishOperation(
    id: string,
    workerId: string | undefined,
    result: { error?: StatusRecord; response?: AnyBytes },
    now: Date,
  ): Promise<OperationRecord | undefined> {
    const args: unknown[] = [
      result.error ? encodeStatus(result.error) : null,
      result.response?.typeUrl ?? null,
      result.response ? Buffer.from(result.response.value) : null,
      now.getTime(),
      id,
    ];
    let guard = "state = 'pending'";
    if (workerId !== undefined) {
      guard = "state = 'running' AND lease_owner = $6";
      args.push(workerId);
    }
    const { rows } = await this.query<OperationRow>(
      notifying(
        `UPDATE operations SET state = 'done', error = $1, response_type_url = $2, response_value = $3,
           lease_owner = NULL, lease_expires_at = NULL, modified_at = $4
         WHERE id = $5 AND ${guard}`,
        "f",
      ),
      args,
    );
    return rows[0] && toOperationRecord(rows[0]);
  }

  async requestCancel(id: string, error: StatusRecord, now: Date): Promise<OperationRecord | undefined> {
    return this.transaction(async (client) => {
      const pending = await client.query<OperationRow>(
        notifying(
          `UPDATE operations SET state = 'done', error = $1, cancel_requested = true, modified_at = $2
           WHERE id = $3 AND state = 'pending'`,
          "f",
        ),
        [encodeStatus(error), now.getTime(), id],
      );
      if (pending.rows[0]) return toOperationRecord(pending.rows[0]);
      // The worker may run on another replica: the notification tells it to stop now, not at its next renewal.
      const running = await client.query<OperationRow>(
        notifying(`UPDATE operations SET cancel_requested = true, modified_at = $1 WHERE id = $2 AND state = 'running'`, "c"),
        [now.getTime(), id],
      );
      if (running.rows[0]) return toOperationRecord(running.rows[0]);
      const current = await client.query<OperationRow>(`SELECT * FROM operations WHERE id = $1`, [id]);
      return current.rows[0] && toOperationRecord(current.rows[0]);
    });
  }

  async purgeFinished(before: Date): Promise<number> {
    const { rowCount } = await this.query(`DELETE FROM operations WHERE state = 'done' AND modified_at < $1`, [before.getTime()]);
    return rowCount ?? 0;
  }

  async countOperations(): Promise<Record<OperationState, number>> {
    const counts: Record<OperationState, number> = { pending: 0, running: 0, done: 0 };
    const { rows } = await this.query<{ state: OperationState; n: string }>(`SELECT state, count(*) AS n FROM operations GROUP BY state`);
    for (const row of rows) counts[row.state] = Number(row.n);
    return counts;
  }

  /**
   * A connection of its own (transactions, advisory locks). While checked out, a dropped connection
   * emits "error" on it, which would end the process unheard; the failing query reports it instead.
   */
  async connect(): Promise<pg.PoolClient> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw isConnectionError(err) ? storeUnavailable(err) : err;
    }
    const onError = (): void => {};
    client.on("error", onError);
    const release = client.release.bind(client);
    client.release = (destroy?: boolean | Error) => {
      client.removeListener("error", onError);
      client.release = release;
      return release(destroy);
    };
    return client;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.listener.close();
    await this.pool.end();
  }
}
