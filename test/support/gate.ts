// Synchronisation for tests that must not depend on machine speed: a gate that holds callers until the
// test opens it, and a condition wait that checks after every turn of the event loop instead of sleeping.
import { setImmediate as nextTurn } from "node:timers/promises";

/** Holds every caller of `pass` until `open` (or until the caller's signal aborts). */
export class Gate {
  private opened = false;
  private readonly held = new Set<() => void>();
  private readonly watchers: Array<{ count: number; resolve: () => void }> = [];
  /** Callers that have reached the gate since it was made (held or not). */
  arrived = 0;

  /** Resolves once the gate is open; rejects with the signal's reason if it aborts first. */
  pass(signal?: AbortSignal): Promise<void> {
    this.arrived++;
    this.notify();
    if (this.opened) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        this.held.delete(release);
        reject(signal?.reason);
      };
      const release = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.held.add(release);
    });
  }

  /** Callers currently held. */
  get waiting(): number {
    return this.held.size;
  }

  /** Resolves once `count` callers have arrived in total. */
  arrivals(count: number): Promise<void> {
    if (this.arrived >= count) return Promise.resolve();
    return new Promise((resolve) => this.watchers.push({ count, resolve }));
  }

  /** Lets every held caller through, and every later one. */
  open(): void {
    this.opened = true;
    this.releaseHeld();
  }

  /** Lets the callers held now through; later ones are held again. */
  releaseHeld(): void {
    const held = [...this.held];
    this.held.clear();
    for (const release of held) release();
  }

  /** Holds callers again from now on. */
  close(): void {
    this.opened = false;
  }

  private notify(): void {
    for (let i = this.watchers.length - 1; i >= 0; i--) {
      if (this.arrived >= this.watchers[i].count) {
        this.watchers[i].resolve();
        this.watchers.splice(i, 1);
      }
    }
  }
}

/**
 * Waits until `check` holds, checking after every turn of the event loop. No time bound of its own: the
 * test's timeout is the bound, so a slow machine only makes it slower, never wrong.
 */
export async function until(check: () => boolean | Promise<boolean>, signal?: AbortSignal): Promise<void> {
  while (!(await check())) {
    signal?.throwIfAborted();
    await nextTurn();
  }
}

/** Lets everything already queued (promise jobs, I/O callbacks, immediates) run. */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await nextTurn();
}

/**
 * `promise`, after checking that it settles once the work already queued has run: a test that moved its
 * clock past a deadline fails at once, naming it, instead of hanging until the test timeout.
 */
export async function settledNow<T>(promise: Promise<T>, what = "the promise"): Promise<T> {
  let settled = false;
  const tracked = promise.finally(() => (settled = true));
  tracked.catch(() => {});
  await settle(10);
  if (!settled) throw new Error(`${what} did not settle`);
  return tracked;
}
