// Single flight: one fetch per key at a time, joined by every concurrent caller for the same key.
import { Code, RegplaneError } from "../errors.js";
import { raceSignal } from "../resilience.js";

/** The fetches in flight of one kind, by key: joined by concurrent callers, removed when they settle. */
export interface Flights<T> {
  get(key: string): Promise<T> | undefined;
  set(key: string, flight: Promise<T>): unknown;
  delete(key: string): unknown;
}

/**
 * Runs `start` once per key at a time; concurrent callers join the flight in progress, each leaving it
 * (with `aborted()`) when its own signal aborts. A joined flight that ends because its starter was
 * cancelled is started again on the joiner's own signal.
 */
export async function joinOrStart<T>(flights: Flights<T>, key: string, signal: AbortSignal, aborted: () => RegplaneError, start: () => Promise<T>): Promise<T> {
  for (;;) {
    const joined = flights.get(key);
    if (joined === undefined) {
      const flight = start().finally(() => {
        if (flights.get(key) === flight) flights.delete(key);
      });
      flights.set(key, flight);
      return flight;
    }
    try {
      return await raceSignal(joined, signal, aborted);
    } catch (e) {
      const starterCancelled = e instanceof RegplaneError && (e.code === Code.CANCELLED || e.code === Code.DEADLINE_EXCEEDED);
      if (!starterCancelled || signal.aborted) throw e;
    }
  }
}
