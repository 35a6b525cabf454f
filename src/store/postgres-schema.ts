// Start-up of the PostgreSQL store: reaching the server, and versioned migrations applied by whichever
// replica takes the advisory lock first; the others wait on it and then find nothing left to do.
import type pg from "pg";
import { ConfigError } from "../core/config.js";
import { Code, RegplaneError } from "../core/errors.js";

/** Key of the session-independent advisory lock that serializes migrations across replicas. */
const MIGRATION_LOCK = 0x5250_0000;
const RETRY_DELAY_MS = 1000;

/**
 * The database cannot be reached at start. A ConfigError, so the process exits 2 with one line;
 * the message names host and port only (the URL may hold a password).
 */
export class StateStoreUnreachableError extends ConfigError {
  constructor(where: string, reason: string) {
    super(`cannot reach the PostgreSQL state store at ${where}: ${reason}`);
    this.name = "StateStoreUnreachableError";
  }
}

/** host:port/database of a PostgreSQL URL, without user or password. */
export function describeDatabase(url: string): string {
  try {
    const u = new URL(url);
    const host = u.hostname || u.searchParams.get("host") || "localhost";
    return `${host}:${u.port || "5432"}${u.pathname}`;
  } catch {
    return "(unparsable URL)";
  }
}

/** Errors that mean "the database is not there right now", as opposed to a bad statement. */
export function isConnectionError(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") {
    // 08: connection exception; 57P01-03: admin shutdown, crash shutdown, cannot connect now.
    if (code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03") return true;
    if (["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EHOSTUNREACH", "ETIMEDOUT", "EPIPE", "EAI_AGAIN"].includes(code)) return true;
  }
  const message = (err as { message?: unknown }).message;
  return typeof message === "string" && /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message);
}

export function storeUnavailable(cause: unknown): RegplaneError {
  return new RegplaneError(Code.UNAVAILABLE, "the state store is unreachable; retry shortly", { cause, retryDelayMs: RETRY_DELAY_MS });
}

function reasonOf(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code ?? e.message ?? String(err);
}

export async function migratePostgres(pool: pg.Pool, migrations: readonly string[], url: string): Promise<void> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw new StateStoreUnreachableError(describeDatabase(url), reasonOf(err));
  }
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await client.query("CREATE TABLE IF NOT EXISTS regplane_schema (version INTEGER NOT NULL)");
    const { rows } = await client.query<{ version: number }>("SELECT version FROM regplane_schema");
    const version = rows[0]?.version ?? 0;
    if (version > migrations.length) {
      throw new RegplaneError(
        Code.FAILED_PRECONDITION,
        `state store schema version ${version} is newer than this regplane understands (${migrations.length}); run a release that knows it`,
      );
    }
    for (let v = version; v < migrations.length; v++) await client.query(migrations[v]!);
    if (rows.length === 0) await client.query("INSERT INTO regplane_schema (version) VALUES ($1)", [migrations.length]);
    else await client.query("UPDATE regplane_schema SET version = $1", [migrations.length]);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
