// IBM Cloud Container Registry's API at one region endpoint: an IAM token from the API key (cached and
// refreshed before it expires) as the Bearer token, `Account` on every call, and IBM's
// `{code, message, request-id}` error bodies mapped to gRPC codes. Retries, the concurrency limit and
// the circuit breaker are core/http/'s.
import { LRUCache } from "lru-cache";
import { Code, RegplaneError, providerError } from "../../core/errors.js";
import { breakerOptionsOf, raceSignal, type BreakerTuning } from "../../core/resilience.js";
import { DEFAULT_MAX_CONCURRENCY, RestClient, RetryPolicy, bearerAuth, type HttpReply, type HttpTuning, type TokenSource } from "../../core/http/index.js";

export interface IbmClientOptions extends HttpTuning, BreakerTuning {
  registryId: string;
  /** Origin of the registry's management API, e.g. https://us.icr.io. */
  baseUrl: URL;
  /** Origin of IAM; the token is POSTed to <iamUrl>/identity/token. */
  iamUrl: URL;
  account: string;
  apiKey: string;
  /** Requests in flight at once (IAM excluded). Default 8. */
  maxConcurrency?: number;
  /** Plain http to baseUrl and iamUrl was allowed (url-policy.ts); on https certificates are not verified. */
  insecure?: boolean;
}

export interface IbmStats {
  requests: number;
  tokenRequests: number;
}

interface CachedToken {
  value: string;
  /** When to fetch a new one (80 % of its lifetime, as IBM's SDKs do). */
  refreshAt: number;
  expiresAt: number;
}

const PROVIDER = "ibm";

export class IbmClient extends RestClient {
  private readonly account: string;
  private readonly iam: IamTokens;

  constructor(options: IbmClientOptions) {
    const iam = new IamTokens(options);
    super({
      ...options,
      provider: PROVIDER,
      auth: bearerAuth(iam),
      maxConcurrency: options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY,
      breaker: breakerOptionsOf(options),
      // The image and namespace listings are not paged.
      maxBytes: 64 * 1024 * 1024,
    });
    this.iam = iam;
    this.account = options.account;
  }

  stats(): IbmStats {
    return { requests: this.requests, tokenRequests: this.iam.requests };
  }

  /** IAM tokens kept to be scrubbed from messages (for tests of their bound). */
  get issuedTokens(): number {
    return this.iam.issuedTokens;
  }

  override async close(): Promise<void> {
    await Promise.all([super.close(), this.iam.close()]);
  }

  /** Maps a non-2xx reply: IBM's `{code, message, request-id}` body, secrets scrubbed. */
  failure(reply: HttpReply, doing: string): RegplaneError {
    const { code, message, requestId } = ibmErrorBody(reply.body);
    // IBM's words are redacted (and cut); our hint after them always stays whole.
    let text = this.redact(`${doing}: HTTP ${reply.status}${code ? ` ${code}` : ""}${message ? `: ${message}` : ""}${requestId ? ` (request-id ${requestId})` : ""}`);
    if (reply.status === 401 || reply.status === 403) text += "; check the apiKey and account configured for this registry";
    return providerError({
      registryId: this.registryId,
      provider: PROVIDER,
      httpStatus: reply.status,
      providerCode: code,
      message: text,
      retryAfterMs: this.retryAfter(reply),
    });
  }

  protected override headersFor(): Record<string, string> {
    return { account: this.account };
  }
}

export const ISSUED_TOKENS_KEPT = 16;

/** IAM tokens for the API key, fetched one at a time at <iamUrl>/identity/token. */
class IamTokens extends RestClient implements TokenSource {
  private readonly apiKey: string;
  /** The fetch outlives any one caller, so it runs on a deadline of its own. */
  private readonly fetchTimeoutMs: number;
  private cached?: CachedToken;
  private flight?: Promise<CachedToken>;
  /**
   * The latest tokens handed out, kept only to scrub them from provider messages: one is fetched per 80 %
   * of a lifetime, so these cover the hours a message could still carry one, and the set stays bounded.
   */
  private readonly issued = new LRUCache<string, true>({ max: ISSUED_TOKENS_KEPT });

  constructor(options: IbmClientOptions) {
    super({ ...options, provider: PROVIDER, baseUrl: options.iamUrl, maxConcurrency: undefined, maxBytes: 1024 * 1024 });
    this.apiKey = options.apiKey;
    const policy = new RetryPolicy(options);
    this.fetchTimeoutMs = policy.requestTimeoutMs * policy.maxAttempts;
  }

  /** The cached token, or a new one once 80 % of its lifetime has passed. */
  async token(signal: AbortSignal): Promise<string> {
    const cached = this.cached;
    if (cached && Date.now() < cached.refreshAt) return cached.value;
    if (!this.flight) {
      // A caller giving up does not fail the others waiting on the same fetch.
      const flight = this.fetchToken(AbortSignal.timeout(this.fetchTimeoutMs));
      this.flight = flight;
      flight.then(
        (t) => {
          this.cached = t;
          if (this.flight === flight) this.flight = undefined;
        },
        () => {
          if (this.flight === flight) this.flight = undefined;
        },
      );
    }
    // A still-valid token serves while its successor is fetched.
    if (cached && Date.now() < cached.expiresAt) return cached.value;
    return (await raceSignal(this.flight, signal)).value;
  }

  /** IAM tokens can be revoked before they expire: drop it so the next call fetches a fresh one. */
  rejected(token: string): boolean {
    if (this.cached?.value === token) this.cached = undefined;
    return true;
  }

  override secrets(): string[] {
    return [this.apiKey, ...this.issued.keys()];
  }

  get issuedTokens(): number {
    return this.issued.size;
  }

  /** IAM refusing the API key is our configuration's problem, not the caller's: FAILED_PRECONDITION. */
  failure(reply: HttpReply, doing: string): RegplaneError {
    const body = ibmErrorBody(reply.body);
    const metadata: Record<string, string> = { registry_id: this.registryId, provider: PROVIDER, http_status: String(reply.status) };
    if (body.code) metadata.provider_code = body.code;
    const detail = `HTTP ${reply.status}${body.code ? ` ${body.code}` : ""}${body.message ? `: ${body.message}` : ""}`;
    if (reply.status === 400 || reply.status === 401 || reply.status === 403) {
      return new RegplaneError(
        Code.FAILED_PRECONDITION,
        this.redact(`registry ${JSON.stringify(this.registryId)} (${PROVIDER}): IAM rejected the configured apiKey (${detail})`),
        { errorInfo: { reason: "PROVIDER_CREDENTIALS_REJECTED", metadata } },
      );
    }
    return providerError({
      registryId: this.registryId,
      provider: PROVIDER,
      httpStatus: reply.status,
      providerCode: body.code,
      message: this.redact(`${doing}: ${detail}`),
      retryAfterMs: this.retryAfter(reply),
    });
  }

  private async fetchToken(signal: AbortSignal): Promise<CachedToken> {
    const doing = "getting an IAM token";
    const form = new URLSearchParams({ grant_type: "urn:ibm:params:oauth:grant-type:apikey", apikey: this.apiKey, response_type: "cloud_iam" });
    // Exchanging the API key again only issues another token.
    const reply = await this.call({ method: "POST", path: "/identity/token", form, doing, repeatable: true }, signal);
    if (reply.status !== 200) throw this.failure(reply, doing);
    const doc = this.parse<{ access_token?: unknown; expires_in?: unknown; expiration?: unknown }>(reply, doing);
    if (typeof doc.access_token !== "string" || doc.access_token === "") throw this.badResponse("IAM answered without an access_token");
    const now = Date.now();
    const expiresAt =
      typeof doc.expiration === "number" && doc.expiration * 1000 > now
        ? doc.expiration * 1000
        : now + (typeof doc.expires_in === "number" && doc.expires_in > 0 ? doc.expires_in : 3600) * 1000;
    this.issued.set(doc.access_token, true);
    return { value: doc.access_token, expiresAt, refreshAt: now + 0.8 * (expiresAt - now) };
  }
}

/** IBM's error body `{code, message, request-id}`; IAM's `{errorCode, errorMessage}` is read too. */
function ibmErrorBody(body: Buffer): { code?: string; message?: string; requestId?: string } {
  try {
    const doc = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
    const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
    return {
      code: text(doc.code) ?? text(doc.errorCode),
      message: text(doc.message) ?? text(doc.errorMessage),
      requestId: text(doc["request-id"]),
    };
  } catch {
    return {};
  }
}
