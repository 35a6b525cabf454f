// The pieces that keep one slow or failing registry from being hammered, shared by every adapter: a
// FIFO semaphore, a circuit breaker, backoff with full jitter, Retry-After parsing and abortable waits.
import { setMaxListeners } from "node:events";

/** A counting semaphore whose waiters leave the queue when their signal aborts. */
export class Semaphore {
  private available: number;
  private readonly waiters: Array<{ grant: () => void }> = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`semaphore limit must be a positive integer (got ${limit})`);
    this.available = limit;
  }

  /** Resolves to the release; without a signal the waiter stays queued until a permit frees. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.available > 0) {
      this.available--;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        grant: () => {
          stopListening();
          resolve();
        },
      };
      const stopListening = signal === undefined ? () => {} : onAbort(signal, () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal.reason);
      });
      this.waiters.push(waiter);
    });
    return this.releaser();
  }

  /** Runs `task` holding one permit. */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await task();
    } finally {
      release();
    }
  }

  /** Permits in use (for tests and metrics). */
  get inUse(): number {
    return this.limit - this.available;
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // The permit passes straight to the next waiter, so `available` only grows when nobody waits.
      if (next) next.grant();
      else this.available++;
    };
  }
}

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  threshold: number;
  /** How long an open circuit rejects requests before one probe is let through. */
  cooldownMs: number;
  now?: () => number;
}

/** A registry entry's breaker settings (`breakerThreshold`, `breakerCooldown` in the config). */
export interface BreakerTuning {
  /** Consecutive failed attempts (connection errors, timeouts, 5xx) that open the circuit. Default 5. */
  breakerThreshold?: number;
  /** How long an open circuit fails requests at once. Default 15 s. */
  breakerCooldownMs?: number;
}

/** The breaker every registry client runs, with the defaults filled in. */
export function breakerOptionsOf(tuning: BreakerTuning): CircuitBreakerOptions {
  return { threshold: tuning.breakerThreshold ?? 5, cooldownMs: tuning.breakerCooldownMs ?? 15_000 };
}

/**
 * Closed → (threshold consecutive failures) → open for cooldownMs → half-open: one probe request;
 * its success closes the circuit, its failure opens it again.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private probing = false;
  private readonly now: () => number;

  constructor(private readonly options: CircuitBreakerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Milliseconds until a request may be tried, or 0 when it may go now (and is then counted as the probe). */
  admit(): number {
    if (this.failures < this.options.threshold) return 0;
    const wait = this.openUntil - this.now();
    if (wait > 0) return wait;
    if (this.probing) return Math.max(1, Math.min(this.options.cooldownMs, 1000));
    this.probing = true;
    return 0;
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
  }

  failure(): void {
    this.failures++;
    this.probing = false;
    if (this.failures >= this.options.threshold) this.openUntil = this.now() + this.options.cooldownMs;
  }

  /** A request that ended without telling us anything about the registry (e.g. the caller cancelled). */
  release(): void {
    this.probing = false;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }
}

/** Full jitter: a uniformly random delay in [0, min(cap, base · 2^(attempt-1))]. */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/** Retry-After as delta-seconds or an HTTP date; undefined when absent or unparseable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Resolves after ms, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      stopListening();
      resolve();
    }, ms);
    const stopListening = onAbort(signal, () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

/**
 * `promise`, or a rejection as soon as `signal` aborts (with the signal's reason unless `reason` says
 * otherwise); the promise itself goes on, so a shared fetch survives one caller giving up.
 */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal, reason: () => unknown = () => signal.reason): Promise<T> {
  if (signal.aborted) return Promise.reject(reason());
  return new Promise((resolve, reject) => {
    const stopListening = onAbort(signal, () => reject(reason()));
    promise.then(
      (value) => {
        stopListening();
        resolve(value);
      },
      (error: unknown) => {
        stopListening();
        reject(error);
      },
    );
  });
}

export interface AttemptSignal {
  readonly signal: AbortSignal;
  /** Stops the timer and detaches from the parent; call once the attempt has settled. */
  done(): void;
}

/**
 * A signal for one attempt: aborted with `parent`, or after `timeoutMs` with a TimeoutError. Costs a
 * controller, a listener and a timer, a fraction of `AbortSignal.any` plus `AbortSignal.timeout`, which
 * register weak references per call and keep their timer until it fires.
 */
export function attemptSignal(parent: AbortSignal, timeoutMs: number): AttemptSignal {
  const controller = new AbortController();
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { signal: controller.signal, done: () => {} };
  }
  const stopListening = onAbort(parent, () => controller.abort(parent.reason));
  const timer = setTimeout(() => controller.abort(new DOMException("attempt timed out", "TimeoutError")), timeoutMs);
  return {
    signal: controller.signal,
    done: () => {
      clearTimeout(timer);
      stopListening();
    },
  };
}

const listenedTo = new WeakSet<AbortSignal>();

/**
 * Calls `listener` once when `signal` aborts; returns what removes it. One registry call may queue dozens
 * of requests on its signal, each listening, which is not the leak Node warns about past 10 listeners:
 * the first listener lifts that limit for the signal (once, so signals nobody listens to cost nothing).
 */
export function onAbort(signal: AbortSignal, listener: () => void): () => void {
  if (!listenedTo.has(signal)) {
    listenedTo.add(signal);
    setMaxListeners(0, signal);
  }
  signal.addEventListener("abort", listener, { once: true });
  return () => signal.removeEventListener("abort", listener);
}
