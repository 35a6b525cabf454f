// A client of one OCI Distribution (Docker Registry v2) endpoint on the core HTTP stack: catalog and
// tags paged by Link, manifests (HEAD, GET with digest checks), config and blob reads, manifest
// deletes, identical reads shared in flight and manifests and configs kept in a weighted cache.
import { Code, RegplaneError, invalidField, providerError } from "../errors.js";
import { BearerChallengeAuth } from "../http/bearer-challenge.js";
import { DEFAULT_MAX_CONCURRENCY, ERROR_BODY_MAX_BYTES, HttpClient, header, parseNextLink, retryAfterOf, type HttpReply, type HttpRequest } from "../http/index.js";
import { joinOrStart } from "../http/single-flight.js";
import { WeightedLru } from "../lru.js";
import { MANIFEST_ACCEPT, digestOf, isDigest, isTag, parseConfigCreated } from "../manifest.js";
import { breakerOptionsOf } from "../resilience.js";
import { connectionProblem, deleteScope, pullScope, type CatalogPage, type DistributionClientOptions, type DistributionStats, type ManifestBytes, type ManifestDeleter, type ManifestHead, type RequestKind } from "./options.js";

type CachedObject = { kind: "manifest"; mediaType: string; bytes: Uint8Array } | { kind: "config"; createdMs?: number };

interface DistributionRequest extends Omit<HttpRequest, "kind" | "method"> {
  kind: RequestKind;
  method: "GET" | "HEAD" | "DELETE";
  maxBytes: number;
}

const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;
const CONFIG_MAX_BYTES = 16 * 1024 * 1024;
const JSON_MAX_BYTES = 16 * 1024 * 1024;
const MAX_LINK_PAGES = 100_000;

export class DistributionClient extends HttpClient implements ManifestDeleter {
  readonly endpoint: URL;
  protected override readonly badResponseRetryDelayMs = undefined;
  private readonly challenges: BearerChallengeAuth;
  private readonly cache: WeightedLru<string, CachedObject>;
  private readonly manifestFlights = new Map<string, Promise<ManifestBytes | undefined>>();
  private readonly configFlights = new Map<string, Promise<Date | undefined>>();

  constructor(options: DistributionClientOptions) {
    // A plain Error here: OciProvider reports its config first; IONOS builds endpoints from API answers.
    const bad = connectionProblem(options);
    if (bad) throw new Error(`registry ${options.registryId}: ${bad.field}: ${bad.problem}`);
    const endpoint = new URL(new URL(options.endpoint).origin);
    const challenges = new BearerChallengeAuth({ ...options, endpoint });
    super({
      ...options,
      provider: options.provider ?? "oci",
      baseUrl: endpoint,
      auth: challenges,
      maxConcurrency: options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY,
      breaker: breakerOptionsOf(options),
      reportUntrustedCertificates: true,
    });
    challenges.attach(this);
    this.challenges = challenges;
    this.endpoint = endpoint;
    this.cache = new WeightedLru(options.cacheBytes ?? 64 * 1024 * 1024);
  }

  stats(): DistributionStats {
    return { requests: this.requests, byKind: this.requestsByKind() };
  }

  /** Bearer tokens kept and token fetches in flight (for tests of their bounds). */
  cacheSizes(): { tokens: number; tokenFlights: number } {
    return this.challenges.cacheSizes();
  }

  resetStats(): void {
    this.resetRequestCounts();
  }

  /** GET /v2/: reachability and auth check. */
  async ping(signal: AbortSignal): Promise<void> {
    const reply = await this.send({ kind: "ping", method: "GET", url: this.url("/v2/"), maxBytes: ERROR_BODY_MAX_BYTES }, signal);
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
    const reply = await this.send({ kind: "catalog", method: "GET", url, scope: "registry:catalog:*", maxBytes: JSON_MAX_BYTES }, signal);
    if (reply.status !== 200) throw this.failure(reply, "listing the catalog");
    const doc = this.jsonObject(reply, "catalog") as { repositories?: unknown };
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
      const reply = await this.send({ kind: "tags", method: "GET", url, scope: pullScope(repository), maxBytes: JSON_MAX_BYTES }, signal);
      if (reply.status === 404) {
        if (pages === 0) return undefined;
        break;
      }
      if (reply.status !== 200) throw this.failure(reply, `listing tags of ${repository}`);
      const doc = this.jsonObject(reply, "tags list") as { tags?: unknown };
      // An emptied repository stays in the catalog with "tags": null.
      if (Array.isArray(doc.tags)) for (const t of doc.tags) if (typeof t === "string") tags.add(t);
      const next = this.nextLink(reply);
      url = next && !seen.has(next.href) ? next : undefined;
    }
    return [...tags].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** HEAD a manifest by tag or digest; undefined when it does not exist. */
  async headManifest(repository: string, reference: string, signal: AbortSignal): Promise<ManifestHead | undefined> {
    const url = this.url(`/v2/${repository}/manifests/${reference}`);
    const reply = await this.send({ kind: "manifest_head", method: "HEAD", url, scope: pullScope(repository), headers: { accept: MANIFEST_ACCEPT }, maxBytes: 0 }, signal);
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
    return joinOrStart(this.manifestFlights, `${repository}@${reference}`, signal, () => this.aborted(signal, "manifest_get request"), () => this.fetchManifest(repository, reference, signal));
  }

  /** The `created` time of an image config blob (cached by digest); undefined if absent or unparseable. */
  async getConfigCreated(repository: string, digest: string, signal: AbortSignal): Promise<Date | undefined> {
    const cached = this.cache.get(`config:${digest}`);
    if (cached?.kind === "config") return cached.createdMs === undefined ? undefined : new Date(cached.createdMs);
    return joinOrStart(this.configFlights, digest, signal, () => this.aborted(signal, "blob_get request"), async () => {
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
    const reply = await this.send({ kind: "blob_get", method: "GET", url: this.url(`/v2/${repository}/blobs/${digest}`), scope: pullScope(repository), maxBytes }, signal);
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
    const url = this.url(`/v2/${repository}/manifests/${digest}`);
    const reply = await this.send({ kind: "manifest_delete", method: "DELETE", url, scope: deleteScope(repository), headers: { accept: MANIFEST_ACCEPT }, maxBytes: ERROR_BODY_MAX_BYTES }, signal);
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
   * Removes one tag, never the manifest (DELETE /v2/<name>/manifests/<tag>, distribution-spec 1.1). A
   * registry that deletes only by digest (distribution 2.x answers 400 DIGEST_INVALID, others 405) is
   * FAILED_PRECONDITION: falling back to the digest would take every other tag with it.
   */
  async deleteTag(repository: string, tag: string, signal: AbortSignal): Promise<"deleted" | "absent"> {
    if (!isTag(tag)) throw invalidField("tag", `${JSON.stringify(tag)} is not a tag`);
    const url = this.url(`/v2/${repository}/manifests/${tag}`);
    const reply = await this.send({ kind: "tag_delete", method: "DELETE", url, scope: deleteScope(repository), headers: { accept: MANIFEST_ACCEPT }, maxBytes: ERROR_BODY_MAX_BYTES }, signal);
    if (reply.status === 202 || reply.status === 200 || reply.status === 204) return "deleted";
    if (reply.status === 404) return "absent";
    if (reply.status === 400 || reply.status === 405) {
      const { code } = registryError(reply.body);
      throw new RegplaneError(
        Code.FAILED_PRECONDITION,
        `registry ${JSON.stringify(this.registryId)} (${this.provider}): ${this.host} deletes manifests by digest only, not single tags; the image was left as it is`,
        {
          errorInfo: {
            reason: "TAG_DELETE_UNSUPPORTED",
            metadata: { registry_id: this.registryId, provider: this.provider, http_status: String(reply.status), provider_code: code ?? "UNSUPPORTED" },
          },
        },
      );
    }
    throw this.failure(reply, `deleting tag ${repository}:${tag}`);
  }

  /** Maps an HTTP failure with the registry's `{"errors":[{code,message}]}` body, credentials scrubbed. */
  failure(reply: HttpReply, doing: string): RegplaneError {
    const { code, message } = registryError(reply.body);
    // The registry's words are redacted (and cut); our hint after them always stays whole.
    let text = this.redact(`${doing}: HTTP ${reply.status}${code ? ` ${code}` : ""}${message ? `: ${message}` : ""}`);
    if ((reply.status === 401 || reply.status === 403) && this.challenges.credentialsWithheld) {
      text += " (credentials were withheld from the token realm's host; see allowedRealmHosts)";
    } else if (reply.status === 401 && !this.challenges.hasCredentials) {
      text += " (no credentials configured)";
    }
    return providerError({
      registryId: this.registryId,
      provider: this.provider,
      httpStatus: reply.status,
      providerCode: code,
      message: text,
      retryAfterMs: retryAfterOf(reply.headers),
    });
  }

  private async fetchManifest(repository: string, reference: string, signal: AbortSignal): Promise<ManifestBytes | undefined> {
    const url = this.url(`/v2/${repository}/manifests/${reference}`);
    const reply = await this.send({ kind: "manifest_get", method: "GET", url, scope: pullScope(repository), headers: { accept: MANIFEST_ACCEPT }, maxBytes: MANIFEST_MAX_BYTES }, signal);
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

  /** One request on the stack; reads follow redirects (a DELETE never does). */
  private send(req: DistributionRequest, signal: AbortSignal): Promise<HttpReply> {
    return this.perform({ ...req, followRedirects: req.method !== "DELETE" }, signal);
  }

  private url(path: string): URL {
    return new URL(path, this.endpoint);
  }

  /** The `rel="next"` Link of a page, refused when it leaves the registry's origin. */
  private nextLink(reply: HttpReply): URL | undefined {
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
        errorInfo: { reason: "PROVIDER_LINK_REFUSED", metadata: { registry_id: this.registryId, provider: this.provider, link_host: next.host, link_origin: next.origin } },
      });
    }
    return next;
  }

  private jsonObject(reply: HttpReply, what: string): Record<string, unknown> {
    try {
      const doc: unknown = JSON.parse(reply.body.toString("utf8"));
      if (doc !== null && typeof doc === "object" && !Array.isArray(doc)) return doc as Record<string, unknown>;
    } catch {
      // reported below
    }
    throw this.badResponse(`${what} is not a JSON object`);
  }

  private digestMismatch(what: string, actual: string): RegplaneError {
    return new RegplaneError(Code.DATA_LOSS, `registry ${JSON.stringify(this.registryId)} (${this.provider}): ${what} has digest ${actual}`, {
      errorInfo: { reason: "DIGEST_MISMATCH", metadata: { registry_id: this.registryId, provider: this.provider } },
    });
  }
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
