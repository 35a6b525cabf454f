// Opens the state store the config names: the SQLite file in the data dir, or PostgreSQL.
import * as path from "node:path";
import { ConfigError, type StateConfig } from "../core/config.js";
import { Code, isRegplaneError } from "../core/errors.js";
import { FileLocks, PostgresLocks, type LockService } from "../core/locks.js";
import { ADVISORY_NAMESPACE, PostgresStore } from "./postgres.js";
import type { ListenerLogger } from "./postgres-listener.js";
import { openSqliteStateFile } from "./sqlite.js";
import type { Store } from "../core/store.js";

export async function openStore(state: StateConfig, dataDir: string, logger: ListenerLogger): Promise<Store> {
  try {
    if (state.driver === "postgres") return await PostgresStore.open({ url: state.url, maxConnections: state.maxConnections, logger });
    return openSqliteStateFile(path.join(dataDir, "regplane.db"));
  } catch (err) {
    // A schema newer than this release: refuse to start in one line rather than fail later.
    if (isRegplaneError(err) && err.code === Code.FAILED_PRECONDITION) throw new ConfigError(`state store: ${err.message}`);
    throw err;
  }
}

/** Layout locks that reach every process sharing this store: advisory locks in PostgreSQL, lock files beside SQLite. */
export function layoutLocks(store: Store, dataDir: string): LockService {
  if (store instanceof PostgresStore) return new PostgresLocks(store, ADVISORY_NAMESPACE.layout);
  return new FileLocks(path.join(dataDir, "locks"));
}
