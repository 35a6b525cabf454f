// Yandex Cloud REST calls: an IAM token on every call (the token source is asked for a fresh one once
// when the API answers UNAUTHENTICATED) and google.rpc.Status error bodies mapped to our errors.
// Retries and deadlines are core/http/'s. YandexApi is the Container Registry API as the parts call
// it: paths under /container-registry/v1, token-paged listings, Operations polled to their end.
import { Code, RegplaneError, providerError } from "../../core/errors.js";
import { arr, obj, str } from "../../core/json.js";
import { sleep } from "../../core/resilience.js";
import { RestClient, bearerAuth, jsonOrUndefined, type HttpReply, type HttpTuning, type RestCall, type TokenSource } from "../../core/http/index.js";

export interface YandexClientOptions extends HttpTuning {
  /** Configured registry id, named in every error. */
  registryId: string;
  /** IAM tokens for every call; absent for the token exchange itself. */
  auth?: TokenSource;
  /** Secrets the calls carry besides auth's (the OAuth token or JWT of the token exchange). */
  secrets?: () => string[];
  /** Plain http to the endpoints allowed (url-policy.ts); on https certificates are not verified. */
  insecure?: boolean;
}

/** google.rpc.Status as the REST API sends it. */
export interface RpcStatus {
  code: number;
  message: string;
}

const PROVIDER = "yandex";
/** pageSize of every listing read to its end (Yandex's largest). */
export const FULL_PAGE = 1000;
const MAX_PAGES = 100_000;
const NOT_FOUND = 5;
const CODE_NAMES: Record<number, string> = {
  1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND", 6: "ALREADY_EXISTS",
  7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE",
  12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED",
};

/** Calls take whole URLs: the API, operation and IAM endpoints are different hosts. */
export class YandexClient extends RestClient {
  constructor(options: YandexClientOptions) {
    super({ ...options, provider: PROVIDER, auth: options.auth && bearerAuth(options.auth) });
  }

  /** An asynchronous failure (Operation.error) as our error: the provider's gRPC code, its message. */
  operationFailure(status: RpcStatus, operationId: string, doing: string): RegplaneError {
    // Rejected credentials are ours to fix, not the caller's (design.md, Errors).
    const code = status.code === Code.UNAUTHENTICATED || status.code === Code.PERMISSION_DENIED ? Code.FAILED_PRECONDITION : (status.code as Code);
    return new RegplaneError(code, `registry ${JSON.stringify(this.registryId)} (${PROVIDER}): ${doing}: operation ${operationId} failed: ${this.redact(status.message)}`, {
      errorInfo: {
        reason: "PROVIDER_OPERATION_FAILED",
        metadata: { registry_id: this.registryId, provider: PROVIDER, provider_code: CODE_NAMES[status.code] ?? String(status.code), provider_operation_id: operationId },
      },
      retryDelayMs: code === Code.UNAVAILABLE || code === Code.RESOURCE_EXHAUSTED ? 1000 : undefined,
    });
  }

  failure(reply: HttpReply, doing: string): RegplaneError {
    const rpc = rpcStatusOf(jsonOrUndefined(reply.body));
    const name = rpc ? (CODE_NAMES[rpc.code] ?? String(rpc.code)) : undefined;
    const mapped = providerError({
      registryId: this.registryId,
      provider: PROVIDER,
      httpStatus: reply.status,
      providerCode: name,
      message: this.redact(`${doing}: HTTP ${reply.status}${name ? ` ${name}` : ""}${rpc?.message ? `: ${rpc.message}` : ""}`),
      retryAfterMs: this.retryAfter(reply),
    });
    // HTTP 400 and 409 each stand for several gRPC codes; the body says which one.
    const refined = rpc && (reply.status === 400 || reply.status === 409) ? ([Code.INVALID_ARGUMENT, Code.FAILED_PRECONDITION, Code.ALREADY_EXISTS, Code.ABORTED, Code.OUT_OF_RANGE] as number[]).find((c) => c === rpc.code) : undefined;
    if (refined === undefined) return mapped;
    return new RegplaneError(refined as Code, mapped.message, { errorInfo: mapped.errorInfo });
  }
}

export function rpcStatusOf(doc: unknown): RpcStatus | undefined {
  if (doc === null || typeof doc !== "object") return undefined;
  const s = doc as { code?: unknown; message?: unknown };
  if (typeof s.code !== "number") return undefined;
  return { code: s.code, message: typeof s.message === "string" ? s.message : "" };
}

interface YandexOperation {
  id: string;
  done: boolean;
  error?: { code: number; message: string };
  response?: Record<string, unknown>;
}

export interface YandexApiOptions {
  client: YandexClient;
  /** Container Registry API base; paths go under /container-registry/v1. */
  api: URL;
  /** Operation API base; operations are read at /operations/{id}. */
  operations: URL;
  /** First wait between operation polls; doubles up to 5 s. */
  pollMs: number;
  /** How long an operation is polled before giving up. */
  operationTimeoutMs: number;
}

/**
 * The Container Registry API over a YandexClient. Mutations (image delete, registry create / update /
 * delete) return Yandex Operations, polled at the operation endpoint until done; an Operation that
 * ends in `error` fails with that error.
 */
export class YandexApi {
  private readonly client: YandexClient;

  constructor(private readonly options: YandexApiOptions) {
    this.client = options.client;
  }

  /** host[:port] of the Container Registry API. */
  get host(): string {
    return this.options.api.host;
  }

  /** One call to a path under /container-registry/v1. */
  send(call: RestCall & { path: string; doing: string }, signal: AbortSignal): Promise<{ status: number; body: unknown }> {
    return this.client.send({ ...call, path: this.url(call.path) }, signal);
  }

  async get(path: string, query: Record<string, string | undefined>, doing: string, signal: AbortSignal): Promise<Record<string, unknown>> {
    const url = this.url(path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") url.searchParams.set(k, v);
    return obj((await this.client.send({ method: "GET", path: url, doing }, signal)).body);
  }

  /**
   * Reads a token-paged listing to its end (an empty or missing nextPageToken is the last page), or
   * until `each` returns true.
   */
  async pages(path: string, scope: Record<string, string>, key: string, doing: string, signal: AbortSignal, each: (item: Record<string, unknown>) => boolean | void): Promise<void> {
    let token: string | undefined;
    const seen = new Set<string>();
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      const doc = await this.get(path, { ...scope, pageSize: String(FULL_PAGE), pageToken: token }, doing, signal);
      for (const item of arr(doc[key])) if (each(obj(item)) === true) return;
      const next = str(doc.nextPageToken);
      if (next === "" || seen.has(next)) return;
      seen.add(next);
      token = next;
    }
  }

  /**
   * Polls an Operation until done: its response on success, its error as ours on failure. With
   * `goneIsDone`, an operation failing NOT_FOUND counts as done (deleting what is already gone).
   */
  async finish(body: unknown, doing: string, signal: AbortSignal, goneIsDone: boolean): Promise<Record<string, unknown>> {
    const { pollMs, operationTimeoutMs } = this.options;
    let op = this.operationOf(body);
    const deadline = Date.now() + operationTimeoutMs;
    for (let delay = pollMs; !op.done; delay = Math.min(delay * 2, 5000)) {
      if (Date.now() >= deadline) {
        throw new RegplaneError(Code.DEADLINE_EXCEEDED, `registry ${JSON.stringify(this.client.registryId)} (yandex): ${doing}: operation ${op.id} still running after ${operationTimeoutMs} ms`, {
          errorInfo: { reason: "PROVIDER_OPERATION_TIMEOUT", metadata: { registry_id: this.client.registryId, provider: PROVIDER, provider_operation_id: op.id } },
        });
      }
      await sleep(delay, signal);
      const url = new URL(`operations/${encodeURIComponent(op.id)}`, this.options.operations);
      op = this.operationOf((await this.client.send({ method: "GET", path: url, doing: `${doing}: reading operation ${op.id}` }, signal)).body);
    }
    if (op.error) {
      if (goneIsDone && op.error.code === NOT_FOUND) return {};
      throw this.client.operationFailure(op.error, op.id, doing);
    }
    const { "@type": _type, ...response } = op.response ?? {};
    return response;
  }

  private url(path: string): URL {
    return new URL(`container-registry/v1/${path}`, this.options.api);
  }

  private operationOf(body: unknown): YandexOperation {
    const o = obj(body);
    const op: YandexOperation = { id: str(o.id), done: o.done === true };
    const error = rpcStatusOf(o.error);
    if (error) op.error = error;
    if (o.response && typeof o.response === "object") op.response = obj(o.response);
    if (op.id === "" && !op.done) {
      throw new RegplaneError(Code.UNAVAILABLE, `registry ${JSON.stringify(this.client.registryId)} (yandex): answered with an operation without an id`, {
        errorInfo: { reason: "PROVIDER_BAD_RESPONSE", metadata: { registry_id: this.client.registryId, provider: PROVIDER } },
      });
    }
    return op;
  }
}
