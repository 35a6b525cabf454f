// The request loop every registry client runs: breaker admission, the authenticator, a concurrency
// permit, a deadline per attempt, retries with backoff and Retry-After, one re-authentication after a
// 401, redirects followed where a request asks, bounded bodies, aborts and bad answers as RegplaneErrors.
//
// On undici's own Agent. Its RetryAgent and redirect interceptor are not used: retries here must pass
// the circuit breaker and a semaphore permit per attempt, fetch a fresh token after a 401 and report an
// over-long Retry-After instead of waiting; redirects must count each hop and refuse non-http schemes.
import { Agent, request } from "undici";
import { Code, RegplaneError, providerError } from "../errors.js";
import { CircuitBreaker, Semaphore, attemptSignal, sleep, type CircuitBreakerOptions } from "../resilience.js";
import type { Authenticator } from "./auth.js";
import { ERROR_BODY_MAX_BYTES, header, readBody, type ReplyHeaders } from "./body.js";
import { Redactor, type SecretSource } from "./redact.js";
import { RETRYABLE_STATUS, RetryPolicy, mayRepeat, retryAfterOf, withoutRetry, type HttpMethod, type HttpTuning } from "./retry.js";

export interface HttpReply {
  status: number;
  headers: ReplyHeaders;
  body: Buffer;
  /** Where the reply came from (the last hop of a redirect). */
  url: URL;
}

export interface HttpRequest {
  method: HttpMethod;
  url: URL;
  headers?: Record<string, string>;
  body?: string;
  /** Largest success body accepted; the client's maxBytes when absent. */
  maxBytes?: number;
  /** What the request does, for error messages ("listing registries"); it prefixes a failure to connect. */
  doing?: string;
  /** Counted per kind in `requestsByKind` ("catalog", "token"). */
  kind?: string;
  /** Handed to the authenticator: what the request needs access to. */
  scope?: string;
  /** A POST or PATCH that changes nothing (a query, a token exchange), so it may be repeated like a GET. */
  repeatable?: boolean;
  /** 301/302/303/307/308 are followed (Authorization is dropped across origins). */
  followRedirects?: boolean;
  /**
   * A request made on behalf of another (a token fetch): it bypasses the semaphore, the breaker's
   * admission and the authenticator (the request it serves was already admitted), but its failures count.
   */
  auxiliary?: boolean;
  /** Sent as is instead of asking the authenticator. */
  authorization?: string;
}

export interface HttpLogger {
  warn(msg: string, ctx?: object): void;
  debug?(msg: string, ctx?: object): void;
}

/** Requests one registry or provider API client sends at once unless its entry sets maxConcurrency. */
export const DEFAULT_MAX_CONCURRENCY = 8;

export interface HttpClientOptions extends HttpTuning {
  registryId: string;
  provider: string;
  /** Where relative paths resolve. */
  baseUrl?: URL;
  /** The authentication plug-in; none sends no credentials. */
  auth?: Authenticator;
  /** Secrets besides the authenticator's that requests carry (credentials in a body). */
  secrets?: SecretSource;
  /** Requests in flight at once; unlimited when absent. */
  maxConcurrency?: number;
  /** Stops calling a registry that keeps failing; none when absent. */
  breaker?: CircuitBreakerOptions;
  /** Largest success body accepted. Default 16 MiB. */
  maxBytes?: number;
  /** The entry's `insecure`: plain http was allowed, and on https the certificate is not verified. */
  insecure?: boolean;
  /** An untrusted TLS certificate fails at once (FAILED_PRECONDITION) instead of being retried as a connection failure. */
  reportUntrustedCertificates?: boolean;
  logger?: HttpLogger;
}

const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

export class HttpClient {
  readonly registryId: string;
  readonly provider: string;
  readonly baseUrl?: URL;
  protected readonly auth?: Authenticator;
  protected readonly logger?: HttpLogger;
  protected readonly retry: RetryPolicy;
  /** RetryInfo of a bad answer; a client whose bad answers are not worth retrying at once sets undefined. */
  protected readonly badResponseRetryDelayMs: number | undefined = 1000;
  private readonly redactor: Redactor;
  private readonly maxBytes: number;
  private readonly semaphore?: Semaphore;
  private readonly breaker?: CircuitBreaker;
  private readonly reportUntrustedCertificates: boolean;
  private readonly agent: Agent;
  private requestCount = 0;
  private readonly byKind: Record<string, number> = {};

  constructor(options: HttpClientOptions) {
    this.registryId = options.registryId;
    this.provider = options.provider;
    this.baseUrl = options.baseUrl;
    this.auth = options.auth;
    this.logger = options.logger;
    this.retry = new RetryPolicy(options);
    this.redactor = new Redactor(options.auth && (() => options.auth!.secrets()), options.secrets, () => this.secrets());
    this.maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    if (options.maxConcurrency !== undefined) this.semaphore = new Semaphore(options.maxConcurrency);
    if (options.breaker !== undefined) this.breaker = new CircuitBreaker(options.breaker);
    this.reportUntrustedCertificates = options.reportUntrustedCertificates ?? false;
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

  /** HTTP requests sent: every attempt, auth round trip and redirect hop. */
  get requests(): number {
    return this.requestCount;
  }

  /** Requests sent by kind, for those that named one. */
  requestsByKind(): Record<string, number> {
    return { ...this.byKind };
  }

  resetRequestCounts(): void {
    this.requestCount = 0;
    for (const k of Object.keys(this.byKind)) delete this.byKind[k];
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** One logical request, every attempt and wait included. Returns the final reply whatever its status. */
  async perform(req: HttpRequest, signal: AbortSignal): Promise<HttpReply> {
    const repeatable = mayRepeat(req.method, req.repeatable);
    const what = req.doing ?? (req.kind === undefined ? "request" : `${req.kind} request`);
    const prefix = req.doing === undefined ? "" : `${req.doing}: `;
    const authenticated = this.auth !== undefined && !req.auxiliary && req.authorization === undefined;
    let reauthenticated = false;
    for (let attempt = 1; ; attempt++) {
      const wait = req.auxiliary ? 0 : (this.breaker?.admit() ?? 0);
      if (wait > 0) {
        throw providerError({
          registryId: this.registryId,
          provider: this.provider,
          message: `skipped for ${Math.ceil(wait / 1000)}s after ${this.breaker!.consecutiveFailures} consecutive failures`,
          retryAfterMs: wait,
        });
      }
      let authorization = req.authorization;
      let release = () => {};
      try {
        if (authenticated) authorization = await this.auth!.authorization(req.scope, signal);
        if (!req.auxiliary && this.semaphore !== undefined) release = await this.semaphore.acquire(signal);
      } catch (e) {
        this.settle(req, "released");
        throw signal.aborted ? this.aborted(signal, what) : e;
      }
      let reply: HttpReply;
      try {
        reply = await this.exchange(req, authorization, signal);
      } catch (e) {
        release();
        if (signal.aborted) {
          this.settle(req, "released");
          throw this.aborted(signal, what);
        }
        if (e instanceof RegplaneError) {
          this.settle(req, "released");
          throw e;
        }
        const tls = this.reportUntrustedCertificates ? certificateProblem(e) : undefined;
        if (tls !== undefined) {
          // Retrying cannot fix an untrusted certificate: it is this registry's configuration.
          this.settle(req, "released");
          throw new RegplaneError(
            Code.FAILED_PRECONDITION,
            `registry ${JSON.stringify(this.registryId)} (${this.provider}): TLS certificate of ${req.url.host} not trusted (${tls}); trust its CA, or set insecure: true for a test registry`,
            { errorInfo: { reason: "PROVIDER_TLS_UNTRUSTED", metadata: { registry_id: this.registryId, provider: this.provider, tls_error: tls } } },
          );
        }
        this.settle(req, "failed");
        const why = describeNetworkError(e, this.retry.requestTimeoutMs);
        this.logger?.debug?.("registry request failed", { registry: this.registryId, kind: req.kind, attempt, error: why });
        if (!repeatable) {
          const message = `${prefix}${req.url.host} unreachable: ${why}; it may have been applied`;
          throw withoutRetry(providerError({ registryId: this.registryId, provider: this.provider, message }));
        }
        if (attempt >= this.retry.maxAttempts) {
          throw providerError({ registryId: this.registryId, provider: this.provider, message: `${prefix}${req.url.host} unreachable: ${why}` });
        }
        await this.pause(this.retry.backoff(attempt), signal, what);
        continue;
      }
      release();
      this.settle(req, reply.status >= 500 ? "failed" : "succeeded");

      // Credentials can be revoked, expire early or lack a scope: one fresh try, not counted as an attempt.
      if (reply.status === 401 && authenticated && !reauthenticated) {
        reauthenticated = true;
        attempt--;
        if (await this.auth!.challenged(reply, req.scope, authorization, signal)) continue;
        return reply;
      }
      if (repeatable && RETRYABLE_STATUS.has(reply.status) && attempt < this.retry.maxAttempts) {
        const retryAfter = this.retryAfter(reply);
        if (retryAfter !== undefined && retryAfter > this.retry.maxRetryAfterMs) return reply;
        const delay = retryAfter ?? this.retry.backoff(attempt);
        this.logger?.debug?.("registry asked to retry", { registry: this.registryId, kind: req.kind, status: reply.status, attempt, delayMs: delay });
        await this.pause(delay, signal, what);
        continue;
      }
      return reply;
    }
  }

  badResponse(message: string): RegplaneError {
    return new RegplaneError(Code.UNAVAILABLE, `registry ${JSON.stringify(this.registryId)} (${this.provider}): ${this.redact(message)}`, {
      errorInfo: { reason: "PROVIDER_BAD_RESPONSE", metadata: { registry_id: this.registryId, provider: this.provider } },
      retryDelayMs: this.badResponseRetryDelayMs,
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

  /** Text a provider might echo back, every secret removed and then cut to length. */
  redact(text: string): string {
    return this.redactor.text(text);
  }

  /** Secrets of the provider's own besides the authenticator's and the options' (API keys in headers). */
  protected secrets(): string[] {
    return [];
  }

  /** How long a 429/5xx reply asks us to wait; undefined leaves it to backoff. */
  protected retryAfter(reply: HttpReply): number | undefined {
    return retryAfterOf(reply.headers);
  }

  private settle(req: HttpRequest, outcome: "succeeded" | "failed" | "released"): void {
    if (outcome === "failed") this.breaker?.failure();
    else if (req.auxiliary) return;
    else if (outcome === "succeeded") this.breaker?.success();
    else this.breaker?.release();
  }

  private async pause(ms: number, signal: AbortSignal, doing: string): Promise<void> {
    try {
      await sleep(ms, signal);
    } catch {
      throw this.aborted(signal, doing);
    }
  }

  /** One attempt with its own deadline, following redirects when asked (Authorization kept to the first origin). */
  private async exchange(req: HttpRequest, authorization: string | undefined, signal: AbortSignal): Promise<HttpReply> {
    const attempt = attemptSignal(signal, this.retry.requestTimeoutMs);
    try {
      let url = req.url;
      for (let hop = 0; ; hop++) {
        const headers: Record<string, string> = { "user-agent": "regplane", ...req.headers };
        if (authorization !== undefined && url.origin === req.url.origin) headers.authorization = authorization;
        this.count(req.kind);
        const res = await request(url, { method: req.method, headers, body: req.body, dispatcher: this.agent, signal: attempt.signal });
        const location = header(res.headers, "location");
        if (req.followRedirects && REDIRECT_STATUS.has(res.statusCode) && location !== undefined) {
          await res.body.dump();
          if (hop >= MAX_REDIRECTS) throw this.badResponse(`more than ${MAX_REDIRECTS} redirects for ${req.url.pathname}`);
          url = new URL(location, url);
          if (url.protocol !== "http:" && url.protocol !== "https:") throw this.badResponse(`redirect to a ${url.protocol} URL refused`);
          continue;
        }
        const ok = res.statusCode >= 200 && res.statusCode < 300;
        const limit = req.method === "HEAD" ? 0 : ok ? (req.maxBytes ?? this.maxBytes) : ERROR_BODY_MAX_BYTES;
        const body = await readBody(res.body, limit, !ok);
        if (body === undefined) throw this.badResponse(`the answer to ${req.method} ${req.url.pathname} is larger than ${limit} bytes`);
        return { status: res.statusCode, headers: res.headers, body, url };
      }
    } finally {
      attempt.done();
    }
  }

  private count(kind: string | undefined): void {
    this.requestCount++;
    if (kind !== undefined) this.byKind[kind] = (this.byKind[kind] ?? 0) + 1;
  }
}

/** Why a request got no answer, without the URL or anything else that could carry a credential. */
export function describeNetworkError(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; code?: string; cause?: { code?: string } } | undefined;
  if (err?.name === "TimeoutError" || err?.name === "AbortError") return `no answer within ${timeoutMs} ms`;
  const code = err?.code ?? err?.cause?.code;
  return code ? `connection failed (${code})` : "connection failed";
}

/** The TLS verification error code when a connection failed on the peer's certificate. */
function certificateProblem(e: unknown): string | undefined {
  const err = e as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = typeof err?.code === "string" ? err.code : typeof err?.cause?.code === "string" ? err.cause.code : undefined;
  if (code === undefined) return undefined;
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT_ALTNAME_INVALID/.test(code) ? code : undefined;
}
