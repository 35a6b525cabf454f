// The IONOS Container Registry REST API: Bearer (or Basic) auth, X-Contract-Number, and IONOS error
// bodies ({httpStatus, messages:[{errorCode, message}]}) mapped to regplane errors. Retries and
// deadlines are core/http/'s. Repositories and artifacts are read here offset page by offset page.
import { Code, RegplaneError, providerError } from "../../core/errors.js";
import { arr, obj } from "../../core/json.js";
import { fieldName } from "../../core/registry-config.js";
import { RestClient, basicAuth, bearerAuth, jsonOrUndefined, staticToken, type Authenticator, type HttpReply, type HttpTuning, type RestCall } from "../../core/http/index.js";
import { checkedEndpoint } from "../../core/url-policy.js";

export interface IonosClientOptions extends HttpTuning {
  /** Configured registry id, named in every error. */
  registryId: string;
  /** API base URL, e.g. https://api.ionos.com/containerregistries. */
  endpoint: string;
  token?: string;
  username?: string;
  password?: string;
  /** X-Contract-Number, for users with several contracts. */
  contractNumber?: string;
  /** Plain http to the endpoint allowed (url-policy.ts); on https the certificate is not verified. */
  insecure?: boolean;
  /** `limit` of repository and artifact requests (1..1000). */
  pageSize: number;
}

export interface IonosCall extends RestCall {
  /** Repositories and artifacts accept only Bearer tokens (providers.md §3). */
  bearerOnly?: boolean;
}

const PROVIDER = "ionos";
/** Pages one listing may take before it is cut short. */
export const MAX_PAGES = 100_000;

export class IonosClient extends RestClient<IonosCall> {
  constructor(private readonly options: IonosClientOptions) {
    super({ ...options, provider: PROVIDER, baseUrl: endpointOf(options), auth: authOf(options) });
  }

  /** Reads an offset/limit collection to its end; a 404 on the first page reads as empty. */
  async offsetPages(
    path: string,
    doing: string,
    signal: AbortSignal,
    each: (item: Record<string, unknown>) => void,
    query: Record<string, string> = {},
  ): Promise<void> {
    const { pageSize } = this.options;
    for (let offset = 0, pages = 0; pages < MAX_PAGES; pages++) {
      const reply = await this.send({ method: "GET", path, query: { ...query, offset, limit: pageSize }, bearerOnly: true, accept: [404], doing }, signal);
      if (reply.status === 404) return;
      const items = arr(obj(reply.body).items);
      for (const item of items) each(obj(item));
      // A short page is the last; _links.next is not documented as the end marker.
      if (items.length < pageSize) return;
      offset += items.length;
    }
  }

  failure(reply: HttpReply, doing: string): RegplaneError {
    const doc = jsonOrUndefined(reply.body) as { messages?: Array<{ errorCode?: unknown; message?: unknown }> } | undefined;
    const messages = Array.isArray(doc?.messages) ? doc.messages : [];
    const code = typeof messages[0]?.errorCode === "string" ? messages[0].errorCode : undefined;
    const said = messages.map((m) => (typeof m?.message === "string" ? m.message : "")).filter(Boolean).join("; ");
    return providerError({
      registryId: this.registryId,
      provider: PROVIDER,
      httpStatus: reply.status,
      providerCode: code,
      message: this.redact(`${doing}: HTTP ${reply.status}${code ? ` ${code}` : ""}${said ? `: ${said}` : ""}`),
      retryAfterMs: this.retryAfter(reply),
    });
  }

  protected override headersFor(c: IonosCall): Record<string, string> {
    const { token, username, password } = this.options;
    if (!token && (c.bearerOnly || username === undefined || password === undefined)) {
      throw new RegplaneError(Code.FAILED_PRECONDITION, `registry ${JSON.stringify(this.registryId)} (${PROVIDER}): ${c.doing} needs an API token (IONOS accepts only Bearer tokens there); set token or tokenFile`, {
        errorInfo: { reason: "PROVIDER_TOKEN_REQUIRED", metadata: { registry_id: this.registryId, provider: PROVIDER } },
      });
    }
    return this.options.contractNumber ? { "x-contract-number": this.options.contractNumber } : {};
  }
}

/** The token as Bearer when there is one, else Basic credentials; calls needing a token check for one (headersFor). */
function authOf(options: IonosClientOptions): Authenticator | undefined {
  if (options.token) return bearerAuth(staticToken(options.token));
  if (options.username !== undefined && options.password !== undefined) return basicAuth(options.username, options.password);
  return undefined;
}

/** The endpoint as a base URL whose path ends in "/", so call paths resolve under it. It is the entry's `endpoint` field. */
function endpointOf(options: IonosClientOptions): URL {
  const endpoint = checkedEndpoint(options.endpoint, fieldName({ id: options.registryId }, "endpoint"), options.insecure ?? false);
  if (!endpoint.pathname.endsWith("/")) endpoint.pathname += "/";
  return endpoint;
}
