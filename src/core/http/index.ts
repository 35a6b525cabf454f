// The one HTTP stack adapters call registries and provider APIs with, by concern: the request loop,
// retries, authentication plug-ins, redaction, bounded bodies, header parsers and REST conveniences.
export { DEFAULT_MAX_CONCURRENCY, HttpClient, describeNetworkError, type HttpClientOptions, type HttpLogger, type HttpReply, type HttpRequest } from "./client.js";
export { RestClient, type RestCall } from "./rest-client.js";
export { RETRYABLE_STATUS, RetryPolicy, mayRepeat, retryAfterOf, withoutRetry, type HttpMethod, type HttpTuning } from "./retry.js";
export { basicAuth, basicAuthorization, bearerAuth, staticToken, type Authenticator, type Challenged, type TokenSource } from "./auth.js";
export { Redactor, type SecretSource } from "./redact.js";
export { ERROR_BODY_MAX_BYTES, header, jsonOrUndefined, readBody, type ReplyHeaders } from "./body.js";
export { parseChallenges, parseNextLink, type Challenge } from "./headers.js";
