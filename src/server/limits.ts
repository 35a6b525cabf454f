// Per-call limits the pipeline applies after authentication: a token bucket per principal and the
// server-side deadline (a default when the client sends none, a ceiling when it asks for more).
import { LRUCache } from "lru-cache";
import { Code, RegplaneError } from "../core/errors.js";
import type { LimitsConfig } from "../core/config.js";

interface Bucket {
  tokens: number;
  refilledAt: number;
}

/** One token bucket per principal; principals come from configuration, so the map stays small. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one token for the principal, or throws RESOURCE_EXHAUSTED with the wait until the next one. */
  take(principal: string): void {
    if (this.ratePerSecond <= 0) return;
    const t = this.now();
    let b = this.buckets.get(principal);
    if (!b) this.buckets.set(principal, (b = { tokens: this.burst, refilledAt: t }));
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.refilledAt) / 1000) * this.ratePerSecond);
    b.refilledAt = t;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return;
    }
    const waitMs = Math.ceil(((1 - b.tokens) / this.ratePerSecond) * 1000);
    throw new RegplaneError(Code.RESOURCE_EXHAUSTED, `rate limit of ${this.ratePerSecond} calls per second (burst ${this.burst}) exceeded for ${principal}`, {
      errorInfo: { reason: "RATE_LIMITED", metadata: { principal, rate_per_second: String(this.ratePerSecond), burst: String(this.burst) } },
      retryDelayMs: waitMs,
    });
  }
}

/** Token buckets for keys that are not from configuration (client addresses): at most `maxKeys` are kept, least recent forgotten. */
export class TokenBuckets {
  private readonly buckets: LRUCache<string, Bucket>;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    maxKeys: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.buckets = new LRUCache({ max: maxKeys });
  }

  /** Takes a token; undefined when there was one, else the milliseconds until the next. */
  take(key: string): number | undefined {
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { tokens: this.burst, refilledAt: t }));
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.refilledAt) / 1000) * this.ratePerSecond);
    b.refilledAt = t;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return undefined;
    }
    return Math.ceil(((1 - b.tokens) / this.ratePerSecond) * 1000);
  }

  /** Gives back a token taken for something that turned out fine. */
  refund(key: string): void {
    const b = this.buckets.get(key);
    if (b) b.tokens = Math.min(this.burst, b.tokens + 1);
  }
}

/** The deadline a call runs under: the client's, capped at the maximum, or the default when it sent none. */
export function effectiveDeadline(clientDeadline: number | undefined, now: number, limits: Pick<LimitsConfig, "defaultDeadline" | "maxDeadline">): number {
  const ceiling = now + limits.maxDeadline;
  if (clientDeadline === undefined) return Math.min(now + limits.defaultDeadline, ceiling);
  return Math.min(clientDeadline, ceiling);
}

/**
 * Call deadlines, grouped in `resolutionMs` windows and checked by one ticking timer while any call is
 * waiting: calls mostly finish long before their deadline, and a Node timer per call (or per window)
 * was armed and cleared thousands of times a second. A deadline fires at most `resolutionMs` late.
 */
export class DeadlineTimers {
  private readonly windows = new Map<number, Set<() => void>>();
  private ticker: NodeJS.Timeout | undefined;

  constructor(private readonly resolutionMs = 10) {}

  /** Calls `onExpired` once the deadline (ms since the epoch) has passed, unless the returned function is called first. */
  watch(deadline: number, onExpired: () => void): () => void {
    const at = Math.ceil(deadline / this.resolutionMs) * this.resolutionMs;
    let expire = this.windows.get(at);
    if (expire === undefined) {
      expire = new Set();
      this.windows.set(at, expire);
    }
    expire.add(onExpired);
    if (this.ticker === undefined) this.ticker = setInterval(() => this.sweep(), this.resolutionMs).unref();
    const window = expire;
    return () => {
      window.delete(onExpired);
      if (window.size === 0 && this.windows.get(at) === window) this.windows.delete(at);
    };
  }

  private sweep(): void {
    const now = Date.now();
    for (const [at, expire] of this.windows) {
      if (at > now) continue;
      this.windows.delete(at);
      for (const f of expire) f();
    }
    if (this.windows.size === 0) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  /** Whether the timer is ticking (only while some call waits on a deadline). */
  get ticking(): boolean {
    return this.ticker !== undefined;
  }
}
