// An HTTP client for one OCI Distribution (Docker Registry v2) endpoint: auth (anonymous, Basic, Bearer
// token flow), retries, a concurrency limit, a circuit breaker, request counters, and the calls the
// adapters need (catalog, tags, manifests, blobs, delete). Provider-neutral so other adapters whose
// registries expose the OCI API (IONOS) reuse it for deletes.
// Longer than most files: auth challenges, retries, the breaker and Link checks wrap one request path here.
import { LRUCache } from "lru-cache";
import { Agent, request } from "undici";
import type { IncomingHttpHeaders } from "undici/types/header.js";
import { Code, RegplaneError, invalidField, providerError, redact } from "../../core/errors.js";
import { parseChallenges, parseNextLink, type Challenge } from "../../core/http/headers.js";
import { WeightedLru } from "../../core/lru.js";
import { MANIFEST_ACCEPT, digestOf, isDigest, parseConfigCreated } from "../../core/manifest.js";
import { CircuitBreaker, Semaphore, attemptSignal, backoffDelay, breakerOptionsOf, parseRetryAfter, raceSignal, sleep, type BreakerTuning } from "../../core/resilience.js";
import { describeNetworkError, header, readBody, type HttpTuning } from "../../core/http/index.js";
import { endpointProblem } from "../../core/url-policy.js";

export interface OciLogger {
  warn(msg: string, ctx?: object): void;
  debug?(msg: string, ctx?: object): void;
}

export interface OciClientOptions extends HttpTuning, BreakerTuning {
  /** Registry id, named in every error. */
  registryId: string;
  /** Provider name in errors and ErrorInfo; "oci" unless an adapter reusing the client passes its own. */
  provider?: string;
  /** Base URL, e.g. http://127.0.0.1:5000 or https://registry.example.com (no path, no user info). */
  endpoint: string;
  username?: string;
  password?: string;
  /** Required for plain http; on https it turns TLS certificate verification off. */
  insecure?: boolean;
  /** Token realm hosts (hostname or host:port) other than the registry's that may receive the credentials. */
  allowedRealmHosts?: string[];
  /** Requests in flight to this registry at once (token requests excluded). Default 8. */
  maxConcurrency?: number;
  logger?: OciLogger;
  /** Bytes of manifests and config summaries kept across walks. Default 64 MiB. */
  cacheBytes?: number;
}

/** The first thing wrong with an endpoint and its credentials, by the option it concerns; undefined if none. */
export function connectionProblem(options: Pick<OciClientOptions, "endpoint" | "insecure" | "username" | "password">): { field: string; problem: string } | undefined {
  const problem = endpointProblem(options.endpoint, options.insecure ?? false);
  if (problem !== undefined) return { field: "endpoint", problem };
  if (options.username !== undefined && options.password === undefined) return { field: "password", problem: "required with username (they go together)" };
  if (options.username === undefined && options.password !== undefined) return { field: "username", problem: "required with password (they go together)" };
  return undefined;
}

export type RequestKind =
  | "ping"
  | "catalog"
  | "tags"
  | "manifest_head"
  | "manifest_get"
  | "manifest_delete"
  | "blob_get"
  | "token";

export interface OciStats {
  /** HTTP requests sent (every attempt, auth round trip and redirect hop). */
  requests: number;
  byKind: Record<string, number>;
}

export interface ManifestHead {
  /** From Docker-Content-Digest; undefined when the registry does not send it. */
  digest?: string;
  mediaType: string;
  size?: number;
}

export interface ManifestBytes {
  digest: string;
  mediaType: string;
  bytes: Uint8Array;
}

export interface CatalogPage {
  repositories: string[];
  /** The next page as the registry linked it; undefined on the last page. */
  next?: URL;
}

/** The fetches in flight of one kind, by key: joined by concurrent callers, removed when they settle. */
interface Flights<T> {
  get(key: string): Promise<T> | undefined;
  set(key: string, flight: Promise<T>): unknown;
  delete(key: string): unknown;
}

type CachedObject = { kind: "manifest"; mediaType: string; bytes: Uint8Array } | { kind: "config"; createdMs?: number };

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Uint8Array;
  url: URL;
}

interface CallOptions {
  kind: RequestKind;
  method: "GET" | "HEAD" | "DELETE";
  url: URL;
  /** Token scope the request needs; undefined sends no credentials (token requests, ping before a challenge). */
  scope?: string;
  headers?: Record<string, string>;
  /** Largest success body accepted; bigger is an error rather than unbounded memory. */
  maxBytes: number;
  /**
   * Token requests: they bypass the semaphore and the breaker's admission (the request they serve was
   * already admitted and may be the half-open probe), but their failures still count.
   */
  auxiliary?: boolean;
  /** Authorization header to send as is (token requests carry Basic to the realm). */
  authorization?: string;
}

const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;
const CONFIG_MAX_BYTES = 16 * 1024 * 1024;
const JSON_MAX_BYTES = 16 * 1024 * 1024;
const ERROR_BODY_MAX_BYTES = 64 * 1024;
const MAX_REDIRECTS = 5;
const MAX_LINK_PAGES = 100_000;
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const TOKEN_EXPIRY_MARGIN_MS = 10_000;
/** Bearer tokens kept, and token fetches shared, at once: one per scope, so about one per repository. */
const MAX_TOKEN_SCOPES = 10_000;

export class OciClient {
  readonly registryId: string;
  readonly provider: string;
  readonly endpoint: URL;
  readonly maxConcurrency: number;
  private readonly username?: string;
  private readonly password?: string;
  private readonly allowedRealmHosts: Set<string>;
  private readonly logger?: OciLogger;
  private readonly requestTimeoutMs: number;
  private readonly maxAttempts: number;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly agent: Agent;
  private readonly semaphore: Semaphore;
  private readonly breaker: CircuitBreaker;
  private readonly cache: WeightedLru<string, CachedObject>;
  private readonly manifestFlights = new Map<string, Promise<ManifestBytes | undefined>>();
  private readonly configFlights = new Map<string, Promise<Date | undefined>>();

  private authScheme: "none" | "basic" | "bearer" = "none";
  private bearerRealm?: { realm: URL; service?: string };
  private readonly tokens = new LRUCache<string, { token: string; expiresAt: number }>({ max: MAX_TOKEN_SCOPES });
  private readonly tokenFlights = new LRUCache<string, Promise<string>>({ max: MAX_TOKEN_SCOPES });
  private warnedWithheld = false;
  private credentialsWithheld = false;

  private requestCount = 0;
  private readonly byKind: Record<string, number> = {};

  constructor(options: OciClientOptions) {
    this.registryId = options.registryId;
    this.provider = options.provider ?? "oci";
    // A plain Error here: OciProvider reports its config first; IONOS builds endpoints from API answers.
    const bad = connectionProblem(options);
    if (bad) throw new Error(`registry ${options.registryId}: ${bad.field}: ${bad.problem}`);
    this.endpoint = new URL(new URL(options.endpoint).origin);
    this.username = options.username;
    this.password = options.password;
    this.allowedRealmHosts = new Set((options.allowedRealmHosts ?? []).map((h) => h.toLowerCase()));
    this.logger = options.logger;
    this.maxConcurrency = options.maxConcurrency ?? 8;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 250;
    this.retryMaxDelayMs = options.retryMaxDelayMs ?? 8_000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
    this.semaphore = new Semaphore(this.maxConcurrency);
    this.breaker = new CircuitBreaker(breakerOptionsOf(options));
    this.cache = new WeightedLru(options.cacheBytes ?? 64 * 1024 * 1024);
    this.agent = new Agent({
      connect: { rejectUnauthorized: !(options.insecure ?? false) },
      connections: this.maxConcurrency + 2,
    });
  }

  /** host:port of the endpoint (default ports omitted), never credentials. */
  get host(): string {
    return this.endpoint.host;
  }

  stats(): OciStats {
    return { requests: this.requestCount, byKind: { ...this.byKind } };
  }

  /** Bearer tokens kept and token fetches in flight (for tests of their bounds). */
  cacheSizes(): { tokens: number; tokenFlights: number } {
    return { tokens: this.tokens.size, tokenFlights: this.tokenFlights.size };
  }

  resetStats(): void {
    this.requestCount = 0;
    for (const k of Object.keys(this.byKind)) delete this.byKind[k];
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** GET /v2/: reachability and auth check. */
  async ping(signal: AbortSignal): Promise<void> {
    const reply = await this.call({ kind: "ping", method: "GET", url: this.url("/v2/"), maxBytes: ERROR_BODY_MAX_BYTES }, signal);
    if (reply.status !== 200) throw this.failure(reply, "checking the API version");
  }

  /** One catalog page: from `last` (exclusive) with page size n, or the URL a previous page linked. */
  async catalogPage(from: { last?: string; n: number } | URL, signal: AbortSignal): Promise<CatalogPage> {
    let url: URL;
    if (from instanceof URL) url = from;
    else {
      url = this.url("/v2/_catalog");
      url.searchParams.set("n", String(from.n));
      if (from.last !== undefined) url.searchParams.set("last", from.last);
    }
    const reply = await this.call({ kind: "catalog", method: "GET", url, scope: "registry:catalog:*", maxBytes: JSON_MAX_BYTES }, signal);
    if (reply.status !== 200) throw this.failure(reply, "listing the catalog");
    const doc = this.json(reply, "catalog") as { repositories?: unknown };
    const repositories = Array.isArray(doc.repositories) ? doc.repositories.filter((r): r is string => typeof r === "string") : [];
    return { repositories, next: this.nextLink(reply) };
  }

  /** Repository names after `last` (exclusive) in the registry's (sorted) catalog order, page by page. */
  async *catalog(last: string | undefined, pageSize: number, signal: AbortSignal): AsyncGenerator<string[]> {
    let from: { last?: string; n: number } | URL = { last, n: pageSize };
    const seen = new Set<string>();
    for (let pages = 0; pages < MAX_LINK_PAGES; pages++) {
      const page = await this.catalogPage(from, signal);
      if (page.repositories.length > 0) yield page.repositories;
      if (!page.next || page.repositories.length === 0 || seen.has(page.next.href)) return;
      seen.add(page.next.href);
      from = page.next;
    }
  }

  /** Sorted, distinct tags of a repository; undefined when the repository is unknown. */
  async listTags(repository: string, signal: AbortSignal): Promise<string[] | undefined> {
    const tags = new Set<string>();
    let url: URL | undefined = this.url(`/v2/${repository}/tags/list`);
    const seen = new Set<string>();
    for (let pages = 0; url && pages < MAX_LINK_PAGES; pages++) {
      seen.add(url.href);
      const reply = await this.call({ kind: "tags", method: "GET", url, scope: pullScope(repository), maxBytes: JSON_MAX_BYTES }, signal);
      if (reply.status === 404) {
        if (pages === 0) return undefined;
        break;
      }
      if (reply.status !== 200) throw this.failure(reply, `listing tags of ${repository}`);
      const doc = this.json(reply, "tags list") as { tags?: unknown };
      // An emptied repository stays in the catalog with "tags": null.
      if (Array.isArray(doc.tags)) for (const t of doc.tags) if (typeof t === "string") tags.add(t);
      const next = this.nextLink(reply);
      url = next && !seen.has(next.href) ? next : undefined;
    }
    return [...tags].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** HEAD a manifest by tag or digest; undefined when it does not exist. */
  async headManifest(repository: string, reference: string, signal: AbortSignal): Promise<ManifestHead | undefined> {
    const reply = await this.call(
      {
        kind: "manifest_head",
        method: "HEAD",
        url: this.url(`/v2/${repository}/manifests/${reference}`),
        scope: pullScope(repository),
        headers: { accept: MANIFEST_ACCEPT },
        maxBytes: 0,
      },
      signal,
    );
    if (reply.status === 404) return undefined;
    if (reply.status !== 200) throw this.failure(reply, `checking manifest ${imageReference(repository, reference)}`);
    const digest = header(reply.headers, "docker-content-digest");
    const length = Number(header(reply.headers, "content-length"));
    return {
      digest: digest && isDigest(digest) ? digest : undefined,
      mediaType: (header(reply.headers, "content-type") ?? "").split(";")[0].trim(),
      size: Number.isSafeInteger(length) ? length : undefined,
    };
  }

  /**
   * A manifest by digest (served from the cache when seen before) or by tag (always fetched). The
   * bytes are checked against the digest. The cache is content-addressed: a hit does not prove the
   * manifest is still in this repository, so callers confirm presence with a HEAD first.
   */
  async getManifest(repository: string, reference: string, signal: AbortSignal): Promise<ManifestBytes | undefined> {
    if (isDigest(reference)) {
      const cached = this.cache.get(`manifest:${reference}`);
      if (cached?.kind === "manifest") return { digest: reference, mediaType: cached.mediaType, bytes: cached.bytes };
    }
    return this.shared("manifest_get", this.manifestFlights, `${repository}@${reference}`, signal, () => this.fetchManifest(repository, reference, signal));
  }

  /** The `created` time of an image config blob (cached by digest); undefined if absent or unparseable. */
  async getConfigCreated(repository: string, digest: string, signal: AbortSignal): Promise<Date | undefined> {
    const cached = this.cache.get(`config:${digest}`);
    if (cached?.kind === "config") return cached.createdMs === undefined ? undefined : new Date(cached.createdMs);
    return this.shared("blob_get", this.configFlights, digest, signal, async () => {
      const bytes = await this.getBlob(repository, digest, CONFIG_MAX_BYTES, signal);
      if (bytes === undefined) return undefined;
      const created = parseConfigCreated(bytes);
      this.cache.set(`config:${digest}`, { kind: "config", createdMs: created?.getTime() }, 128 + digest.length);
      return created;
    });
  }

  /** A blob's bytes (redirects followed, digest verified); undefined when it does not exist. */
  async getBlob(repository: string, digest: string, maxBytes: number, signal: AbortSignal): Promise<Uint8Array | undefined> {
    if (!isDigest(digest)) throw this.badResponse(`blob reference ${JSON.stringify(digest)} is not a digest`);
    const reply = await this.call(
      { kind: "blob_get", method: "GET", url: this.url(`/v2/${repository}/blobs/${digest}`), scope: pullScope(repository), maxBytes },
      signal,
    );
    if (reply.status === 404) return undefined;
    if (reply.status !== 200) throw this.failure(reply, `fetching blob ${digest} of ${repository}`);
    const actual = digestOf(reply.body, digest);
    if (actual !== digest) throw this.digestMismatch(`blob ${digest} of ${repository}`, actual);
    return reply.body;
  }

  /**
   * DELETE a manifest by digest. "absent" when it (or the repository) is already gone; 405 means the
   * registry has deletes disabled and fails with FAILED_PRECONDITION.
   */
  async deleteManifest(repository: string, digest: string, signal: AbortSignal): Promise<"deleted" | "absent"> {
    if (!isDigest(digest)) throw invalidField("digest", `${JSON.stringify(digest)} is not a digest (deletes go by digest)`);
    const reply = await this.call(
      {
        kind: "manifest_delete",
        method: "DELETE",
        url: this.url(`/v2/${repository}/manifests/${digest}`),
        scope: deleteScope(repository),
        headers: { accept: MANIFEST_ACCEPT },
        maxBytes: ERROR_BODY_MAX_BYTES,
      },
      signal,
    );
    this.cache.delete(`manifest:${digest}`);
    if (reply.status === 202 || reply.status === 200 || reply.status === 204) return "deleted";
    if (reply.status === 404) return "absent";
    if (reply.status === 405) {
      const { code } = registryError(reply.body);
      throw providerError({
        registryId: this.registryId,
        provider: this.provider,
        httpStatus: 405,
        providerCode: code ?? "UNSUPPORTED",
        message: `deletes are disabled on this registry (${this.host}); enable them there (distribution: storage.delete.enabled: true)`,
      });
    }
    throw this.failure(reply, `deleting ${repository}@${digest}`);
  }

  /**
   * Runs `start` once per key at a time; concurrent callers join the flight in progress. A joined
   * flight that ends because its starter was cancelled is started again on the joiner's own signal.
   */
  private async shared<T>(
    kind: RequestKind,
    flights: Flights<T>,
    key: string,
    signal: AbortSignal,
    start: () => Promise<T>,
  ): Promise<T> {
    for (;;) {
      const joined = flights.get(key);
      if (joined === undefined) {
        const flight = start().finally(() => {
          if (flights.get(key) === flight) flights.delete(key);
        });
        flights.set(key, flight);
        return flight;
      }
      try {
        return await raceSignal(joined, signal, () => this.aborted(signal, kind));
      } catch (e) {
        const starterCancelled = e instanceof RegplaneError && (e.code === Code.CANCELLED || e.code === Code.DEADLINE_EXCEEDED);
        if (!starterCancelled || signal.aborted) throw e;
      }
    }
  }

  private async fetchManifest(repository: string, reference: string, signal: AbortSignal): Promise<ManifestBytes | undefined> {
    const reply = await this.call(
      {
        kind: "manifest_get",
        method: "GET",
        url: this.url(`/v2/${repository}/manifests/${reference}`),
        scope: pullScope(repository),
        headers: { accept: MANIFEST_ACCEPT },
        maxBytes: MANIFEST_MAX_BYTES,
      },
      signal,
    );
    if (reply.status === 404) return undefined;
    if (reply.status !== 200) throw this.failure(reply, `fetching manifest ${imageReference(repository, reference)}`);
    const announced = header(reply.headers, "docker-content-digest");
    const expected = isDigest(reference) ? reference : announced && isDigest(announced) ? announced : undefined;
    const actual = digestOf(reply.body, expected ?? "sha256:");
    if (expected !== undefined && actual !== expected) throw this.digestMismatch(`manifest ${imageReference(repository, reference)}`, actual);
    if (announced !== undefined && announced !== actual && isDigest(announced) && announced.split(":")[0] === actual.split(":")[0]) {
      throw this.digestMismatch(`manifest ${imageReference(repository, reference)} (Docker-Content-Digest ${announced})`, actual);
    }
    const mediaType = (header(reply.headers, "content-type") ?? "").split(";")[0].trim();
    this.cache.set(`manifest:${actual}`, { kind: "manifest", mediaType, bytes: reply.body }, reply.body.byteLength + 256);
    return { digest: actual, mediaType, bytes: reply.body };
  }

  private url(path: string): URL {
    return new URL(path, this.endpoint);
  }

  /** One logical request: breaker, auth, semaphore, retries with backoff, one re-authentication on 401. */
  private async call(options: CallOptions, signal: AbortSignal): Promise<Reply> {
    let reauthenticated = false;
    let attempt = 0;
    for (;;) {
      attempt++;
      const wait = options.auxiliary ? 0 : this.breaker.admit();
      if (wait > 0) {
        throw providerError({
          registryId: this.registryId,
          provider: this.provider,
          message: `skipped for ${Math.ceil(wait / 1000)}s after ${this.breaker.consecutiveFailures} consecutive failures`,
          retryAfterMs: wait,
        });
      }
      let authorization: string | undefined;
      try {
        authorization = options.authorization ?? (options.scope === undefined ? undefined : await this.authorizationFor(options.scope, signal));
      } catch (e) {
        this.settle(options, "released");
        throw e;
      }
      let reply: Reply;
      let release: (() => void) | undefined;
      try {
        if (!options.auxiliary) release = await this.semaphore.acquire(signal);
        reply = await this.exchange(options, authorization, signal);
      } catch (e) {
        release?.();
        if (signal.aborted) {
          this.settle(options, "released");
          throw this.aborted(signal, options.kind);
        }
        if (e instanceof RegplaneError) {
          this.settle(options, "released");
          throw e;
        }
        const tls = certificateProblem(e);
        if (tls !== undefined) {
          // Retrying cannot fix an untrusted certificate: it is this registry's configuration.
          this.settle(options, "released");
          throw new RegplaneError(
            Code.FAILED_PRECONDITION,
            `registry ${JSON.stringify(this.registryId)} (${this.provider}): TLS certificate of ${options.url.host} not trusted (${tls}); trust its CA, or set insecure: true for a test registry`,
            { errorInfo: { reason: "PROVIDER_TLS_UNTRUSTED", metadata: this.metadata({ tls_error: tls }) } },
          );
        }
        this.settle(options, "failed");
        const why = describeNetworkError(e, this.requestTimeoutMs);
        this.logger?.debug?.("registry request failed", { registry: this.registryId, kind: options.kind, attempt, error: why });
        if (attempt >= this.maxAttempts) {
          throw providerError({ registryId: this.registryId, provider: this.provider, message: `${this.host} unreachable: ${why}` });
        }
        await this.pause(backoffDelay(attempt, this.retryBaseDelayMs, this.retryMaxDelayMs), signal, options.kind);
        continue;
      }
      release?.();
      this.settle(options, reply.status >= 500 ? "failed" : "succeeded");

      if (reply.status === 401 && options.scope !== undefined && !reauthenticated) {
        reauthenticated = true;
        attempt--;
        if (await this.answerChallenge(reply, options.scope, authorization, signal)) continue;
        return reply;
      }
      if (RETRYABLE_STATUS.has(reply.status) && attempt < this.maxAttempts) {
        const retryAfter = parseRetryAfter(header(reply.headers, "retry-after"));
        if (retryAfter !== undefined && retryAfter > this.maxRetryAfterMs) return reply;
        const delay = retryAfter ?? backoffDelay(attempt, this.retryBaseDelayMs, this.retryMaxDelayMs);
        this.logger?.debug?.("registry asked to retry", { registry: this.registryId, kind: options.kind, status: reply.status, attempt, delayMs: delay });
        await this.pause(delay, signal, options.kind);
        continue;
      }
      return reply;
    }
  }

  private settle(options: CallOptions, outcome: "succeeded" | "failed" | "released"): void {
    if (outcome === "failed") this.breaker.failure();
    else if (options.auxiliary) return;
    else if (outcome === "succeeded") this.breaker.success();
    else this.breaker.release();
  }

  private async pause(ms: number, signal: AbortSignal, kind: RequestKind): Promise<void> {
    try {
      await sleep(ms, signal);
    } catch {
      throw this.aborted(signal, kind);
    }
  }

  /** One HTTP exchange with its own timeout, following redirects (Authorization dropped across origins). */
  private async exchange(options: CallOptions, authorization: string | undefined, signal: AbortSignal): Promise<Reply> {
    const attempt = attemptSignal(signal, this.requestTimeoutMs);
    try {
      return await this.exchangeWithin(options, authorization, attempt.signal);
    } finally {
      attempt.done();
    }
  }

  private async exchangeWithin(options: CallOptions, authorization: string | undefined, attemptSignal: AbortSignal): Promise<Reply> {
    let url = options.url;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { "user-agent": "regplane", ...options.headers };
      if (authorization !== undefined && url.origin === options.url.origin) headers.authorization = authorization;
      this.count(options.kind);
      const res = await request(url, { method: options.method, headers, dispatcher: this.agent, signal: attemptSignal });
      const location = header(res.headers, "location");
      if ([301, 302, 303, 307, 308].includes(res.statusCode) && location !== undefined && options.method !== "DELETE") {
        await res.body.dump();
        if (hop >= MAX_REDIRECTS) throw this.badResponse(`more than ${MAX_REDIRECTS} redirects for ${options.url.pathname}`);
        url = new URL(location, url);
        if (url.protocol !== "http:" && url.protocol !== "https:") throw this.badResponse(`redirect to a ${url.protocol} URL refused`);
        continue;
      }
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      const limit = options.method === "HEAD" ? 0 : ok ? options.maxBytes : ERROR_BODY_MAX_BYTES;
      const body = await readBody(res.body, limit, !ok);
      if (body === undefined) throw this.badResponse(`response to ${options.url.pathname} is larger than ${limit} bytes`);
      return { status: res.statusCode, headers: res.headers, body, url };
    }
  }

  private count(kind: RequestKind): void {
    this.requestCount++;
    this.byKind[kind] = (this.byKind[kind] ?? 0) + 1;
  }

  /** The Authorization header to send before any challenge, from what earlier challenges taught us. */
  private async authorizationFor(scope: string, signal: AbortSignal): Promise<string | undefined> {
    if (this.authScheme === "basic") return this.basicCredentials();
    if (this.authScheme === "bearer") return `Bearer ${await this.token(scope, [scope], false, signal)}`;
    return undefined;
  }

  /** Learns the auth scheme from a 401 and prepares credentials; false when retrying cannot help. */
  private async answerChallenge(reply: Reply, scope: string, sent: string | undefined, signal: AbortSignal): Promise<boolean> {
    const challenges = parseChallenges(reply.headers["www-authenticate"]);
    const bearer = challenges.find((c) => c.scheme === "bearer" && c.params.realm);
    if (bearer) {
      const realm = this.realmOf(bearer);
      if (!realm) return false;
      this.authScheme = "bearer";
      this.bearerRealm = { realm, service: bearer.params.service };
      const scopes = [scope];
      const asked = bearer.params.scope;
      if (asked) for (const s of asked.split(" ")) if (s && !scopes.includes(s)) scopes.push(s);
      // A rejected token is stale or lacks a scope the registry named: fetch a fresh one once.
      await this.token(scope, scopes, sent?.startsWith("Bearer ") ?? false, signal);
      return true;
    }
    if (challenges.some((c) => c.scheme === "basic")) {
      if (this.username === undefined || sent?.startsWith("Basic ")) return false;
      this.authScheme = "basic";
      return true;
    }
    return false;
  }

  private realmOf(challenge: Challenge): URL | undefined {
    try {
      const realm = new URL(challenge.params.realm);
      return realm.protocol === "http:" || realm.protocol === "https:" ? realm : undefined;
    } catch {
      return undefined;
    }
  }

  /** A Bearer token for a scope: cached until shortly before it expires, one fetch at a time per scope. */
  private async token(key: string, scopes: string[], refresh: boolean, signal: AbortSignal): Promise<string> {
    if (refresh) this.tokens.delete(key);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached.token;
    return this.shared("token", this.tokenFlights, key, signal, () => this.fetchToken(key, scopes, signal));
  }

  private async fetchToken(key: string, scopes: string[], signal: AbortSignal): Promise<string> {
    const { realm, service } = this.bearerRealm!;
    const url = new URL(realm);
    if (service) url.searchParams.set("service", service);
    for (const s of scopes) url.searchParams.append("scope", s);
    let authorization: string | undefined;
    if (this.username !== undefined) {
      if (this.realmMayReceiveCredentials(realm)) authorization = this.basicCredentials();
      else {
        this.credentialsWithheld = true;
        if (!this.warnedWithheld) {
          this.warnedWithheld = true;
          this.logger?.warn("credentials withheld from a token realm on another host; asking for an anonymous token", {
            registry: this.registryId,
            realmHost: realm.host,
            hint: "add the host to allowedRealmHosts if it is trusted",
          });
        }
      }
    }
    const reply = await this.call(
      { kind: "token", method: "GET", url, headers: { accept: "application/json" }, maxBytes: 1024 * 1024, auxiliary: true, authorization },
      signal,
    );
    if (reply.status !== 200) {
      throw this.failure(reply, `getting a token from ${realm.host}`);
    }
    const doc = this.json(reply, "token response") as { token?: unknown; access_token?: unknown; expires_in?: unknown };
    const token = typeof doc.token === "string" && doc.token ? doc.token : typeof doc.access_token === "string" ? doc.access_token : "";
    if (!token) throw this.badResponse(`token service ${realm.host} answered without a token`);
    const lifetimeMs = (typeof doc.expires_in === "number" && doc.expires_in > 0 ? doc.expires_in : 60) * 1000;
    const usableMs = Math.max(lifetimeMs - TOKEN_EXPIRY_MARGIN_MS, lifetimeMs / 2);
    // Reused until expiresAt; kept (and so redacted from error text) until the token itself expires.
    this.tokens.set(key, { token, expiresAt: Date.now() + usableMs }, { ttl: lifetimeMs });
    return token;
  }

  /**
   * The registry's own host (any port) and hosts the operator allowed; never over plain http when the
   * registry itself is https.
   */
  private realmMayReceiveCredentials(realm: URL): boolean {
    if (this.endpoint.protocol === "https:" && realm.protocol !== "https:") return false;
    if (realm.hostname.toLowerCase() === this.endpoint.hostname.toLowerCase()) return true;
    return this.allowedRealmHosts.has(realm.hostname.toLowerCase()) || this.allowedRealmHosts.has(realm.host.toLowerCase());
  }

  private basicCredentials(): string | undefined {
    if (this.username === undefined || this.password === undefined) return undefined;
    return `Basic ${Buffer.from(`${this.username}:${this.password}`).toString("base64")}`;
  }

  private nextLink(reply: Reply): URL | undefined {
    const link = parseNextLink(reply.headers.link);
    if (link === undefined) return undefined;
    let next: URL;
    try {
      next = new URL(link, reply.url);
    } catch {
      throw this.badResponse(`unparseable Link ${JSON.stringify(link)}`);
    }
    if (next.origin !== this.endpoint.origin) {
      throw new RegplaneError(Code.FAILED_PRECONDITION, `registry ${JSON.stringify(this.registryId)} (${this.provider}): refused a paging Link to another origin (${next.origin})`, {
        errorInfo: { reason: "PROVIDER_LINK_REFUSED", metadata: this.metadata({ link_host: next.host, link_origin: next.origin }) },
      });
    }
    return next;
  }

  private json(reply: Reply, what: string): Record<string, unknown> {
    try {
      const doc: unknown = JSON.parse(Buffer.from(reply.body).toString("utf8"));
      if (doc !== null && typeof doc === "object" && !Array.isArray(doc)) return doc as Record<string, unknown>;
    } catch {
      // reported below
    }
    throw this.badResponse(`${what} is not a JSON object`);
  }

  /** Maps an HTTP failure with the registry's `{"errors":[{code,message}]}` body, credentials scrubbed. */
  private failure(reply: Reply, doing: string): RegplaneError {
    const { code, message } = registryError(reply.body);
    // The registry's words are redacted (and cut); our hint after them always stays whole.
    let text = this.redact(`${doing}: HTTP ${reply.status}${code ? ` ${code}` : ""}${message ? `: ${message}` : ""}`);
    if ((reply.status === 401 || reply.status === 403) && this.credentialsWithheld) {
      text += " (credentials were withheld from the token realm's host; see allowedRealmHosts)";
    } else if (reply.status === 401 && this.username === undefined) {
      text += " (no credentials configured)";
    }
    return providerError({
      registryId: this.registryId,
      provider: this.provider,
      httpStatus: reply.status,
      providerCode: code,
      message: text,
      retryAfterMs: parseRetryAfter(header(reply.headers, "retry-after")),
    });
  }

  private badResponse(message: string): RegplaneError {
    return new RegplaneError(Code.UNAVAILABLE, `registry ${JSON.stringify(this.registryId)} (${this.provider}): ${this.redact(message)}`, {
      errorInfo: { reason: "PROVIDER_BAD_RESPONSE", metadata: this.metadata() },
    });
  }

  private digestMismatch(what: string, actual: string): RegplaneError {
    return new RegplaneError(Code.DATA_LOSS, `registry ${JSON.stringify(this.registryId)} (${this.provider}): ${what} has digest ${actual}`, {
      errorInfo: { reason: "DIGEST_MISMATCH", metadata: this.metadata() },
    });
  }

  private aborted(signal: AbortSignal, kind: RequestKind): RegplaneError {
    const timedOut = (signal.reason as { name?: string } | undefined)?.name === "TimeoutError";
    return new RegplaneError(
      timedOut ? Code.DEADLINE_EXCEEDED : Code.CANCELLED,
      `registry ${JSON.stringify(this.registryId)} (${this.provider}): ${kind} request ${timedOut ? "ran out of time" : "cancelled"}`,
      { errorInfo: { reason: timedOut ? "DEADLINE_EXCEEDED" : "CANCELLED", metadata: this.metadata() } },
    );
  }

  private metadata(extra: Record<string, string> = {}): Record<string, string> {
    return { registry_id: this.registryId, provider: this.provider, ...extra };
  }

  /** Removes anything secret a registry might echo back (password, Basic header value, tokens). */
  private redact(text: string): string {
    const secrets: string[] = [];
    if (this.password) secrets.push(this.password);
    const basic = this.basicCredentials();
    if (basic) secrets.push(basic.slice("Basic ".length));
    for (const { token } of this.tokens.values()) secrets.push(token);
    return redact(text, secrets);
  }
}

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export function deleteScope(repository: string): string {
  return `repository:${repository}:pull,delete`;
}

/** repo@digest or repo:tag, as users write image references. */
function imageReference(repository: string, reference: string): string {
  return `${repository}${isDigest(reference) ? "@" : ":"}${reference}`;
}

/** The first entry of a Distribution error body, if the body is one. */
function registryError(body: Uint8Array): { code?: string; message?: string } {
  try {
    const doc = JSON.parse(Buffer.from(body).toString("utf8")) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const first = Array.isArray(doc.errors) ? doc.errors[0] : undefined;
    return {
      code: typeof first?.code === "string" ? first.code : undefined,
      message: typeof first?.message === "string" ? first.message : undefined,
    };
  } catch {
    return {};
  }
}

/** The TLS verification error code when a connection failed on the peer's certificate. */
function certificateProblem(e: unknown): string | undefined {
  const err = e as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = typeof err?.code === "string" ? err.code : typeof err?.cause?.code === "string" ? err.cause.code : undefined;
  if (code === undefined) return undefined;
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT_ALTNAME_INVALID/.test(code) ? code : undefined;
}
