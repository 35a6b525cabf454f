// Errors carried from adapters and core to the transports, as gRPC status codes with google.rpc-style
// details in domain form (src/services/status.ts encodes them as google.rpc.Status details).

/** gRPC status codes (same numbers as grpc-js Status and connect Code). */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

export interface FieldViolation {
  field: string;
  description: string;
  reason?: string;
}

export interface ErrorInfo {
  reason: string;
  metadata: Record<string, string>;
}

export interface RegplaneErrorOptions {
  fieldViolations?: FieldViolation[];
  errorInfo?: ErrorInfo;
  retryDelayMs?: number;
  cause?: unknown;
}

export class RegplaneError extends Error {
  readonly code: Code;
  readonly fieldViolations: FieldViolation[];
  readonly errorInfo?: ErrorInfo;
  readonly retryDelayMs?: number;

  constructor(code: Code, message: string, options: RegplaneErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RegplaneError";
    this.code = code;
    this.fieldViolations = options.fieldViolations ?? [];
    this.errorInfo = options.errorInfo;
    this.retryDelayMs = options.retryDelayMs;
  }
}

/** INVALID_ARGUMENT with one BadRequest field violation. */
export function invalidField(field: string, description: string, reason = "INVALID"): RegplaneError {
  return new RegplaneError(Code.INVALID_ARGUMENT, `${field}: ${description}`, {
    fieldViolations: [{ field, description, reason }],
  });
}

export function notFound(what: string, id: string): RegplaneError {
  return new RegplaneError(Code.NOT_FOUND, `${what} ${JSON.stringify(id)} not found`, {
    errorInfo: { reason: `${what.toUpperCase().replace(/ /g, "_")}_NOT_FOUND`, metadata: { id } },
  });
}

/** FAILED_PRECONDITION for an operation a provider does not support. */
export function unsupported(registryId: string, provider: string, capability: string): RegplaneError {
  return new RegplaneError(
    Code.FAILED_PRECONDITION,
    `registry ${JSON.stringify(registryId)} (provider ${provider}) does not support ${capability}`,
    { errorInfo: { reason: "CAPABILITY_UNSUPPORTED", metadata: { registry_id: registryId, provider, capability } } },
  );
}

export interface ProviderFailure {
  registryId: string;
  provider: string;
  /** HTTP status from the provider, or undefined for a connection failure / timeout. */
  httpStatus?: number;
  /** Provider's own error code (CRG0009E, not_found, MANIFEST_UNKNOWN, …). */
  providerCode?: string;
  /** Provider's message; must never carry a credential. */
  message: string;
  retryAfterMs?: number;
}

/**
 * Maps a provider failure to a status per design.md: 400 → INVALID_ARGUMENT, 401/403 →
 * FAILED_PRECONDITION (our credentials, not the caller's), 404 → NOT_FOUND, 409 → ABORTED,
 * 429 → RESOURCE_EXHAUSTED, 5xx and timeouts → UNAVAILABLE.
 */
export function providerError(f: ProviderFailure): RegplaneError {
  const s = f.httpStatus;
  let code: Code;
  let reason: string;
  if (s === undefined) [code, reason] = [Code.UNAVAILABLE, "PROVIDER_UNREACHABLE"];
  else if (s === 400 || s === 422) [code, reason] = [Code.INVALID_ARGUMENT, "PROVIDER_REJECTED_REQUEST"];
  else if (s === 401 || s === 403) [code, reason] = [Code.FAILED_PRECONDITION, "PROVIDER_CREDENTIALS_REJECTED"];
  else if (s === 404) [code, reason] = [Code.NOT_FOUND, "PROVIDER_NOT_FOUND"];
  else if (s === 405) [code, reason] = [Code.FAILED_PRECONDITION, "PROVIDER_OPERATION_UNSUPPORTED"];
  else if (s === 409) [code, reason] = [Code.ABORTED, "PROVIDER_CONFLICT"];
  else if (s === 429) [code, reason] = [Code.RESOURCE_EXHAUSTED, "PROVIDER_RATE_LIMITED"];
  else if (s === 408 || s >= 500) [code, reason] = [Code.UNAVAILABLE, "PROVIDER_UNAVAILABLE"];
  else [code, reason] = [Code.UNKNOWN, "PROVIDER_ERROR"];
  const metadata: Record<string, string> = { registry_id: f.registryId, provider: f.provider };
  if (s !== undefined) metadata.http_status = String(s);
  if (f.providerCode) metadata.provider_code = f.providerCode;
  const retryable = code === Code.UNAVAILABLE || code === Code.RESOURCE_EXHAUSTED;
  return new RegplaneError(code, `registry ${JSON.stringify(f.registryId)} (${f.provider}): ${f.message}`, {
    errorInfo: { reason, metadata },
    retryDelayMs: retryable ? (f.retryAfterMs ?? 1000) : undefined,
  });
}

/** Codes that say the same request will fail again: no retry helps, so they are never UNAVAILABLE. */
const PERMANENT_CODES = new Set<Code>([
  Code.INVALID_ARGUMENT,
  Code.NOT_FOUND,
  Code.ALREADY_EXISTS,
  Code.PERMISSION_DENIED,
  Code.FAILED_PRECONDITION,
  Code.OUT_OF_RANGE,
  Code.UNIMPLEMENTED,
  Code.DATA_LOSS,
  Code.UNAUTHENTICATED,
]);

/** A failure that retrying cannot cure: rejected credentials, a bad cursor or argument, something not there. */
export function isPermanent(e: unknown): e is RegplaneError {
  return e instanceof RegplaneError && PERMANENT_CODES.has(e.code) && e.retryDelayMs === undefined;
}

/**
 * The error of a listing that got nothing from any registry in its scope. A one-registry scope answers
 * with its registry's own permanent failure or rate limit; when every failure is permanent no retry is offered (their
 * shared code, else FAILED_PRECONDITION, naming each registry's reason); otherwise UNAVAILABLE with RetryInfo.
 */
export function nothingListed(failures: ReadonlyArray<{ registryId: string; error: unknown }>): RegplaneError {
  const only = failures.length === 1 ? failures[0].error : undefined;
  // A rate limit says when to come back; UNAVAILABLE would hide that.
  if (isPermanent(only) || (only instanceof RegplaneError && only.code === Code.RESOURCE_EXHAUSTED)) return only;
  const ids = failures.map((f) => f.registryId).join(",");
  const reasons = failures.map((f) => `${f.registryId}=${isRegplaneError(f.error) ? (f.error.errorInfo?.reason ?? codeName(f.error.code)) : "UNKNOWN"}`).join(",");
  const said = failures.map((f) => (f.error instanceof Error ? f.error.message : String(f.error))).join("; ");
  const message = `no registry in scope could be listed (${failures.map((f) => f.registryId).join(", ")})${said ? `: ${said}` : ""}`;
  if (failures.length > 0 && failures.every((f) => isPermanent(f.error))) {
    const codes = new Set(failures.map((f) => (f.error as RegplaneError).code));
    const code = codes.size === 1 ? [...codes][0] : Code.FAILED_PRECONDITION;
    return new RegplaneError(code, message, { errorInfo: { reason: "ALL_REGISTRIES_FAILED", metadata: { registry_ids: ids, reasons } }, cause: failures[0].error });
  }
  return new RegplaneError(Code.UNAVAILABLE, message, {
    errorInfo: { reason: "ALL_REGISTRIES_UNAVAILABLE", metadata: { registry_ids: ids } },
    retryDelayMs: 1000,
    cause: failures[0]?.error,
  });
}

function codeName(code: Code): string {
  return Object.entries(Code).find(([, v]) => v === code)?.[0] ?? String(code);
}

/** Longest provider text an error carries. */
export const PROVIDER_TEXT_MAX_CHARS = 300;

// Up to the last "@" of the word: an unencoded "/" or "@" in a password must not end the match early.
const URL_USER_INFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s"']*@/gi;

// Credentials a provider may echo that no source still knows (a token already evicted from its cache):
// a value of 16 or more characters after an Authorization scheme, and anything shaped like a JWT.
const SCHEME_CREDENTIAL = /\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/-]{16,}=*/gi;
const JWT_SHAPED = /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;

/** Authorization values and JWT-shaped strings, wherever they appear in the text. */
export function withoutCredentialShapes(text: string): string {
  return text.replace(SCHEME_CREDENTIAL, "$1$2<redacted>").replace(JWT_SHAPED, "<redacted>");
}

/** `https://user:secret@host` → `https://<redacted>@host`, wherever a URL appears in the text. */
export function withoutUserInfo(text: string): string {
  return text.replace(URL_USER_INFO, "$1<redacted>@");
}

/**
 * Text from or about a provider, fit for an error or a log: every secret (as sent, and percent-encoded)
 * any URL user-info and anything shaped like a credential removed first, and only then cut to `maxChars`,
 * so a cut never keeps part of a secret.
 */
export function redact(text: string, secrets: Iterable<string> = [], maxChars = PROVIDER_TEXT_MAX_CHARS): string {
  let out = text;
  const forms = new Set<string>();
  for (const secret of secrets) if (secret.length >= 4) forms.add(secret).add(encodeURIComponent(secret));
  // Longest first, so a secret containing another is removed whole.
  for (const form of [...forms].sort((a, b) => b.length - a.length)) out = out.split(form).join("<redacted>");
  out = withoutCredentialShapes(withoutUserInfo(out));
  return out.length > maxChars ? `${out.slice(0, maxChars)}…` : out;
}

export function isRegplaneError(e: unknown): e is RegplaneError {
  return e instanceof RegplaneError;
}
