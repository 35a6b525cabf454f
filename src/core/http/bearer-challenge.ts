// The OCI Distribution token flow as an authentication plug-in: anonymous until a 401 names a scheme,
// then Basic, or Bearer tokens fetched from the challenge's realm (service, scope), cached per scope in
// lru-cache until shortly before they expire, one fetch per scope at a time.
import { LRUCache } from "lru-cache";
import type { RegplaneError } from "../errors.js";
import { joinOrStart } from "./single-flight.js";
import { basicAuthorization, type Authenticator, type Challenged } from "./auth.js";
import type { HttpLogger, HttpReply, HttpRequest } from "./client.js";
import { parseChallenges, type Challenge } from "./headers.js";

/** What the flow needs of the client it authenticates: token requests sent, and their failures mapped. */
export interface TokenTransport {
  perform(req: HttpRequest, signal: AbortSignal): Promise<HttpReply>;
  failure(reply: HttpReply, doing: string): RegplaneError;
  badResponse(message: string): RegplaneError;
  aborted(signal: AbortSignal, doing: string): RegplaneError;
}

export interface BearerChallengeOptions {
  registryId: string;
  /** The registry's origin: its host may receive the credentials, and https there means https for the realm. */
  endpoint: URL;
  username?: string;
  password?: string;
  /** Token realm hosts (hostname or host:port) other than the registry's that may receive the credentials. */
  allowedRealmHosts?: string[];
  logger?: HttpLogger;
}

const TOKEN_EXPIRY_MARGIN_MS = 10_000;
/** Bearer tokens kept, and token fetches shared, at once: one per scope, so about one per repository. */
const MAX_TOKEN_SCOPES = 10_000;
const TOKEN_MAX_BYTES = 1024 * 1024;

export class BearerChallengeAuth implements Authenticator {
  private transport?: TokenTransport;
  private scheme: "none" | "basic" | "bearer" = "none";
  private realm?: { url: URL; service?: string };
  private readonly tokens = new LRUCache<string, { token: string; expiresAt: number }>({ max: MAX_TOKEN_SCOPES });
  private readonly tokenFlights = new LRUCache<string, Promise<string>>({ max: MAX_TOKEN_SCOPES });
  private readonly allowedRealmHosts: Set<string>;
  private warnedWithheld = false;
  /** Credentials were kept from a realm on another host, so a 401/403 may be ours to fix. */
  credentialsWithheld = false;

  constructor(private readonly options: BearerChallengeOptions) {
    this.allowedRealmHosts = new Set((options.allowedRealmHosts ?? []).map((h) => h.toLowerCase()));
  }

  /** The client whose requests this authenticates; token requests go through it. */
  attach(transport: TokenTransport): void {
    this.transport = transport;
  }

  get hasCredentials(): boolean {
    return this.options.username !== undefined;
  }

  /** Bearer tokens kept and token fetches in flight (for tests of their bounds). */
  cacheSizes(): { tokens: number; tokenFlights: number } {
    return { tokens: this.tokens.size, tokenFlights: this.tokenFlights.size };
  }

  async authorization(scope: string | undefined, signal: AbortSignal): Promise<string | undefined> {
    if (scope === undefined) return undefined;
    if (this.scheme === "basic") return this.basic();
    if (this.scheme === "bearer") return `Bearer ${await this.token(scope, [scope], false, signal)}`;
    return undefined;
  }

  /** Learns the scheme from a 401 and prepares credentials; false when retrying cannot help. */
  async challenged(reply: Challenged, scope: string | undefined, sent: string | undefined, signal: AbortSignal): Promise<boolean> {
    if (scope === undefined) return false;
    const challenges = parseChallenges(reply.headers["www-authenticate"]);
    const bearer = challenges.find((c) => c.scheme === "bearer" && c.params.realm);
    if (bearer) {
      const realm = realmOf(bearer);
      if (!realm) return false;
      this.scheme = "bearer";
      this.realm = { url: realm, service: bearer.params.service };
      const scopes = [scope];
      const asked = bearer.params.scope;
      if (asked) for (const s of asked.split(" ")) if (s && !scopes.includes(s)) scopes.push(s);
      // A rejected token is stale or lacks a scope the registry named: fetch a fresh one once.
      await this.token(scope, scopes, sent?.startsWith("Bearer ") ?? false, signal);
      return true;
    }
    if (challenges.some((c) => c.scheme === "basic")) {
      if (this.options.username === undefined || sent?.startsWith("Basic ")) return false;
      this.scheme = "basic";
      return true;
    }
    return false;
  }

  /** The password, the Basic header's value and every token kept (a token is kept until it expires). */
  secrets(): string[] {
    const secrets: string[] = [];
    if (this.options.password) secrets.push(this.options.password);
    const basic = this.basic();
    if (basic) secrets.push(basic.slice("Basic ".length));
    for (const { token } of this.tokens.values()) secrets.push(token);
    return secrets;
  }

  /** A Bearer token for a scope: cached until shortly before it expires, one fetch at a time per scope. */
  private async token(key: string, scopes: string[], refresh: boolean, signal: AbortSignal): Promise<string> {
    if (refresh) this.tokens.delete(key);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached.token;
    const transport = this.transport!;
    return joinOrStart(this.tokenFlights, key, signal, () => transport.aborted(signal, "token request"), () => this.fetchToken(transport, key, scopes, signal));
  }

  private async fetchToken(transport: TokenTransport, key: string, scopes: string[], signal: AbortSignal): Promise<string> {
    const { url: realm, service } = this.realm!;
    const url = new URL(realm);
    if (service) url.searchParams.set("service", service);
    for (const s of scopes) url.searchParams.append("scope", s);
    let authorization: string | undefined;
    if (this.options.username !== undefined) {
      if (this.realmMayReceiveCredentials(realm)) authorization = this.basic();
      else this.withhold(realm);
    }
    const reply = await transport.perform(
      { kind: "token", method: "GET", url, headers: { accept: "application/json" }, maxBytes: TOKEN_MAX_BYTES, auxiliary: true, authorization, followRedirects: true },
      signal,
    );
    if (reply.status !== 200) throw transport.failure(reply, `getting a token from ${realm.host}`);
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown } | undefined;
    try {
      const parsed: unknown = JSON.parse(reply.body.toString("utf8"));
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) doc = parsed;
    } catch {
      doc = undefined;
    }
    if (doc === undefined) throw transport.badResponse("token response is not a JSON object");
    const token = typeof doc.token === "string" && doc.token ? doc.token : typeof doc.access_token === "string" ? doc.access_token : "";
    if (!token) throw transport.badResponse(`token service ${realm.host} answered without a token`);
    const lifetimeMs = (typeof doc.expires_in === "number" && doc.expires_in > 0 ? doc.expires_in : 60) * 1000;
    const usableMs = Math.max(lifetimeMs - TOKEN_EXPIRY_MARGIN_MS, lifetimeMs / 2);
    // Reused until expiresAt; kept (and so redacted from error text) until the token itself expires.
    this.tokens.set(key, { token, expiresAt: Date.now() + usableMs }, { ttl: lifetimeMs });
    return token;
  }

  private withhold(realm: URL): void {
    this.credentialsWithheld = true;
    if (this.warnedWithheld) return;
    this.warnedWithheld = true;
    this.options.logger?.warn("credentials withheld from a token realm on another host; asking for an anonymous token", {
      registry: this.options.registryId,
      realmHost: realm.host,
      hint: "add the host to allowedRealmHosts if it is trusted",
    });
  }

  /**
   * The registry's own host (any port) and hosts the operator allowed; never over plain http when the
   * registry itself is https.
   */
  private realmMayReceiveCredentials(realm: URL): boolean {
    const endpoint = this.options.endpoint;
    if (endpoint.protocol === "https:" && realm.protocol !== "https:") return false;
    if (realm.hostname.toLowerCase() === endpoint.hostname.toLowerCase()) return true;
    return this.allowedRealmHosts.has(realm.hostname.toLowerCase()) || this.allowedRealmHosts.has(realm.host.toLowerCase());
  }

  private basic(): string | undefined {
    const { username, password } = this.options;
    return username === undefined || password === undefined ? undefined : basicAuthorization(username, password);
  }
}

function realmOf(challenge: Challenge): URL | undefined {
  try {
    const realm = new URL(challenge.params.realm);
    return realm.protocol === "http:" || realm.protocol === "https:" ? realm : undefined;
  } catch {
    return undefined;
  }
}
