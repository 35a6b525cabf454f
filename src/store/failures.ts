// How a failing state store (disk full, I/O error, database unreachable) reaches a caller: one status
// whatever the store and the RPC — UNAVAILABLE with ErrorInfo STATE_STORE_UNAVAILABLE and RetryInfo, as
// the store may recover (space freed, database back) — while the cause goes to the log, not the caller.
import { Code, RegplaneError } from "../core/errors.js";
import type { Store } from "../core/store.js";

export const STATE_STORE_RETRY_MS = 5_000;

/** The one status of a store failure; the cause is kept for the log. */
export function stateStoreUnavailable(cause: unknown): RegplaneError {
  return new RegplaneError(Code.UNAVAILABLE, "the state store is unavailable; try again later", {
    errorInfo: { reason: "STATE_STORE_UNAVAILABLE", metadata: {} },
    retryDelayMs: STATE_STORE_RETRY_MS,
    cause,
  });
}

/**
 * `store` with every method's unexpected failure turned into stateStoreUnavailable() and reported to
 * `log`; the store's own RegplaneErrors (ALREADY_EXISTS, …) pass unchanged.
 */
export function guardStore<S extends Store>(store: S, log: (err: unknown, method: string) => void): S {
  const fail = (err: unknown, method: string): never => {
    if (err instanceof RegplaneError) throw err;
    log(err, method);
    throw stateStoreUnavailable(err);
  };
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || property === "constructor") return value;
      const method = String(property);
      return (...args: unknown[]) => {
        try {
          const result: unknown = value.apply(target, args);
          return result instanceof Promise ? result.catch((err: unknown) => fail(err, method)) : result;
        } catch (err) {
          return fail(err, method);
        }
      };
    },
  });
}
