// Which requests may be sent again and how long to wait first: full-jitter backoff, Retry-After
// honoured up to a bound, only idempotent methods (and POST/PATCH a call declares repeatable) retried.
import { RegplaneError } from "../errors.js";
import { backoffDelay, parseRetryAfter } from "../resilience.js";
import { header, type ReplyHeaders } from "./body.js";

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

/** How patiently calls are made; the settings a registry's config entry may give. */
export interface HttpTuning {
  /** Deadline of one attempt. Default 30 s. */
  requestTimeoutMs?: number;
  /** Attempts per request, the first included. Default 4. */
  maxAttempts?: number;
  /** Backoff base and cap (full jitter). Defaults 250 ms and 8 s. */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** A Retry-After longer than this is reported (RESOURCE_EXHAUSTED with the delay) instead of waited for. Default 30 s. */
  maxRetryAfterMs?: number;
}

/** Statuses that say "later": retried when the request may be repeated. */
export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/**
 * Methods whose repetition does what one call does. No provider documents a request id that makes a
 * POST or PATCH safe to repeat, nor that a 429 means the request was not applied, so those are sent once.
 */
const IDEMPOTENT_METHODS = new Set<HttpMethod>(["GET", "HEAD", "PUT", "DELETE"]);

/** True when sending the request again cannot do more than sending it once. */
export function mayRepeat(method: HttpMethod, declaredRepeatable = false): boolean {
  return IDEMPOTENT_METHODS.has(method) || declaredRepeatable;
}

/** The tuning with its defaults filled in, and the waits it implies. */
export class RetryPolicy {
  readonly requestTimeoutMs: number;
  readonly maxAttempts: number;
  readonly maxRetryAfterMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(tuning: HttpTuning) {
    this.requestTimeoutMs = tuning.requestTimeoutMs ?? 30_000;
    this.maxAttempts = Math.max(1, tuning.maxAttempts ?? 4);
    this.baseDelayMs = tuning.retryBaseDelayMs ?? 250;
    this.maxDelayMs = tuning.retryMaxDelayMs ?? 8_000;
    this.maxRetryAfterMs = tuning.maxRetryAfterMs ?? 30_000;
  }

  /** The wait before attempt `attempt + 1`. */
  backoff(attempt: number): number {
    return backoffDelay(attempt, this.baseDelayMs, this.maxDelayMs);
  }
}

/** How long a reply asks us to wait (Retry-After); undefined leaves it to backoff. */
export function retryAfterOf(headers: ReplyHeaders): number | undefined {
  return parseRetryAfter(header(headers, "retry-after"));
}

/** The same error without RetryInfo, for a request whose outcome is unknown. */
export function withoutRetry(err: RegplaneError): RegplaneError {
  if (err.retryDelayMs === undefined) return err;
  return new RegplaneError(err.code, err.message, { errorInfo: err.errorInfo, fieldViolations: err.fieldViolations, cause: err.cause });
}
