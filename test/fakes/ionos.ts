// Kept as one file: one fake server whose routes share the registry, repository and artifact records it keeps.
// A fake IONOS Cloud Container Registry API (providers.md §3) on 127.0.0.1, faithful to what the
// official SDK sends and reads:
// - auth: `Authorization: Bearer <token>` everywhere; Basic only on registries, tokens, locations and
//   names (repositories and artifacts are Bearer-only); failures as
//   {httpStatus, messages:[{errorCode, message}]} with Content-Type application/json;
// - registries paged by `limit` + `pagination.token` (answer: pagination{limit, token} and
//   _links{self, next, previous}; the last page has neither token nor next link), `filter.name`;
// - repositories and artifacts paged by `offset` + `limit` (1..1000, default 100) with
//   {offset, limit, _links{prev, self, next}}; path segments percent-encoded ("team%2Fapp");
// - POST /registries → 201 + Location, metadata.state "BUSY" until the registry is provisioned;
// - DELETE /registries/{id}/repositories/{name} deletes all the repository's contents → 204, and the
//   repository is no longer listed or read (404 when there is none); Basic is accepted there too.
// A registry can be backed by a real OCI registry: its hostname is that registry's host and its
// repositories and artifacts are read live from it (catalog, tags/list, HEAD per tag), so an image
// deleted through the OCI API disappears from the listing as it would on IONOS.
// On demand: failures (e.g. 429 with Retry-After), latency, token expiry.
import { randomUUID } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

export interface FakeArtifact {
  digest: string;
  tags: string[];
  mediaType: string;
  createdDate: string;
}

export interface FakeRegistry {
  id: string;
  name: string;
  location: string;
  hostname: string;
  state: string;
  createdDate: string;
  lastModifiedDate: string;
  garbageCollectionSchedule?: { days: string[]; time: string };
  apiSubnetAllowList?: string[];
  /** http://host:port of a real OCI registry serving this one's images. */
  backend?: string;
  /** "user:password" the fake itself reads the backend with. */
  backendCredentials?: string;
  /** In-memory repositories: name → digest → artifact (when there is no backend). */
  repositories: Map<string, Map<string, FakeArtifact>>;
  /** Backend paths deleted through the REST API: hidden (the OCI registry keeps them listed) until pushed to again. */
  removed: Set<string>;
  /** When provisioning ends (state BUSY → Running, hostname assigned). */
  readyAt: number;
}

export interface InjectedFailure {
  method?: string;
  /** Matched against the start of the decoded path, e.g. "/registries". */
  pathPrefix?: string;
  status: number;
  errorCode?: string;
  message?: string;
  retryAfter?: string;
  times: number;
}

export interface SeenRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  auth: "bearer" | "basic" | "none";
}

export interface IonosFakeOptions {
  tokens?: string[];
  users?: Record<string, string>;
  /** How long a created registry stays BUSY. Default 50 ms. */
  provisionMs?: number;
}

const CREATOR = { createdBy: "ci@example.com", createdByUserId: "7f5d1a3c-2b4e-4c6d-8e9f-0a1b2c3d4e5f" };

export class IonosFake {
  url = "";
  readonly requests: SeenRequest[] = [];
  readonly registries = new Map<string, FakeRegistry>();
  latencyMs = 0;
  /** Called with each request as it arrives, before it is answered (to change the registry mid-walk). */
  onRequest?: (seen: SeenRequest) => void;
  private readonly tokens: Set<string>;
  private readonly users: Record<string, string>;
  private readonly provisionMs: number;
  private readonly failures: InjectedFailure[] = [];
  private readonly firstSeen = new Map<string, string>();
  private server?: http.Server;

  constructor(options: IonosFakeOptions = {}) {
    this.tokens = new Set(options.tokens ?? []);
    this.users = options.users ?? {};
    this.provisionMs = options.provisionMs ?? 50;
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  addToken(token: string): void {
    this.tokens.add(token);
  }

  /** The token stops working, as an expired or revoked IONOS token does. */
  expireToken(token: string): void {
    this.tokens.delete(token);
  }

  failNext(failure: Omit<InjectedFailure, "times"> & { times?: number }): void {
    this.failures.push({ times: 1, ...failure });
  }

  /** Injected failures not yet answered. */
  pendingFailures(): number {
    return this.failures.reduce((n, f) => n + f.times, 0);
  }

  addRegistry(r: {
    name: string;
    location?: string;
    hostname?: string;
    backend?: string;
    backendCredentials?: string;
    id?: string;
    garbageCollectionSchedule?: { days: string[]; time: string };
  }): FakeRegistry {
    const now = new Date().toISOString();
    const registry: FakeRegistry = {
      id: r.id ?? randomUUID(),
      name: r.name,
      location: r.location ?? "de/fra",
      hostname: r.hostname ?? (r.backend ? new URL(r.backend).host : `${r.name}.cr.ionos.test`),
      state: "Running",
      createdDate: now,
      lastModifiedDate: now,
      garbageCollectionSchedule: r.garbageCollectionSchedule,
      backend: r.backend,
      backendCredentials: r.backendCredentials,
      repositories: new Map(),
      removed: new Set(),
      readyAt: 0,
    };
    this.registries.set(registry.id, registry);
    return registry;
  }

  addArtifact(registryId: string, repository: string, a: { digest: string; tags?: string[]; mediaType?: string; createdDate?: string }): void {
    const registry = this.registries.get(registryId)!;
    let repo = registry.repositories.get(repository);
    if (!repo) registry.repositories.set(repository, (repo = new Map()));
    repo.set(a.digest, {
      digest: a.digest,
      tags: a.tags ?? [],
      mediaType: a.mediaType ?? "application/vnd.oci.image.manifest.v1+json",
      createdDate: a.createdDate ?? new Date().toISOString(),
    });
  }

  // ---- HTTP ----

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = req.url ?? "/";
    const url = new URL(raw, "http://fake");
    const method = req.method ?? "GET";
    const body = await readBody(req);
    // Route on the raw path: a repository name arrives percent-encoded as one segment.
    const segments = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    const query = Object.fromEntries(url.searchParams);
    const authorization = req.headers.authorization ?? "";
    const auth = authorization.startsWith("Bearer ") ? "bearer" : authorization.startsWith("Basic ") ? "basic" : "none";
    const seen: SeenRequest = { method, path: `/${segments.join("/")}`, query, auth };
    this.requests.push(seen);
    this.onRequest?.(seen);
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));

    const failure = this.failures.find((f) => (f.method === undefined || f.method === method) && (f.pathPrefix === undefined || `/${segments.join("/")}`.startsWith(f.pathPrefix)));
    if (failure) {
      if (--failure.times <= 0) this.failures.splice(this.failures.indexOf(failure), 1);
      const headers: Record<string, string> = {};
      if (failure.retryAfter !== undefined) headers["Retry-After"] = failure.retryAfter;
      return error(res, failure.status, failure.errorCode ?? "paas-error-1", failure.message ?? "injected failure", headers);
    }

    // Repositories and artifacts take Bearer tokens only; the rest also Basic.
    const bearerOnly = segments[0] === "registries" && segments.length >= 3 && (segments[2] === "repositories" || segments[2] === "artifacts") && !(method === "DELETE" && segments.length === 4);
    if (!this.authorized(authorization, bearerOnly)) return error(res, 401, "paas-auth-1", "Unauthorized: the token is missing, invalid or expired");

    try {
      await this.route(method, segments, query, body, res);
    } catch (e) {
      error(res, 500, "paas-internal-1", (e as Error).message);
    }
  }

  private authorized(header: string, bearerOnly: boolean): boolean {
    if (header.startsWith("Bearer ")) return this.tokens.has(header.slice(7));
    if (header.startsWith("Basic ") && !bearerOnly) {
      const [user, ...rest] = Buffer.from(header.slice(6), "base64").toString().split(":");
      return this.users[user] !== undefined && this.users[user] === rest.join(":");
    }
    return false;
  }

  private async route(method: string, s: string[], query: Record<string, string>, body: unknown, res: http.ServerResponse): Promise<void> {
    if (s.length === 1 && s[0] === "locations" && method === "GET") {
      return json(res, 200, { id: "locations", type: "collection", href: `${this.url}/locations`, items: [{ id: "de/fra" }, { id: "de/txl" }] });
    }
    if (s[0] !== "registries") return error(res, 404, "paas-route-1", "Not found");
    if (s.length === 1 && method === "GET") return this.listRegistries(query, res);
    if (s.length === 1 && method === "POST") return this.createRegistry(body, res);
    const registry = this.registries.get(s[1]);
    if (!registry) return error(res, 404, "crg-registry-404", `registry ${s[1]} not found`);
    this.settle(registry);
    if (s.length === 2) {
      if (method === "GET") return json(res, 200, this.registryJson(registry));
      if (method === "PATCH") return this.patchRegistry(registry, body, res);
      if (method === "DELETE") {
        this.registries.delete(registry.id);
        res.writeHead(204).end();
        return;
      }
      return error(res, 405, "paas-method-1", "Method not allowed");
    }
    if (method === "DELETE" && s.length === 4 && s[2] === "repositories") return this.deleteRepository(registry, s[3], res);
    if (method !== "GET") return error(res, 405, "paas-method-1", "Method not allowed");
    const paging = offsetPaging(query);
    if (typeof paging === "string") return error(res, 400, "paas-validation-1", paging);
    const repos = await this.repositoriesOf(registry);
    if (s.length === 3 && s[2] === "artifacts") {
      const all = [...repos].sort(([a], [b]) => (a < b ? -1 : 1)).flatMap(([name, arts]) => [...arts.values()].map((a) => this.artifactJson(registry, name, a)));
      return json(res, 200, this.offsetList("artifacts", `${this.url}/registries/${registry.id}/artifacts`, all, paging));
    }
    if (s[2] !== "repositories") return error(res, 404, "paas-route-1", "Not found");
    if (s.length === 3) {
      let items = [...repos.keys()].map((n) => this.repositoryJson(registry, n, repos.get(n)!));
      if (query["filter.name"]) items = items.filter((r) => String(r.id).includes(query["filter.name"]));
      const order = query.orderBy ?? "-lastPush";
      if (!["name", "-name", "lastPush", "-lastPush"].includes(order)) return error(res, 400, "paas-validation-7", `orderBy ${order} is not supported by this fake`);
      const key = (r: Record<string, unknown>) => (order.endsWith("name") ? String(r.id) : String((r.metadata as Record<string, unknown>).lastPushedAt));
      items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0) * (order.startsWith("-") ? -1 : 1));
      return json(res, 200, this.offsetList("repositories", `${this.url}/registries/${registry.id}/repositories`, items, paging));
    }
    const repo = repos.get(s[3]);
    if (!repo) return error(res, 404, "crg-repository-404", `repository ${s[3]} not found`);
    if (s.length === 4) return json(res, 200, this.repositoryJson(registry, s[3], repo));
    if (s[4] !== "artifacts") return error(res, 404, "paas-route-1", "Not found");
    if (s.length === 5) {
      const items = [...repo.values()].sort((a, b) => (a.createdDate < b.createdDate ? 1 : -1)).map((a) => this.artifactJson(registry, s[3], a));
      return json(res, 200, this.offsetList("artifacts", `${this.url}/registries/${registry.id}/repositories/${encodeURIComponent(s[3])}/artifacts`, items, paging));
    }
    const artifact = repo.get(s[5]);
    if (!artifact || s.length > 6) return error(res, 404, "crg-artifact-404", `artifact ${s[5]} not found`);
    return json(res, 200, this.artifactJson(registry, s[3], artifact));
  }

  /** "Delete all repository contents": every artifact, through the backend's OCI API when there is one. */
  private async deleteRepository(registry: FakeRegistry, name: string, res: http.ServerResponse): Promise<void> {
    const repo = (await this.repositoriesOf(registry)).get(name);
    if (!repo) return error(res, 404, "crg-repository-404", `repository ${name} not found`);
    if (registry.backend) {
      const auth: Record<string, string> = registry.backendCredentials ? { authorization: `Basic ${Buffer.from(registry.backendCredentials).toString("base64")}` } : {};
      for (const digest of repo.keys()) {
        const deleted = await fetch(`${registry.backend}/v2/${name}/manifests/${digest}`, { method: "DELETE", headers: auth });
        if (!deleted.ok && deleted.status !== 404) return error(res, 502, "paas-backend-1", `backend answered ${deleted.status}`);
      }
      registry.removed.add(name);
    } else {
      registry.repositories.delete(name);
    }
    res.writeHead(204).end();
  }

  private listRegistries(query: Record<string, string>, res: http.ServerResponse): void {
    const limit = query.limit === undefined ? 100 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return error(res, 400, "paas-validation-1", "limit must be an integer from 1 to 1000");
    let all = [...this.registries.values()];
    for (const r of all) this.settle(r);
    if (query["filter.name"]) all = all.filter((r) => r.name.includes(query["filter.name"]));
    let start = 0;
    if (query["pagination.token"]) {
      const after = Buffer.from(query["pagination.token"], "base64url").toString();
      const i = all.findIndex((r) => r.id === after);
      if (i < 0) return error(res, 400, "paas-validation-2", "pagination.token is invalid");
      start = i + 1;
    }
    const items = all.slice(start, start + limit);
    const more = start + limit < all.length;
    const token = more ? Buffer.from(items[items.length - 1].id).toString("base64url") : undefined;
    const self = `${this.url}/registries?limit=${limit}`;
    json(res, 200, {
      id: "registries",
      type: "collection",
      href: `${this.url}/registries`,
      items: items.map((r) => this.registryJson(r)),
      pagination: token ? { limit, token } : { limit },
      _links: { self, ...(token ? { next: `${self}&pagination.token=${token}` } : {}), ...(start > 0 ? { previous: self } : {}) },
    });
  }

  private createRegistry(body: unknown, res: http.ServerResponse): void {
    const props = ((body ?? {}) as { properties?: Record<string, unknown> }).properties;
    if (!props || typeof props.name !== "string" || typeof props.location !== "string") {
      return error(res, 422, "paas-validation-3", "properties.name and properties.location are required");
    }
    if (!/^[a-z][-a-z0-9]{1,61}[a-z0-9]$/.test(props.name)) return error(res, 422, "paas-validation-4", "properties.name is not a valid registry name");
    if ([...this.registries.values()].some((r) => r.name === props.name)) return error(res, 409, "crg-registry-409", `registry name ${props.name} is taken`);
    const registry = this.addRegistry({ name: props.name, location: props.location, hostname: "" });
    registry.garbageCollectionSchedule = props.garbageCollectionSchedule as FakeRegistry["garbageCollectionSchedule"];
    if (Array.isArray(props.apiSubnetAllowList)) registry.apiSubnetAllowList = props.apiSubnetAllowList as string[];
    registry.state = "BUSY";
    registry.readyAt = Date.now() + this.provisionMs;
    res.setHeader("Location", `${this.url}/registries/${registry.id}`);
    json(res, 201, this.registryJson(registry));
  }

  private patchRegistry(registry: FakeRegistry, body: unknown, res: http.ServerResponse): void {
    const patch = (body ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(patch)) {
      if (!["garbageCollectionSchedule", "features", "apiSubnetAllowList"].includes(key)) return error(res, 422, "paas-validation-5", `${key} cannot be patched`);
    }
    if (patch.garbageCollectionSchedule !== undefined) registry.garbageCollectionSchedule = patch.garbageCollectionSchedule as FakeRegistry["garbageCollectionSchedule"];
    if (patch.apiSubnetAllowList !== undefined) {
      const list = patch.apiSubnetAllowList as string[];
      if (!Array.isArray(list) || list.length > 25) return error(res, 422, "paas-validation-6", "apiSubnetAllowList takes at most 25 CIDRs");
      registry.apiSubnetAllowList = list;
    }
    registry.lastModifiedDate = new Date().toISOString();
    json(res, 200, this.registryJson(registry));
  }

  /** BUSY → Running once provisioning time has passed; the hostname comes with it. */
  private settle(registry: FakeRegistry): void {
    if (registry.state === "BUSY" && Date.now() >= registry.readyAt) {
      registry.state = "Running";
      if (!registry.hostname) registry.hostname = `${registry.name}.cr.ionos.test`;
    }
  }

  private async repositoriesOf(registry: FakeRegistry): Promise<Map<string, Map<string, FakeArtifact>>> {
    if (!registry.backend) return registry.repositories;
    const out = new Map<string, Map<string, FakeArtifact>>();
    const auth: Record<string, string> = registry.backendCredentials ? { authorization: `Basic ${Buffer.from(registry.backendCredentials).toString("base64")}` } : {};
    const catalog = (await (await fetch(`${registry.backend}/v2/_catalog?n=1000`, { headers: auth })).json()) as { repositories?: string[] };
    for (const name of catalog.repositories ?? []) {
      const tagsRes = await fetch(`${registry.backend}/v2/${name}/tags/list`, { headers: auth });
      const tags = tagsRes.ok ? (((await tagsRes.json()) as { tags?: string[] | null }).tags ?? []) : [];
      const artifacts = new Map<string, FakeArtifact>();
      for (const tag of tags) {
        const head = await fetch(`${registry.backend}/v2/${name}/manifests/${tag}`, { method: "HEAD", headers: { accept: MANIFEST_ACCEPT, ...auth } });
        const digest = head.headers.get("docker-content-digest");
        if (!head.ok || !digest) continue;
        const seenKey = `${registry.id}/${name}@${digest}`;
        if (!this.firstSeen.has(seenKey)) this.firstSeen.set(seenKey, new Date().toISOString());
        const artifact = artifacts.get(digest) ?? { digest, tags: [], mediaType: (head.headers.get("content-type") ?? "").split(";")[0], createdDate: this.firstSeen.get(seenKey)! };
        artifact.tags.push(tag);
        artifacts.set(digest, artifact);
      }
      if (artifacts.size > 0) registry.removed.delete(name);
      if (!registry.removed.has(name)) out.set(name, artifacts);
    }
    return out;
  }

  registryJson(r: FakeRegistry): Record<string, unknown> {
    const properties: Record<string, unknown> = {
      name: r.name,
      location: r.location,
      hostname: r.hostname,
      garbageCollectionSchedule: r.garbageCollectionSchedule ?? null,
      storageUsage: { bytes: 0, updatedAt: r.lastModifiedDate },
      features: { vulnerabilityScanning: { enabled: false } },
    };
    if (r.apiSubnetAllowList) properties.apiSubnetAllowList = r.apiSubnetAllowList;
    return {
      id: r.id,
      type: "registry",
      href: `${this.url}/registries/${r.id}`,
      metadata: { ...CREATOR, createdDate: r.createdDate, lastModifiedBy: CREATOR.createdBy, lastModifiedByUserId: CREATOR.createdByUserId, lastModifiedDate: r.lastModifiedDate, state: r.state },
      properties,
    };
  }

  private repositoryJson(registry: FakeRegistry, name: string, artifacts: Map<string, FakeArtifact>): Record<string, unknown> {
    const dates = [...artifacts.values()].map((a) => a.createdDate).sort();
    return {
      id: name,
      type: "repository",
      href: `${this.url}/registries/${registry.id}/repositories/${encodeURIComponent(name)}`,
      metadata: {
        ...CREATOR,
        createdDate: dates[0] ?? registry.createdDate,
        resourceURN: `ionos:containerregistry:${registry.location}:${registry.id}:repository/${name}`,
        artifactCount: artifacts.size,
        pullCount: 0,
        pushCount: artifacts.size,
        lastPushedAt: dates.at(-1) ?? registry.createdDate,
      },
      properties: { name },
    };
  }

  private artifactJson(registry: FakeRegistry, repository: string, a: FakeArtifact): Record<string, unknown> {
    return {
      id: a.digest,
      type: "artifact",
      href: `${this.url}/registries/${registry.id}/repositories/${encodeURIComponent(repository)}/artifacts/${a.digest}`,
      metadata: { ...CREATOR, createdDate: a.createdDate, state: "Available", lastPushedAt: a.createdDate, pushCount: 1, pullCount: 0, vulnTotalCount: 0, vulnFixableCount: 0 },
      properties: { repositoryName: repository, digest: a.digest, tags: [...a.tags].sort(), mediaType: a.mediaType },
    };
  }

  private offsetList(id: string, href: string, all: unknown[], paging: { offset: number; limit: number }): Record<string, unknown> {
    const items = all.slice(paging.offset, paging.offset + paging.limit);
    const links: Record<string, string> = { self: `${href}?offset=${paging.offset}&limit=${paging.limit}` };
    if (paging.offset > 0) links.prev = `${href}?offset=${Math.max(0, paging.offset - paging.limit)}&limit=${paging.limit}`;
    if (paging.offset + paging.limit < all.length) links.next = `${href}?offset=${paging.offset + paging.limit}&limit=${paging.limit}`;
    return { id, type: "collection", href, items, offset: paging.offset, limit: paging.limit, _links: links };
  }
}

function offsetPaging(query: Record<string, string>): { offset: number; limit: number } | string {
  const offset = query.offset === undefined ? 0 : Number(query.offset);
  const limit = query.limit === undefined ? 100 : Number(query.limit);
  if (!Number.isInteger(offset) || offset < 0) return "offset must be a non-negative integer";
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return "limit must be an integer from 1 to 1000";
  return { offset, limit };
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function error(res: http.ServerResponse, status: number, errorCode: string, message: string, headers: Record<string, string> = {}): void {
  json(res, status, { httpStatus: status, messages: [{ errorCode, message }] }, headers);
}

async function readBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (chunks.length === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}
