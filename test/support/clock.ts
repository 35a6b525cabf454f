// A test clock for in-process code whose timers and `Date` are faked: time moves only when the test
// moves it, and every promise job runs before the next step, so leases, polls and timeouts happen in
// the same order on any machine.
import { vi } from "vitest";

/** Fakes the timers and Date that lease, poll and wait code reads; immediates and I/O stay real. */
export function useTestClock(): void {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
}

/** Resolves after `ms` of test-clock time (a sleep the test clock controls). */
export function later(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Moves the test clock in `stepMs` steps until `promise` settles, and returns its outcome. Fails when
 * `limitMs` of test-clock time pass first (test-clock time, so a slow machine cannot trip it).
 */
export async function advanceUntil<T>(promise: Promise<T>, stepMs = 10, limitMs = 600_000): Promise<T> {
  let settled = false;
  const tracked = promise.finally(() => (settled = true));
  tracked.catch(() => {});
  await vi.advanceTimersByTimeAsync(0);
  for (let moved = 0; !settled; moved += stepMs) {
    if (moved >= limitMs) throw new Error(`still pending after ${limitMs} ms of test-clock time`);
    await vi.advanceTimersByTimeAsync(stepMs);
  }
  return tracked;
}

/** Moves the test clock in `stepMs` steps until `check` holds (see advanceUntil). */
export async function advanceUntilTrue(check: () => boolean | Promise<boolean>, stepMs = 10, limitMs = 600_000): Promise<void> {
  for (let moved = 0; !(await check()); moved += stepMs) {
    if (moved >= limitMs) throw new Error(`condition still false after ${limitMs} ms of test-clock time`);
    await vi.advanceTimersByTimeAsync(stepMs);
  }
}
