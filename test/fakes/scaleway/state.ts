// The Scaleway fake's records and test controls: what it holds (namespaces, images, tags, digest sizes),
// how a test seeds it, and the failures, latency, gate and request counts a test sets or reads.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Gate } from "../../support/gate.js";

export interface ScalewayFakeOptions {
  secretKey?: string;
  projectId?: string;
  organizationId?: string;
  region?: string;
  /** How long a deleted resource stays listed with status `deleting`. Default 300 ms. */
  deletingMs?: number;
  /** The clock `deletingMs` is measured on (ms since the epoch); a test passes its own to end the period itself. */
  now?: () => number;
}

export interface FakeNamespace {
  id: string;
  name: string;
  description: string;
  organization_id: string;
  project_id: string;
  status: string;
  status_message: string;
  endpoint: string;
  is_public: boolean;
  created_at: string;
  updated_at: string;
  region: string;
  deleteAt?: number;
}

export interface FakeImage {
  id: string;
  name: string;
  namespace_id: string;
  status: string;
  status_message: string;
  visibility: string;
  created_at: string;
  updated_at: string;
  deleteAt?: number;
}

export interface FakeTag {
  id: string;
  name: string;
  image_id: string;
  status: string;
  digest: string;
  created_at: string;
  updated_at: string;
  deleteAt?: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  route: string;
  status: number;
  query: URLSearchParams;
}

/** An error as Scaleway sends it: HTTP status plus a body whose `type` the SDK dispatches on. */
export class ScwError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.message));
  }
}

export abstract class ScalewayState {
  readonly secretKey: string;
  readonly projectId: string;
  readonly organizationId: string;
  readonly region: string;
  deletingMs: number;
  protected readonly now: () => number;
  readonly namespaces = new Map<string, FakeNamespace>();
  readonly images = new Map<string, FakeImage>();
  readonly tags = new Map<string, FakeTag>();
  /** Size in bytes the fake attributes to each digest (for image and namespace sizes). */
  readonly digestSizes = new Map<string, number>();
  readonly requests: RequestRecord[] = [];
  protected rateLimited = 0;
  protected routeFailures: Array<{ route: string; status: number; skip: number; times: number }> = [];
  protected retryAfterSec = 1;
  protected latencyMs = 0;
  protected gate: Gate | undefined;
  protected lastTime = 0;
  url = "";

  protected constructor(options: ScalewayFakeOptions) {
    this.secretKey = options.secretKey ?? randomUUID();
    this.projectId = options.projectId ?? randomUUID();
    this.organizationId = options.organizationId ?? this.projectId;
    this.region = options.region ?? "fr-par";
    this.deletingMs = options.deletingMs ?? 300;
    this.now = options.now ?? Date.now;
  }

  // ---- test controls ----

  /** While set, every call waits at `gate` before it is answered (a registry that does not answer until the test says). */
  holdAt(gate: Gate | undefined): void {
    this.gate = gate;
  }

  /** The next `count` calls answer 429 too_many_requests with Retry-After. */
  rateLimit(count: number, retryAfterSec = 1): void {
    this.rateLimited = count;
    this.retryAfterSec = retryAfterSec;
  }

  /**
   * Calls of `route` (as `count` names it, e.g. "DELETE /images/{id}") answer `status` with the error
   * body Scaleway sends for it: the first `skip` of them pass, the `times` after them fail.
   */
  failOn(route: string, status: number, options: { skip?: number; times?: number } = {}): void {
    this.routeFailures.push({ route, status, skip: options.skip ?? 0, times: options.times ?? 1 });
  }

  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  count(route?: string): number {
    return route === undefined ? this.requests.length : this.requests.filter((r) => r.route === route).length;
  }

  resetCounts(): void {
    this.requests.length = 0;
  }

  // ---- seed data ----

  addNamespace(name: string, options: { description?: string; isPublic?: boolean; projectId?: string } = {}): FakeNamespace {
    const at = this.timestamp();
    const ns: FakeNamespace = {
      id: randomUUID(),
      name,
      description: options.description ?? "",
      organization_id: this.organizationId,
      project_id: options.projectId ?? this.projectId,
      status: "ready",
      status_message: "",
      endpoint: `rg.${this.region}.scw.cloud/${name}`,
      is_public: options.isPublic ?? false,
      created_at: at,
      updated_at: at,
      region: this.region,
    };
    this.namespaces.set(ns.id, ns);
    return ns;
  }

  /** The Scaleway image `<namespace>/<name>`, created (with its namespace) when missing. */
  addImage(repository: string): FakeImage {
    const slash = repository.indexOf("/");
    const nsName = repository.slice(0, slash);
    const imageName = repository.slice(slash + 1);
    const ns = this.namespaceByName(nsName) ?? this.addNamespace(nsName);
    const existing = [...this.images.values()].find((i) => i.namespace_id === ns.id && i.name === imageName);
    if (existing) return existing;
    const at = this.timestamp();
    const image: FakeImage = { id: randomUUID(), name: imageName, namespace_id: ns.id, status: "ready", status_message: "", visibility: "inherit", created_at: at, updated_at: at };
    this.images.set(image.id, image);
    return image;
  }

  /** Pushes `tag` of `<namespace>/<image>` at `digest` (a new random one by default); returns the digest. */
  pushTag(repository: string, tag: string, digest?: string): string {
    const image = this.addImage(repository);
    const d = digest ?? `sha256:${createHash("sha256").update(randomBytes(32)).digest("hex")}`;
    if (!this.digestSizes.has(d)) this.digestSizes.set(d, 20_000 + Math.floor(Math.random() * 80_000));
    const at = this.timestamp();
    const existing = [...this.tags.values()].find((t) => t.image_id === image.id && t.name === tag);
    if (existing) {
      existing.digest = d;
      existing.updated_at = at;
    } else {
      const id = randomUUID();
      this.tags.set(id, { id, name: tag, image_id: image.id, status: "ready", digest: d, created_at: at, updated_at: at });
    }
    image.updated_at = at;
    return d;
  }

  namespaceByName(name: string): FakeNamespace | undefined {
    this.purge();
    return [...this.namespaces.values()].find((n) => n.name === name);
  }

  imageByRepository(repository: string): FakeImage | undefined {
    const slash = repository.indexOf("/");
    const ns = this.namespaceByName(repository.slice(0, slash));
    return ns && [...this.images.values()].find((i) => i.namespace_id === ns.id && i.name === repository.slice(slash + 1));
  }

  /** Distinct digests of a repository's tags that are not being deleted, sorted. */
  digestsOf(repository: string): string[] {
    const image = this.imageByRepository(repository);
    if (!image) return [];
    return [...new Set([...this.tags.values()].filter((t) => t.image_id === image.id && t.status !== "deleting").map((t) => t.digest))].sort();
  }

  tagsOf(repository: string, digest: string): string[] {
    const image = this.imageByRepository(repository);
    if (!image) return [];
    return [...this.tags.values()].filter((t) => t.image_id === image.id && t.digest === digest && t.status !== "deleting").map((t) => t.name).sort();
  }

  /** Every "<namespace>/<image>@<digest>" Scaleway reports as ready, sorted. */
  allImages(): string[] {
    this.purge();
    const out = new Set<string>();
    for (const tag of this.tags.values()) {
      if (tag.status === "deleting") continue;
      const image = this.images.get(tag.image_id)!;
      const ns = this.namespaces.get(image.namespace_id)!;
      if (image.status === "deleting" || ns.status === "deleting") continue;
      out.add(`${ns.name}/${image.name}@${tag.digest}`);
    }
    return [...out].sort();
  }

  /** Strictly increasing timestamps, so created_at ordering is deterministic. */
  protected timestamp(): string {
    this.lastTime = Math.max(Date.now(), this.lastTime + 1);
    return new Date(this.lastTime).toISOString();
  }

  /** Resources whose `deleting` period is over disappear, with everything inside them. */
  protected purge(): void {
    const now = this.now();
    for (const [id, ns] of this.namespaces) if (ns.deleteAt !== undefined && ns.deleteAt <= now) this.namespaces.delete(id);
    for (const [id, image] of this.images) {
      if ((image.deleteAt !== undefined && image.deleteAt <= now) || !this.namespaces.has(image.namespace_id)) this.images.delete(id);
    }
    for (const [id, tag] of this.tags) if ((tag.deleteAt !== undefined && tag.deleteAt <= now) || !this.images.has(tag.image_id)) this.tags.delete(id);
  }
}
