// Per-call limits the pipeline applies after authentication: a token bucket per principal and the
// server-side deadline (a default when the client sends none, a ceiling when it asks for more).
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

/** The deadline a call runs under: the client's, capped at the maximum, or the default when it sent none. */
export function effectiveDeadline(clientDeadline: number | undefined, now: number, limits: Pick<LimitsConfig, "defaultDeadlineMs" | "maxDeadlineMs">): number {
  const ceiling = now + limits.maxDeadlineMs;
  if (clientDeadline === undefined) return Math.min(now + limits.defaultDeadlineMs, ceiling);
  return Math.min(clientDeadline, ceiling);
}
