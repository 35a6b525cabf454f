// The authentication plug-in an HttpClient runs on every request, and the small ones: Basic
// credentials, and Bearer tokens from a TokenSource (a static token, or IAM tokens fetched and renewed).
import type { ReplyHeaders } from "./body.js";

/** What an authenticator sees of a 401. */
export interface Challenged {
  status: number;
  headers: ReplyHeaders;
}

export interface Authenticator {
  /** The Authorization header for a request needing `scope` (undefined: none named); undefined sends none. */
  authorization(scope: string | undefined, signal: AbortSignal): Promise<string | undefined>;
  /**
   * The server answered 401 to a request sent with `sent`: learn from it, and say whether one more try
   * with fresh credentials may help. False leaves the 401 standing.
   */
  challenged(reply: Challenged, scope: string | undefined, sent: string | undefined, signal: AbortSignal): Promise<boolean>;
  /** Strings that must never appear in an error (passwords, tokens, what they are exchanged for). */
  secrets(): Iterable<string>;
}

/** Bearer tokens that can go stale before they expire (IAM). */
export interface TokenSource {
  token(signal: AbortSignal): Promise<string>;
  /** The API answered 401 to `token`: forget it. False when no fresher one can be had, so the 401 stands. */
  rejected(token: string): boolean;
  /** Strings that must never appear in an error (tokens, the credentials they are exchanged for). */
  secrets(): string[];
}

/** `Basic …` for a username and password. */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

/** The same credentials on every request; a 401 to them stands. */
export function basicAuth(username: string, password: string): Authenticator {
  const header = basicAuthorization(username, password);
  return {
    authorization: async () => header,
    challenged: async () => false,
    secrets: () => [password, header.slice("Basic ".length)],
  };
}

/** `Authorization: Bearer` from a token source; after a 401 the source is asked for a fresh token once. */
export function bearerAuth(source: TokenSource): Authenticator {
  return {
    authorization: async (_scope, signal) => `Bearer ${await source.token(signal)}`,
    challenged: async (_reply, _scope, sent) => sent?.startsWith("Bearer ") === true && source.rejected(sent.slice("Bearer ".length)),
    secrets: () => source.secrets(),
  };
}

/** A token given in the configuration: it cannot be renewed, so a 401 to it stands. */
export function staticToken(token: string): TokenSource {
  return {
    token: async () => token,
    rejected: () => false,
    secrets: () => [token],
  };
}
