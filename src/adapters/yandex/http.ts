// Yandex Cloud REST calls: an IAM token on every call (the token source is asked for a fresh one once
// when the API answers UNAUTHENTICATED) and google.rpc.Status error bodies mapped to our errors.
// Retries and deadlines are core/rest.ts's.
import { Code, RegplaneError, providerError } from "../../core/errors.js";
import { RestClient, jsonOrUndefined, type RestReply, type RestTuning, type TokenSource } from "../../core/rest.js";

export interface YandexHttpOptions extends RestTuning {
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
const CODE_NAMES: Record<number, string> = {
  1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND", 6: "ALREADY_EXISTS",
  7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE",
  12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED",
};

/** Calls take whole URLs: the API, operation and IAM endpoints are different hosts. */
export class YandexHttp extends RestClient {
  private readonly carried: () => string[];

  constructor(options: YandexHttpOptions) {
    super({ ...options, provider: PROVIDER });
    this.carried = options.secrets ?? (() => []);
  }

  protected override secrets(): string[] {
    return [...super.secrets(), ...this.carried()];
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

  failure(reply: RestReply, doing: string): RegplaneError {
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
