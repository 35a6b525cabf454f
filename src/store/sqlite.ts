// Kept as one file: one Store implementation, its statements mirroring postgres.ts one for one.
// The embedded state store: one SQLite file in the data directory, opened with better-sqlite3.
// better-sqlite3 is synchronous, so each method runs to completion before the next starts in this
// process; writes that read first use BEGIN IMMEDIATE so other processes on the same file serialize too.
// Its statements mirror postgres.ts; the schema is in sqlite-migrations.ts.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { StartupError } from "../core/config.js";
import { Code, RegplaneError } from "../core/errors.js";
import { SqlLifecycleStore } from "./lifecycle-sql.js";
import { SQLITE_MIGRATIONS } from "./sqlite-migrations.js";
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
} from "../core/store.js";

/** How long a connection waits for another process's write lock before failing. */
const BUSY_TIMEOUT_MS = 10_000;
/** Expired page states are swept at most this often, on a write. */
const PAGE_STATE_SWEEP_MS = 60_000;

type OperationRow = OperationRowOf<number, number> & { dedupe_key: string | null };

/** A plain Uint8Array copy, so callers never hold a Buffer over SQLite's memory. */
function bytes(b: Buffer): Uint8Array {
  return new Uint8Array(b);
}

function isConstraintError(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private lastPageStateSweep = 0;
  /** listOperations statements by SQL text; there are only a dozen filter shapes. */
  private readonly listStatements = new Map<string, Database.Statement<Array<string | number>, OperationRow>>();
  private closed = false;
  readonly lifecycle: SqlLifecycleStore;

  private readonly stmt: {
    upsertImageId: Database.Statement;
    resolveImageId: Database.Statement<[string], { registry_id: string; repository: string; digest: string }>;
    upsertRepositoryId: Database.Statement;
    resolveRepositoryId: Database.Statement<[string], { registry_id: string; repository: string }>;
    putPageState: Database.Statement;
    getPageState: Database.Statement<[string], { state: Buffer; expires_at: number }>;
    deletePageState: Database.Statement;
    sweepPageStates: Database.Statement;
    getSetting: Database.Statement<[string], { value: string }>;
    initSetting: Database.Statement;
    getOperation: Database.Statement<[string], OperationRow>;
    insertOperation: Database.Statement;
    findIdempotency: Database.Statement<[string, string], { operation_id: string }>;
    insertIdempotency: Database.Statement;
    findDedupe: Database.Statement<[string], OperationRow>;
    oldestPending: Database.Statement<[], OperationRow>;
    oldestExpired: Database.Statement<[number], OperationRow>;
    claim: Database.Statement;
    renewLease: Database.Statement;
    saveProgress: Database.Statement;
    finishClaimed: Database.Statement<[string | null, string | null, Buffer | null, number, string, string], OperationRow>;
    finishPending: Database.Statement<[string | null, string | null, Buffer | null, number, string], OperationRow>;
    cancelPending: Database.Statement<[string, number, string], OperationRow>;
    cancelRunning: Database.Statement<[number, string], OperationRow>;
    purgeFinished: Database.Statement;
    countOperations: Database.Statement<[], { state: OperationState; n: number }>;
  };

  constructor(file: string) {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    // `timeout` is SQLite's busy_timeout: wait for another process's lock instead of failing at once.
    this.db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    try {
      this.db.pragma("journal_mode = WAL");
      // WAL with NORMAL may lose the last commits on power loss; an accepted operation must survive that.
      this.db.pragma("synchronous = FULL");
      this.db.pragma("foreign_keys = ON");
      this.migrate();
    } catch (err) {
      this.db.close();
      throw err;
    }

    const db = this.db;
    this.lifecycle = new SqlLifecycleStore({
      rows: async <R extends object>(sql: string, args: unknown[]) => db.prepare<unknown[], R>(sql).all(...args),
      batch: async (statements) => db.transaction(() => statements.forEach((s) => db.prepare(s.sql).run(...s.args)))(),
    });
    this.stmt = {
      upsertImageId: db.prepare(
        `INSERT INTO image_ids (id, registry_id, repository, digest) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET registry_id = excluded.registry_id,
           repository = excluded.repository, digest = excluded.digest`,
      ),
      resolveImageId: db.prepare(`SELECT registry_id, repository, digest FROM image_ids WHERE id = ?`),
      upsertRepositoryId: db.prepare(
        `INSERT INTO repository_ids (id, registry_id, repository) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET registry_id = excluded.registry_id, repository = excluded.repository`,
      ),
      resolveRepositoryId: db.prepare(`SELECT registry_id, repository FROM repository_ids WHERE id = ?`),
      putPageState: db.prepare(
        `INSERT INTO page_states (handle, state, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (handle) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at`,
      ),
      getPageState: db.prepare(`SELECT state, expires_at FROM page_states WHERE handle = ?`),
      deletePageState: db.prepare(`DELETE FROM page_states WHERE handle = ? AND expires_at <= ?`),
      sweepPageStates: db.prepare(`DELETE FROM page_states WHERE expires_at <= ?`),
      getSetting: db.prepare(`SELECT value FROM settings WHERE name = ?`),
      initSetting: db.prepare(`INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`),
      getOperation: db.prepare(`SELECT * FROM operations WHERE id = ?`),
      insertOperation: db.prepare(
        `INSERT INTO operations (id, kind, resource_id, registry_id, description, created_at, created_by,
           modified_at, state, metadata_type_url, metadata_value, params, error, response_type_url,
           response_value, lease_owner, lease_expires_at, attempts, cancel_requested, dedupe_key)
         VALUES (@id, @kind, @resource_id, @registry_id, @description, @created_at, @created_by,
           @modified_at, @state, @metadata_type_url, @metadata_value, @params, @error, @response_type_url,
           @response_value, @lease_owner, @lease_expires_at, @attempts, @cancel_requested, @dedupe_key)`,
      ),
      findIdempotency: db.prepare(`SELECT operation_id FROM idempotency_keys WHERE caller = ? AND key = ?`),
      insertIdempotency: db.prepare(
        `INSERT INTO idempotency_keys (caller, key, operation_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      findDedupe: db.prepare(`SELECT * FROM operations WHERE dedupe_key = ? AND state <> 'done'`),
      oldestPending: db.prepare(
        `SELECT * FROM operations WHERE state = 'pending' ORDER BY created_at, id LIMIT 1`,
      ),
      oldestExpired: db.prepare(
        `SELECT * FROM operations WHERE state = 'running' AND lease_expires_at < ?
         ORDER BY created_at, id LIMIT 1`,
      ),
      claim: db.prepare(
        `UPDATE operations SET state = 'running', lease_owner = ?, lease_expires_at = ?,
           attempts = attempts + 1, modified_at = ? WHERE id = ?`,
      ),
      renewLease: db.prepare(
        `UPDATE operations SET lease_expires_at = ? WHERE id = ? AND state = 'running' AND lease_owner = ?`,
      ),
      saveProgress: db.prepare(
        `UPDATE operations SET metadata_type_url = ?, metadata_value = ?, params = ?, modified_at = ?
         WHERE id = ? AND state = 'running' AND lease_owner = ?`,
      ),
      finishClaimed: db.prepare(
        `UPDATE operations SET state = 'done', error = ?, response_type_url = ?, response_value = ?,
           lease_owner = NULL, lease_expires_at = NULL, modified_at = ?
         WHERE id = ? AND state = 'running' AND lease_owner = ? RETURNING *`,
      ),
      finishPending: db.prepare(
        `UPDATE operations SET state = 'done', error = ?, response_type_url = ?, response_value = ?,
           lease_owner = NULL, lease_expires_at = NULL, modified_at = ?
         WHERE id = ? AND state = 'pending' RETURNING *`,
      ),
      cancelPending: db.prepare(
        `UPDATE operations SET state = 'done', error = ?, cancel_requested = 1, modified_at = ?
         WHERE id = ? AND state = 'pending' RETURNING *`,
      ),
      cancelRunning: db.prepare(
        `UPDATE operations SET cancel_requested = 1, modified_at = ?
         WHERE id = ? AND state = 'running' RETURNING *`,
      ),
      purgeFinished: db.prepare(`DELETE FROM operations WHERE state = 'done' AND modified_at < ?`),
      countOperations: db.prepare(`SELECT state, count(*) AS n FROM operations GROUP BY state`),
    };
  }

  private migrate(): void {
    const run = this.db.transaction(() => {
      // Read inside the write transaction, so two processes opening a new file migrate once.
      const version = this.db.pragma("user_version", { simple: true }) as number;
      if (version > SQLITE_MIGRATIONS.length) {
        throw new RegplaneError(
          Code.FAILED_PRECONDITION,
          `state store schema version ${version} is newer than this regplane understands (${SQLITE_MIGRATIONS.length})`,
        );
      }
      for (let v = version; v < SQLITE_MIGRATIONS.length; v++) {
        this.db.exec(SQLITE_MIGRATIONS[v]);
        this.db.pragma(`user_version = ${v + 1}`);
      }
    });
    run.immediate();
  }

  async recordImageIds(entries: Array<ImageRef & { id: string }>): Promise<void> {
    if (entries.length === 0) return;
    this.db.transaction(() => {
      for (const e of entries) this.stmt.upsertImageId.run(e.id, e.registryId, e.repository, e.digest);
    })();
  }

  async resolveImageId(id: string): Promise<ImageRef | undefined> {
    const row = this.stmt.resolveImageId.get(id);
    return row && { registryId: row.registry_id, repository: row.repository, digest: row.digest };
  }

  async recordRepositoryIds(entries: Array<RepositoryRef & { id: string }>): Promise<void> {
    if (entries.length === 0) return;
    this.db.transaction(() => {
      for (const e of entries) this.stmt.upsertRepositoryId.run(e.id, e.registryId, e.repository);
    })();
  }

  async resolveRepositoryId(id: string): Promise<RepositoryRef | undefined> {
    const row = this.stmt.resolveRepositoryId.get(id);
    return row && { registryId: row.registry_id, repository: row.repository };
  }

  async putPageState(handle: string, state: Uint8Array, expiresAt: Date): Promise<void> {
    const now = Date.now();
    this.stmt.putPageState.run(handle, Buffer.from(state), expiresAt.getTime());
    if (now - this.lastPageStateSweep >= PAGE_STATE_SWEEP_MS) {
      this.lastPageStateSweep = now;
      this.stmt.sweepPageStates.run(now);
    }
  }

  async getPageState(handle: string): Promise<Uint8Array | undefined> {
    const row = this.stmt.getPageState.get(handle);
    if (!row) return undefined;
    const now = Date.now();
    if (row.expires_at <= now) {
      this.stmt.deletePageState.run(handle, now);
      return undefined;
    }
    return bytes(row.state);
  }

  async getSetting(name: string): Promise<string | undefined> {
    return this.stmt.getSetting.get(name)?.value;
  }

  async initSetting(name: string, value: string): Promise<string> {
    return this.db
      .transaction(() => {
        this.stmt.initSetting.run(name, value);
        return this.stmt.getSetting.get(name)!.value;
      })
      .immediate();
  }

  async createOperation(
    op: OperationRecord,
    options: CreateOperationOptions = {},
  ): Promise<{ operation: OperationRecord; created: boolean }> {
    const { idempotency, dedupeKey } = options;
    const create = this.db.transaction((): { operation: OperationRecord; created: boolean } => {
      if (idempotency) {
        const hit = this.stmt.findIdempotency.get(idempotency.caller, idempotency.key);
        const existing = hit && this.stmt.getOperation.get(hit.operation_id);
        if (existing) return { operation: toOperationRecord(existing), created: false };
      }
      let result: { operation: OperationRecord; created: boolean };
      const duplicate = dedupeKey === undefined ? undefined : this.stmt.findDedupe.get(dedupeKey);
      if (duplicate) {
        result = { operation: toOperationRecord(duplicate), created: false };
      } else {
        this.insertOperation(op, dedupeKey);
        result = { operation: toOperationRecord(this.stmt.getOperation.get(op.id)!), created: true };
      }
      // A retry with the same key must get this operation even when it was a dedupe hit.
      if (idempotency) this.stmt.insertIdempotency.run(idempotency.caller, idempotency.key, result.operation.id);
      return result;
    });
    return create.immediate();
  }

  private insertOperation(op: OperationRecord, dedupeKey: string | undefined): void {
    try {
      this.stmt.insertOperation.run({
        id: op.id,
        kind: op.kind,
        resource_id: op.resourceId,
        registry_id: op.registryId,
        description: op.description,
        created_at: op.createdAt.getTime(),
        created_by: op.createdBy,
        modified_at: op.modifiedAt.getTime(),
        state: op.state,
        metadata_type_url: op.metadata.typeUrl,
        metadata_value: Buffer.from(op.metadata.value),
        params: JSON.stringify(op.params ?? null),
        error: op.error ? encodeStatus(op.error) : null,
        response_type_url: op.response?.typeUrl ?? null,
        response_value: op.response ? Buffer.from(op.response.value) : null,
        lease_owner: op.leaseOwner ?? null,
        lease_expires_at: op.leaseExpiresAt?.getTime() ?? null,
        attempts: op.attempts,
        cancel_requested: op.cancelRequested ? 1 : 0,
        dedupe_key: dedupeKey ?? null,
      });
    } catch (err) {
      if (isConstraintError(err, "SQLITE_CONSTRAINT_PRIMARYKEY")) {
        throw new RegplaneError(Code.ALREADY_EXISTS, `operation ${JSON.stringify(op.id)} already exists`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  async getOperation(id: string): Promise<OperationRecord | undefined> {
    const row = this.stmt.getOperation.get(id);
    return row && toOperationRecord(row);
  }

  async listOperations(filter: ListOperationsFilter): Promise<OperationRecord[]> {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (filter.resourceId !== undefined) {
      where.push("resource_id = ?");
      args.push(filter.resourceId);
    }
    if (filter.done !== undefined) where.push(filter.done ? "state = 'done'" : "state <> 'done'");
    if (filter.visibleTo) {
      // One statement whatever the number of registries: the ids travel as one JSON array.
      where.push("(registry_id IN (SELECT value FROM json_each(?)) OR (registry_id = '' AND created_by = ?))");
      args.push(JSON.stringify(filter.visibleTo.registryIds), filter.visibleTo.principal);
    }
    if (filter.before) {
      where.push("(created_at, id) < (?, ?)");
      args.push(filter.before.createdAt.getTime(), filter.before.id);
    }
    const sql =
      `SELECT * FROM operations` +
      (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
      ` ORDER BY created_at DESC, id DESC LIMIT ?`;
    args.push(Math.max(0, Math.floor(filter.limit)));
    let stmt = this.listStatements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare<Array<string | number>, OperationRow>(sql);
      this.listStatements.set(sql, stmt);
    }
    return stmt.all(...args).map(toOperationRecord);
  }

  async claimOperation(workerId: string, leaseMs: number, now: Date): Promise<OperationRecord | undefined> {
    const at = now.getTime();
    const claim = this.db.transaction((): OperationRecord | undefined => {
      const pending = this.stmt.oldestPending.get();
      const expired = this.stmt.oldestExpired.get(at);
      const pick = !pending ? expired : !expired ? pending : olderRow(pending, expired);
      if (!pick) return undefined;
      this.stmt.claim.run(workerId, at + leaseMs, at, pick.id);
      return toOperationRecord(this.stmt.getOperation.get(pick.id)!);
    });
    return claim.immediate();
  }

  async renewLease(id: string, workerId: string, leaseMs: number, now: Date): Promise<boolean> {
    return this.stmt.renewLease.run(now.getTime() + leaseMs, id, workerId).changes === 1;
  }

  async saveProgress(id: string, workerId: string, progress: OperationProgress, now: Date): Promise<boolean> {
    const { metadata, params } = progress;
    return this.stmt.saveProgress.run(metadata.typeUrl, Buffer.from(metadata.value), JSON.stringify(params), now.getTime(), id, workerId).changes === 1;
  }

  async finishOperation(
    id: string,
    workerId: string | undefined,
    result: { error?: StatusRecord; response?: AnyBytes },
    now: Date,
  ): Promise<OperationRecord | undefined> {
    const error = result.error ? encodeStatus(result.error) : null;
    const typeUrl = result.response?.typeUrl ?? null;
    const value = result.response ? Buffer.from(result.response.value) : null;
    const row =
      workerId === undefined
        ? this.stmt.finishPending.get(error, typeUrl, value, now.getTime(), id)
        : this.stmt.finishClaimed.get(error, typeUrl, value, now.getTime(), id, workerId);
    return row && toOperationRecord(row);
  }

  async requestCancel(id: string, error: StatusRecord, now: Date): Promise<OperationRecord | undefined> {
    const cancel = this.db.transaction((): OperationRecord | undefined => {
      const row =
        this.stmt.cancelPending.get(encodeStatus(error), now.getTime(), id) ??
        this.stmt.cancelRunning.get(now.getTime(), id) ??
        this.stmt.getOperation.get(id);
      return row && toOperationRecord(row);
    });
    return cancel.immediate();
  }

  async purgeFinished(before: Date): Promise<number> {
    // Idempotency rows go with their operation (ON DELETE CASCADE).
    return this.stmt.purgeFinished.run(before.getTime()).changes;
  }

  async countOperations(): Promise<Record<OperationState, number>> {
    const counts: Record<OperationState, number> = { pending: 0, running: 0, done: 0 };
    for (const row of this.stmt.countOperations.all()) counts[row.state] = row.n;
    return counts;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

function olderRow(a: OperationRow, b: OperationRow): OperationRow {
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? a : b;
  return a.id < b.id ? a : b;
}

/** Opens (creating if needed) the store file and brings its schema up to date. */
export function openSqliteStore(file: string): SqliteStore {
  return new SqliteStore(file);
}

/** openSqliteStore for start-up: a file that cannot be used is a StartupError naming it and what to do. */
export function openSqliteStateFile(file: string): SqliteStore {
  try {
    return openSqliteStore(file);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const cause = (err as Error).message;
    if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") {
      throw new StartupError(
        `state file ${file} is not a regplane database or is damaged (${cause}); restore it from a backup, or move it aside to start with empty state (operations and page tokens are lost)`,
      );
    }
    if (code === "SQLITE_CANTOPEN" || code === "SQLITE_READONLY" || code === "SQLITE_PERM" || code === "EACCES" || code === "EROFS") {
      throw new StartupError(`state file ${file} cannot be opened for writing (${cause}); check that the user regplane runs as may write it and its directory`);
    }
    if (code === "SQLITE_BUSY") throw new StartupError(`state file ${file} is locked by another process (${cause}); stop it, or pass another --data-dir`);
    if (err instanceof RegplaneError) throw new StartupError(`state file ${file}: ${cause}; run a newer regplane, or restore the file from a backup`);
    throw new StartupError(`state file ${file} cannot be opened (${cause}); restore it from a backup, or move it aside to start with empty state`);
  }
}
