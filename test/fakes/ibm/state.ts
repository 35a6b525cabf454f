// The IBM fake's records and test controls: what it holds (namespaces, repositories, manifests, tokens),
// how a test seeds it, and the failures, latency and request counts a test sets or reads.
import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";

export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

export interface IbmFakeOptions {
  account?: string;
  apiKey?: string;
  /** Lifetime of issued IAM tokens. Default 3600 s. */
  tokenTtlSec?: number;
  /** The clock tokens are issued and checked on (ms since the epoch); a test passes its own to decide when they expire. */
  now?: () => number;
}

export interface FakeManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  config: { digest: string; size: number; mediaType: string };
  layers: Array<{ digest: string; size: number; mediaType: string }>;
  /** Unix seconds. */
  created: number;
}

export interface Namespace {
  name: string;
  account: string;
  resourceGroup: string;
  created: string;
  updated: string;
}


export interface Repository {
  /** tag → digest */
  tags: Map<string, string>;
  /** Every digest pushed here, tagged or not. */
  digests: Set<string>;
}


export interface Token {
  account: string;
  expiresAt: number;
}

export interface RequestRecord {
  method: string;
  /** Raw path as received (still percent-encoded), without the query. */
  path: string;
  query: URLSearchParams;
  route: string;
  status: number;
  headers: IncomingMessage["headers"];
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export abstract class IbmState {
  readonly account: string;
  readonly apiKey: string;
  readonly namespaces = new Map<string, Namespace>();
  /** "ns/repo" → repository. */
  readonly repositories = new Map<string, Repository>();
  readonly manifests = new Map<string, FakeManifest>();
  /** Namespace names held by other accounts in the same region (creating one answers 409). */
  readonly takenNames = new Set<string>();
  readonly requests: RequestRecord[] = [];
  protected readonly tokens = new Map<string, Token>();
  protected readonly tokenTtlSec: number;
  protected readonly now: () => number;
  protected rateLimited = 0;
  protected failure?: { status: number; message: string };
  protected routeFailures: Array<{ route: string; status: number; skip: number; times: number }> = [];
  protected lastToken?: string;
  protected retryAfterSec = 1;
  protected latencyMs = 0;
  url = "";
  /** host:port, the registry host in every image reference this fake accepts and returns. */
  host = "";

  protected constructor(options: IbmFakeOptions) {
    this.account = options.account ?? "a1b2c3d4e5f60718293a4b5c6d7e8f90";
    this.apiKey = options.apiKey ?? `ibm-key-${randomBytes(12).toString("hex")}`;
    this.tokenTtlSec = options.tokenTtlSec ?? 3600;
    this.now = options.now ?? Date.now;
  }

  // ---- test controls ----

  /** Every token issued so far stops working (as if expired or revoked). */
  expireTokens(): void {
    this.tokens.clear();
  }

  /** The next `count` API calls (IAM excluded) answer 429 with Retry-After. */
  rateLimit(count: number, retryAfterSec = 1): void {
    this.rateLimited = count;
    this.retryAfterSec = retryAfterSec;
  }

  /** The next API call (IAM excluded) answers `status` with `message` in IBM's error body, as an upstream that echoes what it was sent. */
  failNext(status: number, message: string): void {
    this.failure = { status, message };
  }

  /**
   * Calls of `route` (as `count` names it) answer `status` in IBM's error body: the first `skip` of
   * them pass, the `times` after them fail, later ones pass again.
   */
  failOn(route: string, status: number, options: { skip?: number; times?: number } = {}): void {
    this.routeFailures.push({ route, status, skip: options.skip ?? 0, times: options.times ?? 1 });
  }

  /** The token IAM issued most recently. */
  lastIssuedToken(): string | undefined {
    return this.lastToken;
  }

  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  /** Requests whose route is `route` (e.g. "POST /api/v1/images/digests"), or all. */
  count(route?: string): number {
    return route === undefined ? this.requests.length : this.requests.filter((r) => r.route === route).length;
  }

  resetCounts(): void {
    this.requests.length = 0;
  }

  // ---- seed data ----

  addNamespace(name: string, options: { resourceGroup?: string; created?: Date } = {}): void {
    const at = (options.created ?? new Date()).toISOString();
    this.namespaces.set(name, { name, account: this.account, resourceGroup: options.resourceGroup ?? "default-rg", created: at, updated: at });
  }

  /**
   * Puts a new manifest (config + `layers` random layers) into `ns/repo` with the given tags and
   * returns it. The namespace is created when missing.
   */
  pushImage(repository: string, tags: string[], options: { layers?: number; mediaType?: string; created?: Date } = {}): FakeManifest {
    const ns = repository.split("/")[0];
    if (!this.namespaces.has(ns)) this.addNamespace(ns);
    const mediaType = options.mediaType ?? DOCKER_MANIFEST;
    const oci = mediaType === OCI_MANIFEST;
    const blob = (size: number) => ({ digest: `sha256:${createHash("sha256").update(randomBytes(32)).digest("hex")}`, size });
    const config = { mediaType: oci ? "application/vnd.oci.image.config.v1+json" : "application/vnd.docker.container.image.v1+json", ...blob(900 + Math.floor(Math.random() * 200)) };
    const layers = Array.from({ length: options.layers ?? 2 }, () => ({
      mediaType: oci ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.docker.image.rootfs.diff.tar.gzip",
      ...blob(10_000 + Math.floor(Math.random() * 50_000)),
    }));
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, config, layers }, null, 3));
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    const manifest: FakeManifest = { digest, mediaType, bytes, config, layers, created: Math.floor((options.created ?? new Date()).getTime() / 1000) };
    this.manifests.set(digest, manifest);
    const repo = this.repository(repository);
    repo.digests.add(digest);
    for (const tag of tags) repo.tags.set(tag, digest);
    return manifest;
  }

  /** Points a tag of `ns/repo` at a digest already in the repository. */
  tag(repository: string, tag: string, digest: string): void {
    const repo = this.repository(repository);
    if (!repo.digests.has(digest)) throw new Error(`${digest} is not in ${repository}`);
    repo.tags.set(tag, digest);
  }

  /** The digests in `ns/repo`, sorted. */
  digestsOf(repository: string): string[] {
    return [...(this.repositories.get(repository)?.digests ?? [])].sort();
  }

  tagsOf(repository: string, digest: string): string[] {
    const repo = this.repositories.get(repository);
    return repo ? [...repo.tags].filter(([, d]) => d === digest).map(([t]) => t).sort() : [];
  }

  /** Every (repository, digest) held, as "ns/repo@sha256:…", sorted. */
  allImages(): string[] {
    const out: string[] = [];
    for (const [name, repo] of this.repositories) for (const d of repo.digests) out.push(`${name}@${d}`);
    return out.sort();
  }

  protected repository(name: string): Repository {
    let repo = this.repositories.get(name);
    if (!repo) {
      repo = { tags: new Map(), digests: new Set() };
      this.repositories.set(name, repo);
    }
    return repo;
  }
}
