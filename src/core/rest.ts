// A provider's JSON REST API over undici, the one way adapters call one: retries of 429/502/503/504 and
// connection failures (idempotent calls only) with full-jitter backoff honouring Retry-After, a deadline
// per attempt, bounded body reads, an optional concurrency limit and circuit breaker, Bearer tokens
// fetched again once after a 401, and messages scrubbed of secrets. Each provider subclasses RestClient for what is its own:
// auth headers, its error body as a RegplaneError, its secrets.
import { Agent, request } from "undici";
import { Code, RegplaneError, providerError, redact } from "./errors.js";
import { CircuitBreaker, Semaphore, attemptSignal, backoffDelay, parseRetryAfter, sleep, type CircuitBreakerOptions } from "./resilience.js";

export type ReplyHeaders = Record<string, string | string[] | undefined>;

export interface RestReply {
  status: number;
  headers: ReplyHeaders;
  body: Buffer;
}

/** Bearer tokens that can go stale before they expire (IAM). */
export interface TokenSource {
  token(signal: AbortSignal): Promise<string>;
  /** The API answered 401 to `token`: forget it. False when no fresher one can be had, so the 401 stands. */
  rejected(token: string): boolean;
  /** Strings that must never appear in an error (tokens, the credentials they are exchanged for). */
  secrets(): string[];
}

export interface RestCall {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** A path under the client's baseUrl (a leading "/" stays under it), segments already percent-encoded; or a whole URL. */
  path: string | URL;
  query?: Record<string, string | number | undefined>;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as application/x-www-form-urlencoded. */
  form?: URLSearchParams;
  headers?: Record<string, string>;
  /** Largest success body accepted; the client's maxBytes when absent. */
  maxBytes?: number;
  /** Statuses send() hands back instead of throwing, e.g. 404 for "not there". */
  accept?: number[];
  /** What the call does, for error messages ("listing registries"). */
  doing?: string;
  /**
   * A POST or PATCH that changes nothing on the provider (a query or a token exchange carried in a
   * body), so it may be repeated like a GET. Other POSTs and PATCHes are sent once.
   */
  repeatable?: boolean;
}

/** How patiently calls are made; the settings a registry's config entry may give. */
export interface RestTuning {
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

export interface RestClientOptions extends RestTuning {
  registryId: string;
  provider: string;
  /** Where relative paths resolve; its path ends in "/". */
  baseUrl?: URL;
  /** Tokens sent as `Authorization: Bearer` on every call. */
  auth?: TokenSource;
  /** Requests in flight at once; unlimited when absent. */
  maxConcurrency?: number;
  /** Stops calling a registry that keeps failing; none when absent. */
  breaker?: CircuitBreakerOptions;
  /** Largest success body accepted. Default 16 MiB. */
  maxBytes?: number;
  /** The entry's `insecure`: plain http was allowed, and on https the certificate is not verified. */
  insecure?: boolean;
}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
/**
 * Methods whose repetition does what one call does. No provider documents a request id that makes a
 * POST or PATCH safe to repeat, nor that a 429 means the request was not applied, so those are sent once.
 */
const IDEMPOTENT_METHODS = new Set<RestCall["method"]>(["GET", "PUT", "DELETE"]);
const ERROR_BODY_MAX_BYTES = 64 * 1024;

export abstract class RestClient<C extends RestCall = RestCall> {
  readonly registryId: string;
  readonly provider: string;
  readonly baseUrl?: URL;
  protected readonly auth?: TokenSource;
  /** Content-Type of JSON bodies; a provider whose own SDK names the charset overrides it. */
  protected readonly jsonContentType: string = "application/json";
  private readonly requestTimeoutMs: number;
  private readonly maxAttempts: number;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly maxBytes: number;
  private readonly semaphore?: Semaphore;
  private readonly breaker?: CircuitBreaker;
  private readonly agent: Agent;
  private requestCount = 0;

  constructor(options: RestClientOptions) {
    this.registryId = options.registryId;
    this.provider = options.provider;
    this.baseUrl = options.baseUrl;
    this.auth = options.auth;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 250;
    this.retryMaxDelayMs = options.retryMaxDelayMs ?? 8_000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
    this.maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    if (options.maxConcurrency !== undefined) this.semaphore = new Semaphore(options.maxConcurrency);
    if (options.breaker !== undefined) this.breaker = new CircuitBreaker(options.breaker);
    // The permits bound the requests; two spare connections keep one being torn down from stalling a permit.
    this.agent = new Agent({
      connections: options.maxConcurrency === undefined ? 16 : options.maxConcurrency + 2,
      connect: { rejectUnauthorized: !(options.insecure ?? false) },
    });
  }

  /** host[:port] of baseUrl; "" without one. */
  get host(): string {
    return this.baseUrl?.host ?? "";
  }

  get maxConcurrency(): number {
    return this.semaphore?.limit ?? Number.POSITIVE_INFINITY;
  }

  /** HTTP requests sent, every attempt counted. */
  get requests(): number {
    return this.requestCount;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /**
   * One logical call: admission by the breaker, a token, a concurrency permit, retries of
   * 429/502/503/504 and connection failures (idempotent calls only), and one fresh token after a 401.
   * Returns the final reply whatever its status.
   */
  async call(c: C, signal: AbortSignal): Promise<RestReply> {
    const url = this.urlOf(c);
    const repeatable = isRepeatable(c);
    const headers = { accept: "application/json", "user-agent": "regplane", ...this.headersFor(c), ...c.headers };
    let refreshedToken = false;
    for (let attempt = 1; ; attempt++) {
      const wait = this.breaker?.admit() ?? 0;
      if (wait > 0) {
        throw providerError({
          registryId: this.registryId,
          provider: this.provider,
          message: `skipped for ${Math.ceil(wait / 1000)}s after ${this.breaker!.consecutiveFailures} consecutive failures`,
          retryAfterMs: wait,
        });
      }
      let token: string | undefined;
      let release: () => void;
      try {
        token = await this.auth?.token(signal);
        release = this.semaphore === undefined ? () => {} : await this.semaphore.acquire(signal);
      } catch (e) {
        this.breaker?.release();
        throw signal.aborted ? this.aborted(signal, c.doing) : e;
      }
      let reply: RestReply;
      try {
        reply = await this.exchange(c, url, token === undefined ? headers : { ...headers, authorization: `Bearer ${token}` }, signal);
      } catch (e) {
        release();
        if (signal.aborted) {
          this.breaker?.release();
          throw this.aborted(signal, c.doing);
        }
        if (e instanceof RegplaneError) {
          this.breaker?.release();
          throw e;
        }
        this.breaker?.failure();
        if (!repeatable) {
          const message = `${c.doing ? `${c.doing}: ` : ""}${url.host} unreachable: ${describeNetworkError(e, this.requestTimeoutMs)}; it may have been applied`;
          throw withoutRetry(providerError({ registryId: this.registryId, provider: this.provider, message }));
        }
        if (attempt >= this.maxAttempts) {
          const message = `${c.doing ? `${c.doing}: ` : ""}${url.host} unreachable: ${describeNetworkError(e, this.requestTimeoutMs)}`;
          throw providerError({ registryId: this.registryId, provider: this.provider, message });
        }
        await this.pause(backoffDelay(attempt, this.retryBaseDelayMs, this.retryMaxDelayMs), signal, c.doing);
        continue;
      }
      release();
      if (reply.status >= 500) this.breaker?.failure();
      else this.breaker?.success();

      // A token can be revoked or expire early: one fresh token, one more try.
      if (reply.status === 401 && token !== undefined && !refreshedToken && this.auth?.rejected(token)) {
        refreshedToken = true;
        attempt--;
        continue;
      }
      if (repeatable && RETRYABLE_STATUS.has(reply.status) && attempt < this.maxAttempts) {
        const retryAfter = this.retryAfter(reply);
        if (retryAfter !== undefined && retryAfter > this.maxRetryAfterMs) return reply;
        await this.pause(retryAfter ?? backoffDelay(attempt, this.retryBaseDelayMs, this.retryMaxDelayMs), signal, c.doing);
        continue;
      }
      return reply;
    }
  }

  /** A call whose success body is JSON; any other status becomes the provider's error. */
  async json<T>(c: C & { doing: string }, signal: AbortSignal): Promise<T> {
    const reply = await this.call(c, signal);
    if (reply.status < 200 || reply.status >= 300) throw this.failureOf(c, reply);
    return this.parse<T>(reply, c.doing);
  }

  /**
   * A call answered 2xx or with a status in `accept`: the status and the JSON body (undefined when
   * empty or not JSON). Any other status becomes the provider's error.
   */
  async send(c: C & { doing: string }, signal: AbortSignal): Promise<{ status: number; body: unknown }> {
    const reply = await this.call(c, signal);
    if ((reply.status >= 200 && reply.status < 300) || c.accept?.includes(reply.status)) return { status: reply.status, body: jsonOrUndefined(reply.body) };
    throw this.failureOf(c, reply);
  }

  /**
   * The provider's error for a reply to `c`. A call that is not repeatable and met a 429/502/503/504
   * may have been applied, so its error offers no retry: the caller reads the outcome first.
   */
  failureOf(c: C & { doing: string }, reply: RestReply): RegplaneError {
    const err = this.failure(reply, c.doing);
    return !isRepeatable(c) && RETRYABLE_STATUS.has(reply.status) ? withoutRetry(err) : err;
  }

  parse<T>(reply: RestReply, doing: string): T {
    try {
      return JSON.parse(reply.body.toString("utf8")) as T;
    } catch {
      throw this.badResponse(`${doing}: the answer is not JSON`);
    }
  }

  /** A non-2xx reply as a RegplaneError, read from the provider's error body (redact() its text). */
  abstract failure(reply: RestReply, doing: string): RegplaneError;

  badResponse(message: string): RegplaneError {
    return new RegplaneError(Code.UNAVAILABLE, `registry ${JSON.stringify(this.registryId)} (${this.provider}): ${this.redact(message)}`, {
      errorInfo: { reason: "PROVIDER_BAD_RESPONSE", metadata: { registry_id: this.registryId, provider: this.provider } },
      retryDelayMs: 1000,
    });
  }

  /** CANCELLED or DEADLINE_EXCEEDED for an aborted signal, or the RegplaneError it was aborted with. */
  aborted(signal: AbortSignal, doing = "request"): RegplaneError {
    const reason: unknown = signal.reason;
    if (reason instanceof RegplaneError) return reason;
    const timedOut = (reason as { name?: string } | undefined)?.name === "TimeoutError";
    return new RegplaneError(timedOut ? Code.DEADLINE_EXCEEDED : Code.CANCELLED, `registry ${JSON.stringify(this.registryId)} (${this.provider}): ${doing} ${timedOut ? "ran out of time" : "cancelled"}`, {
      errorInfo: { reason: timedOut ? "DEADLINE_EXCEEDED" : "CANCELLED", metadata: { registry_id: this.registryId, provider: this.provider } },
    });
  }

  /** Text a provider might echo back, every secret() removed and then cut to length (errors.ts redact). */
  redact(text: string): string {
    return redact(text, this.secrets());
  }

  /** Headers of every attempt of `c` besides accept, user-agent and a Bearer token (API keys, account ids). */
  protected headersFor(_c: C): Record<string, string> {
    return {};
  }

  protected secrets(): string[] {
    return this.auth?.secrets() ?? [];
  }

  /** How long a 429/5xx reply asks us to wait; undefined leaves it to backoff. */
  protected retryAfter(reply: RestReply): number | undefined {
    return parseRetryAfter(header(reply.headers, "retry-after"));
  }

  private urlOf(c: C): URL {
    const url = c.path instanceof URL ? new URL(c.path) : new URL(c.path.replace(/^\//, ""), this.baseUrl);
    for (const [k, v] of Object.entries(c.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  private async exchange(c: C, url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<RestReply> {
    let body: string | undefined;
    if (c.json !== undefined) {
      body = JSON.stringify(c.json);
      headers = { ...headers, "content-type": this.jsonContentType };
    } else if (c.form !== undefined) {
      body = c.form.toString();
      headers = { ...headers, "content-type": "application/x-www-form-urlencoded" };
    }
    this.requestCount++;
    const attempt = attemptSignal(signal, this.requestTimeoutMs);
    try {
      const res = await request(url, { method: c.method, headers, body, dispatcher: this.agent, signal: attempt.signal });
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      const limit = ok ? (c.maxBytes ?? this.maxBytes) : ERROR_BODY_MAX_BYTES;
      const bytes = await readBody(res.body, limit, !ok);
      if (bytes === undefined) throw this.badResponse(`the answer to ${c.method} ${url.pathname} is larger than ${limit} bytes`);
      return { status: res.statusCode, headers: res.headers, body: bytes };
    } finally {
      attempt.done();
    }
  }

  private async pause(ms: number, signal: AbortSignal, doing: string | undefined): Promise<void> {
    try {
      await sleep(ms, signal);
    } catch {
      throw this.aborted(signal, doing);
    }
  }
}

function isRepeatable(c: RestCall): boolean {
  return IDEMPOTENT_METHODS.has(c.method) || c.repeatable === true;
}

/** The same error without RetryInfo, for a request whose outcome is unknown. */
function withoutRetry(err: RegplaneError): RegplaneError {
  if (err.retryDelayMs === undefined) return err;
  return new RegplaneError(err.code, err.message, { errorInfo: err.errorInfo, fieldViolations: err.fieldViolations, cause: err.cause });
}

/** The first value of a header that may repeat. */
export function header(headers: ReplyHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Reads at most `limit` bytes: undefined when the body is larger, or with `truncate` (error bodies,
 * read only for their message) the first `limit` bytes.
 */
export async function readBody(body: AsyncIterable<Buffer> & { destroy(): void }, limit: number, truncate = false): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > limit) {
      body.destroy();
      if (!truncate) return undefined;
      chunks.push(chunk.subarray(0, chunk.byteLength - (total - limit)));
      break;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Why a request got no answer, without the URL or anything else that could carry a credential. */
export function describeNetworkError(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; code?: string; cause?: { code?: string } } | undefined;
  if (err?.name === "TimeoutError" || err?.name === "AbortError") return `no answer within ${timeoutMs} ms`;
  const code = err?.code ?? err?.cause?.code;
  return code ? `connection failed (${code})` : "connection failed";
}

/** A body's JSON; undefined when it is empty or not JSON (error bodies, replies without content). */
export function jsonOrUndefined(body: Buffer): unknown {
  const text = body.toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
