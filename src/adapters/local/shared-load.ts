// One parse of a layout shared by every caller that asks for it meanwhile. Each caller stops waiting
// when its own signal fires; the parse itself stops only when no caller is left waiting for it.
import { Code, RegplaneError } from "../../core/errors.js";

export interface SharedLoad<T> {
  version: string;
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

/** For work shared by callers none of which may end it alone. */
export const NEVER: AbortSignal = new AbortController().signal;

export function joinLoad<T>(load: SharedLoad<T>, signal: AbortSignal): Promise<T> {
  load.waiters++;
  return new Promise<T>((resolve, reject) => {
    let waiting = true;
    const leave = (): boolean => {
      if (!waiting) return false;
      waiting = false;
      signal.removeEventListener("abort", onAbort);
      load.waiters--;
      return true;
    };
    const onAbort = () => {
      if (!leave()) return;
      if (load.waiters === 0) load.controller.abort();
      reject(cancelled());
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    load.promise.then(
      (v) => leave() && resolve(v),
      (e: unknown) => leave() && reject(e),
    );
  });
}

/** Waits for `promise` unless `signal` fires first. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

function cancelled(): RegplaneError {
  return new RegplaneError(Code.CANCELLED, "request cancelled");
}
