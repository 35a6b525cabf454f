// HTTP to one region of the Scaleway Container Registry API: `X-Auth-Token` on every call, Retry-After
// (or the body's reset_seconds) for retries, and Scaleway's `{type, message, …}` error bodies mapped to
// gRPC codes by their type. Retries, the concurrency limit and the circuit breaker are core/http/'s.
// Also the two ways of calling it the images and namespaces share: reading a paged list whole, and a
// DELETE waited on until Scaleway no longer reports the resource.
import { Code, RegplaneError, providerError } from "../../core/errors.js";
import { breakerOptionsOf, sleep, type BreakerTuning } from "../../core/resilience.js";
import { DEFAULT_MAX_CONCURRENCY, RestClient, type HttpReply, type HttpTuning } from "../../core/http/index.js";

export interface ScalewayClientOptions extends HttpTuning, BreakerTuning {
  registryId: string;
  /** Origin of the API, e.g. https://api.scaleway.com. */
  apiUrl: URL;
  region: string;
  secretKey: string;
  /** Requests in flight at once. Default 8. */
  maxConcurrency?: number;
  /** Plain http to apiUrl was allowed (url-policy.ts); on https the certificate is not verified. */
  insecure?: boolean;
  /** Pause between checks while Scaleway is deleting. Default 2 s. */
  pollIntervalMs?: number;
  /** Longest wait for a delete to finish before the operation fails with UNAVAILABLE. Default 5 min. */
  deleteTimeoutMs?: number;
}

/** The fields of Scaleway's error body this adapter reads. */
interface ScalewayErrorBody {
  type?: string;
  message?: string;
  resource?: string;
  current_state?: string;
  method?: string;
  reason?: string;
  reset_seconds?: number;
  help_message?: string;
  details?: Array<{ argument_name?: string; reason?: string; action?: string; resource?: string; help_message?: string }>;
}

const PROVIDER = "scaleway";
const PAGE_SIZE = 100;
const MAX_PAGES = 10_000;

/**
 * What each Scaleway error type means here. transient_state (the resource is being created or
 * deleted) clears by itself, so the same call can be retried: UNAVAILABLE. locked (held by
 * Scaleway, e.g. for billing or abuse) does not clear by waiting: ABORTED, without a retry delay.
 */
const TYPE_CODES: Record<string, { code: Code; reason: string; retry: boolean }> = {
  not_found: { code: Code.NOT_FOUND, reason: "PROVIDER_NOT_FOUND", retry: false },
  too_many_requests: { code: Code.RESOURCE_EXHAUSTED, reason: "PROVIDER_RATE_LIMITED", retry: true },
  permissions_denied: { code: Code.FAILED_PRECONDITION, reason: "PROVIDER_CREDENTIALS_REJECTED", retry: false },
  denied_authentication: { code: Code.FAILED_PRECONDITION, reason: "PROVIDER_CREDENTIALS_REJECTED", retry: false },
  invalid_arguments: { code: Code.INVALID_ARGUMENT, reason: "PROVIDER_REJECTED_REQUEST", retry: false },
  quotas_exceeded: { code: Code.RESOURCE_EXHAUSTED, reason: "PROVIDER_QUOTA_EXCEEDED", retry: false },
  transient_state: { code: Code.UNAVAILABLE, reason: "PROVIDER_TRANSIENT_STATE", retry: true },
  locked: { code: Code.ABORTED, reason: "PROVIDER_RESOURCE_LOCKED", retry: false },
  already_exists: { code: Code.ALREADY_EXISTS, reason: "PROVIDER_ALREADY_EXISTS", retry: false },
  precondition_failed: { code: Code.FAILED_PRECONDITION, reason: "PROVIDER_PRECONDITION_FAILED", retry: false },
  out_of_stock: { code: Code.UNAVAILABLE, reason: "PROVIDER_OUT_OF_STOCK", retry: true },
};

/** Calls take paths under /registry/v1/regions/{region}, e.g. "/namespaces". */
export class ScalewayClient extends RestClient {
  private readonly secretKey: string;
  private readonly pollIntervalMs: number;
  private readonly deleteTimeoutMs: number;
  /** As Scaleway's own SDKs send it. */
  protected override readonly jsonContentType = "application/json; charset=utf-8";

  constructor(options: ScalewayClientOptions) {
    super({
      ...options,
      provider: PROVIDER,
      baseUrl: new URL(`/registry/v1/regions/${encodeURIComponent(options.region)}/`, options.apiUrl),
      maxConcurrency: options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY,
      breaker: breakerOptionsOf(options),
    });
    this.secretKey = options.secretKey;
    this.pollIntervalMs = options.pollIntervalMs ?? 2_000;
    this.deleteTimeoutMs = options.deleteTimeoutMs ?? 5 * 60_000;
  }

  /**
   * Every item of a paged list: page 1, 2, … with page_size 100 until a short page or total_count.
   * Items seen twice (the list shifted while being read) are kept once.
   */
  async listAll<T extends { id: string }>(path: string, key: string, query: Record<string, string>, signal: AbortSignal): Promise<T[]> {
    const out = new Map<string, T>();
    for (let page = 1; page <= MAX_PAGES; page++) {
      const doc = await this.json<Record<string, unknown>>({ method: "GET", path, query: { ...query, page, page_size: PAGE_SIZE }, doing: `listing ${key}` }, signal);
      const items = doc[key];
      if (!Array.isArray(items)) throw this.badResponse(`listing ${key}: the answer has no "${key}" array`);
      for (const item of items as T[]) if (item !== null && typeof item === "object" && typeof item.id === "string") out.set(item.id, item);
      const total = typeof doc.total_count === "number" ? doc.total_count : undefined;
      if (items.length < PAGE_SIZE || (total !== undefined && page * PAGE_SIZE >= total)) break;
    }
    return [...out.values()];
  }

  /**
   * DELETE a resource, then GET it until Scaleway answers not_found. Already gone, or already being
   * deleted (transient_state), is fine; the wait is bounded by deleteTimeoutMs and the signal.
   */
  async deleteAndWait(path: string, what: string, signal: AbortSignal): Promise<void> {
    const reply = await this.call({ method: "DELETE", path }, signal);
    if (reply.status === 404) return;
    if ((reply.status < 200 || reply.status >= 300) && this.errorType(reply) !== "transient_state") {
      throw this.failure(reply, `deleting ${what}`);
    }
    const deadline = Date.now() + this.deleteTimeoutMs;
    for (;;) {
      const state = await this.call({ method: "GET", path }, signal);
      if (state.status === 404) return;
      if (state.status < 200 || state.status >= 300) throw this.failure(state, `checking that ${what} is deleted`);
      if (Date.now() + this.pollIntervalMs > deadline) {
        throw new RegplaneError(Code.UNAVAILABLE, `registry ${JSON.stringify(this.registryId)} (scaleway): ${what} is still being deleted after ${Math.round(this.deleteTimeoutMs / 1000)}s`, {
          errorInfo: { reason: "PROVIDER_DELETE_PENDING", metadata: { registry_id: this.registryId, provider: PROVIDER } },
          retryDelayMs: this.pollIntervalMs,
        });
      }
      try {
        await sleep(this.pollIntervalMs, signal);
      } catch {
        throw this.aborted(signal);
      }
    }
  }

  /** The `type` of an error reply, if its body is Scaleway's error shape. */
  errorType(reply: HttpReply): string | undefined {
    return errorBody(reply.body).type;
  }

  /** Maps a non-2xx reply by its error type (by HTTP status when the body has none). */
  failure(reply: HttpReply, doing: string): RegplaneError {
    const body = errorBody(reply.body);
    let text = `${doing}: HTTP ${reply.status}${body.type ? ` ${body.type}` : ""}${body.message ? `: ${body.message}` : ""}`;
    if (body.type === "denied_authentication") text += ` (${body.method ?? "credentials"} ${body.reason ?? "rejected"}); check the secretKey configured for this registry`;
    else if (body.type === "permissions_denied") {
      const wanted = (body.details ?? []).map((d) => `${d.action ?? "?"} on ${d.resource ?? "?"}`).join(", ");
      text += `${wanted ? ` (${wanted})` : ""}; check the secretKey's permissions and the configured projectId`;
    } else if (body.type === "invalid_arguments") {
      const args = (body.details ?? []).map((d) => `${d.argument_name ?? "?"}: ${d.help_message ?? d.reason ?? "invalid"}`).join("; ");
      if (args) text += ` (${args})`;
    } else if (body.type === "transient_state" && body.current_state) text += ` (${body.resource ?? "resource"} is ${body.current_state})`;
    else if (body.type === "too_many_requests" && body.help_message) text += ` (${body.help_message})`;
    const retryAfterMs = this.retryAfter(reply);
    const base = providerError({
      registryId: this.registryId,
      provider: PROVIDER,
      httpStatus: reply.status,
      providerCode: body.type,
      message: this.redact(text),
      retryAfterMs,
    });
    const mapped = body.type === undefined ? undefined : TYPE_CODES[body.type];
    if (mapped === undefined) return base;
    return new RegplaneError(mapped.code, base.message, {
      errorInfo: { reason: mapped.reason, metadata: base.errorInfo?.metadata ?? {} },
      retryDelayMs: mapped.retry ? (retryAfterMs ?? 1000) : undefined,
    });
  }

  protected override headersFor(): Record<string, string> {
    return { "x-auth-token": this.secretKey };
  }

  protected override secrets(): string[] {
    return [this.secretKey];
  }

  /** Retry-After when sent, else a too_many_requests body's reset_seconds. */
  protected override retryAfter(reply: HttpReply): number | undefined {
    const fromHeader = super.retryAfter(reply);
    if (fromHeader !== undefined || reply.status !== 429) return fromHeader;
    const reset = errorBody(reply.body).reset_seconds;
    return reset !== undefined && reset >= 0 ? reset * 1000 : undefined;
  }
}

function errorBody(body: Buffer): ScalewayErrorBody {
  try {
    const doc = JSON.parse(body.toString("utf8")) as unknown;
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return {};
    const d = doc as Record<string, unknown>;
    const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
    return {
      type: text(d.type),
      message: text(d.message),
      resource: text(d.resource),
      current_state: text(d.current_state),
      method: text(d.method),
      reason: text(d.reason),
      help_message: text(d.help_message),
      reset_seconds: typeof d.reset_seconds === "number" ? d.reset_seconds : undefined,
      details: Array.isArray(d.details) ? (d.details.filter((x) => x !== null && typeof x === "object") as ScalewayErrorBody["details"]) : undefined,
    };
  } catch {
    return {};
  }
}
