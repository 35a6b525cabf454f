// A provider's JSON REST API on the HttpClient loop: calls by path under a base URL with a query, a
// JSON or form body, and the provider's error body as a RegplaneError. Each provider subclasses it for
// what is its own: headers, its error body, its secrets.
import type { RegplaneError } from "../errors.js";
import { HttpClient, type HttpReply } from "./client.js";
import { RETRYABLE_STATUS, mayRepeat, withoutRetry, type HttpMethod } from "./retry.js";
import { jsonOrUndefined } from "./body.js";

export interface RestCall {
  method: Exclude<HttpMethod, "HEAD">;
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

export abstract class RestClient<C extends RestCall = RestCall> extends HttpClient {
  /** Content-Type of JSON bodies; a provider whose own SDK names the charset overrides it. */
  protected readonly jsonContentType: string = "application/json";

  /** One logical call (HttpClient.perform). Returns the final reply whatever its status. */
  async call(c: C, signal: AbortSignal): Promise<HttpReply> {
    const headers: Record<string, string> = { accept: "application/json", ...this.headersFor(c), ...c.headers };
    let body: string | undefined;
    if (c.json !== undefined) {
      body = JSON.stringify(c.json);
      headers["content-type"] = this.jsonContentType;
    } else if (c.form !== undefined) {
      body = c.form.toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
    }
    return this.perform({ method: c.method, url: this.urlOf(c), headers, body, maxBytes: c.maxBytes, doing: c.doing, repeatable: c.repeatable }, signal);
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
  failureOf(c: C & { doing: string }, reply: HttpReply): RegplaneError {
    const err = this.failure(reply, c.doing);
    return !mayRepeat(c.method, c.repeatable) && RETRYABLE_STATUS.has(reply.status) ? withoutRetry(err) : err;
  }

  parse<T>(reply: HttpReply, doing: string): T {
    try {
      return JSON.parse(reply.body.toString("utf8")) as T;
    } catch {
      throw this.badResponse(`${doing}: the answer is not JSON`);
    }
  }

  /** A non-2xx reply as a RegplaneError, read from the provider's error body (redact() its text). */
  abstract failure(reply: HttpReply, doing: string): RegplaneError;

  /** Headers of every attempt of `c` besides accept, user-agent and Authorization (API keys, account ids). */
  protected headersFor(_c: C): Record<string, string> {
    return {};
  }

  private urlOf(c: C): URL {
    const url = c.path instanceof URL ? new URL(c.path) : new URL(c.path.replace(/^\//, ""), this.baseUrl);
    for (const [k, v] of Object.entries(c.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }
}
