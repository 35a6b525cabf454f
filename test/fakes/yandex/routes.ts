// The Yandex fake's HTTP side: the REST API, the Operation API and the IAM token exchange on one port,
// answered from the records in state.ts.
import { constants, randomBytes, verify } from "node:crypto";
import type * as http from "node:http";
import { RpcError, rfc3339, TYPE, yandexId, YandexState, type FakeBlob, type FakeImage, type FakeOperation, type FakeRegistry, type FakeRepository, type IamExchange } from "./state.js";

const CR = "yandex.cloud.containerregistry.v1.";
/** CreateRepositoryRequest.name's pattern (cloudapi repository_service.proto). */
const REPOSITORY_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;
const HTTP_OF_CODE: Record<number, number> = { 1: 499, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 12: 501, 13: 500, 14: 503, 16: 401 };

export abstract class YandexRoutes extends YandexState {
  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const method = req.method ?? "GET";
    const body = await readBody(req);
    const path = url.pathname;
    const query = Object.fromEntries(url.searchParams);
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    try {
      if (path === "/iam/v1/tokens") {
        if (method !== "POST") throw new RpcError(12, "method not allowed");
        return json(res, 200, this.exchange(body));
      }
      const header = req.headers.authorization ?? "";
      const token = header.startsWith("Bearer ") ? header.slice(7) : undefined;
      const exp = token === undefined ? undefined : this.tokens.get(token);
      const state = token === undefined ? "none" : exp === undefined ? "unknown" : Date.now() < exp ? "valid" : "expired";
      this.requests.push({ method, path, query, token: state });
      const failure = this.failures.find((f) => (f.method === undefined || f.method === method) && (f.pathPrefix === undefined || path.startsWith(f.pathPrefix)));
      if (failure) {
        if (--failure.times <= 0) this.failures.splice(this.failures.indexOf(failure), 1);
        return status(res, failure.code, failure.message ?? "injected failure", failure.retryAfter ? { "Retry-After": failure.retryAfter } : {});
      }
      if (state !== "valid") throw new RpcError(16, "Token is invalid or has expired.");
      return json(res, 200, this.route(method, path, query, body));
    } catch (e) {
      if (e instanceof RpcError) return status(res, e.code, e.message);
      return status(res, 13, (e as Error).message);
    }
  }

  private route(method: string, path: string, query: Record<string, string>, body: unknown): unknown {
    const op = /^\/operations\/([^/]+)$/.exec(path);
    if (op && method === "GET") return this.pollOperation(decodeURIComponent(op[1]));
    const m = /^\/container-registry\/v1\/(images|registries|repositories)(?:\/([^/]+))?$/.exec(path);
    if (!m) throw new RpcError(5, `no route for ${method} ${path}`);
    const [, collection, rawId] = m;
    const id = rawId === undefined ? undefined : decodeURIComponent(rawId);
    if (collection === "images") {
      if (id === undefined && method === "GET") return this.listImages(query);
      if (id !== undefined && method === "GET") return imageJson(this.image(id));
      if (id !== undefined && method === "DELETE") return this.deleteImage(id);
    }
    if (collection === "registries") {
      if (id === undefined && method === "GET") return this.listRegistries(query);
      if (id === undefined && method === "POST") return this.createRegistry(body);
      if (id !== undefined && method === "GET") return registryJson(this.registry(id));
      if (id !== undefined && method === "PATCH") return this.updateRegistry(id, body);
      if (id !== undefined && method === "DELETE") return this.deleteRegistry(id);
    }
    if (collection === "repositories") {
      if (id === undefined && method === "GET") return this.listRepositories(query);
      if (id === undefined && method === "POST") return this.createRepository(body);
      if (id !== undefined && method === "GET") return repositoryJson(this.repository(id));
      if (id !== undefined && method === "DELETE") return this.deleteRepository(id);
    }
    throw new RpcError(12, `${method} ${path} is not implemented`);
  }

  private exchange(body: unknown): unknown {
    const b = (body ?? {}) as { jwt?: unknown; yandexPassportOauthToken?: unknown };
    if (typeof b.yandexPassportOauthToken === "string") {
      if (!this.oauthTokens.has(b.yandexPassportOauthToken)) return this.refuse("oauth", 16, "OAuth token is invalid or expired");
      this.iamExchanges.push({ kind: "oauth", ok: true });
      return this.issue();
    }
    if (typeof b.jwt !== "string") return this.refuse("invalid", 3, "jwt or yandexPassportOauthToken is required");
    const parts = b.jwt.split(".");
    if (parts.length !== 3) return this.refuse("jwt", 16, "JWT is malformed");
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(parts[0], "base64url").toString()) as Record<string, unknown>;
      claims = JSON.parse(Buffer.from(parts[1], "base64url").toString()) as Record<string, unknown>;
    } catch {
      return this.refuse("jwt", 16, "JWT is malformed");
    }
    if (header.alg !== "PS256") return this.refuse("jwt", 16, "JWT algorithm must be PS256");
    const key = typeof header.kid === "string" ? this.keys.get(header.kid) : undefined;
    if (!key) return this.refuse("jwt", 16, "JWT kid names no known key");
    const signed = verify("sha256", Buffer.from(`${parts[0]}.${parts[1]}`), { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, Buffer.from(parts[2], "base64url"));
    if (!signed) return this.refuse("jwt", 16, "JWT signature is invalid");
    if (claims.iss !== key.serviceAccountId) return this.refuse("jwt", 16, "JWT iss is not the key's service account");
    if (claims.aud !== this.iamUrl) return this.refuse("jwt", 16, "JWT aud is not the IAM token endpoint");
    const now = Date.now() / 1000;
    if (typeof claims.iat !== "number" || typeof claims.exp !== "number") return this.refuse("jwt", 3, "JWT needs iat and exp");
    if (claims.exp - claims.iat > 3600) return this.refuse("jwt", 3, "JWT lifetime (exp - iat) exceeds 3600 seconds");
    if (claims.exp <= now || claims.iat > now + 60) return this.refuse("jwt", 16, "JWT is expired or not yet valid");
    this.iamExchanges.push({ kind: "jwt", ok: true });
    return this.issue();
  }

  private refuse(kind: IamExchange["kind"], code: number, reason: string): never {
    this.iamExchanges.push({ kind, ok: false, reason });
    throw new RpcError(code, reason);
  }

  private issue(): unknown {
    const token = `t1.${randomBytes(24).toString("base64url")}`;
    const expiresAt = Date.now() + this.tokenLifetimeMs;
    this.tokens.set(token, expiresAt);
    return { iamToken: token, expiresAt: rfc3339(new Date(expiresAt), true) };
  }

  private listImages(query: Record<string, string>): unknown {
    let images = [...this.images.values()];
    if (query.repositoryName) images = images.filter((i) => i.name === query.repositoryName);
    else if (query.registryId) images = images.filter((i) => i.registryId === query.registryId);
    else if (query.folderId) images = images.filter((i) => this.registries.get(i.registryId)?.folderId === query.folderId);
    else throw new RpcError(3, "one of repositoryName, registryId or folderId is required");
    const name = nameFilter(query.filter);
    if (name !== undefined) images = images.filter((i) => i.name === name);
    if (query.orderBy) throw new RpcError(3, "orderBy is not supported by this fake");
    images.sort((a, b) => cmp(a.name, b.name) || cmp(a.id, b.id));
    return page(images, (i) => [i.name, i.id], query, "images", imageJson);
  }

  private listRegistries(query: Record<string, string>): unknown {
    if (!query.folderId) throw new RpcError(3, "folderId is required");
    let registries = [...this.registries.values()].filter((r) => r.folderId === query.folderId);
    const name = nameFilter(query.filter);
    if (name !== undefined) registries = registries.filter((r) => r.name === name);
    registries.sort((a, b) => cmp(a.id, b.id));
    return page(registries, (r) => [r.id], query, "registries", registryJson);
  }

  private listRepositories(query: Record<string, string>): unknown {
    if (!query.registryId && !query.folderId) throw new RpcError(3, "registryId or folderId is required");
    let repositories = [...this.repositories.values()].filter((r) => (query.registryId ? r.registryId === query.registryId : this.registries.get(r.registryId)?.folderId === query.folderId));
    const name = nameFilter(query.filter);
    if (name !== undefined) repositories = repositories.filter((r) => r.name === name);
    if (query.orderBy) throw new RpcError(3, "orderBy is not supported by this fake");
    repositories.sort((a, b) => cmp(a.name, b.name));
    return page(repositories, (r) => [r.name], query, "repositories", repositoryJson);
  }

  private repository(id: string): FakeRepository {
    const repository = this.repositories.get(id);
    if (!repository) throw new RpcError(5, `Repository ${id} not found`);
    return repository;
  }

  private createRepository(body: unknown): unknown {
    const name = ((body ?? {}) as { name?: unknown }).name;
    if (typeof name !== "string" || !REPOSITORY_NAME.test(name)) throw new RpcError(3, "name is invalid");
    const registryId = name.slice(0, name.indexOf("/"));
    if (!name.includes("/") || !this.registries.has(registryId)) throw new RpcError(5, `Registry ${registryId} not found`);
    if (this.repositoryNamed(name)) throw new RpcError(6, `Repository ${name} already exists`);
    const repository: FakeRepository = { id: yandexId("crr"), registryId, name };
    return this.operation("Create repository", `${CR}CreateRepositoryMetadata`, { repositoryId: repository.id }, name, () => {
      if (this.repositoryNamed(name)) throw new RpcError(6, `Repository ${name} already exists`);
      this.repositories.set(repository.id, repository);
      return { "@type": `${TYPE}${CR}Repository`, ...repositoryJson(repository) };
    });
  }

  private deleteRepository(id: string): unknown {
    const repository = this.repository(id);
    return this.operation("Delete repository", `${CR}DeleteRepositoryMetadata`, { repositoryId: id }, id, () => {
      if ([...this.images.values()].some((i) => i.name === repository.name)) throw new RpcError(9, `Repository ${repository.name} is not empty`);
      this.repositories.delete(id);
      return { "@type": `${TYPE}google.protobuf.Empty` };
    });
  }

  private image(id: string): FakeImage {
    const image = this.images.get(id);
    if (!image) throw new RpcError(5, `Image ${id} not found`);
    return image;
  }

  private registry(id: string): FakeRegistry {
    const registry = this.registries.get(id);
    if (!registry) throw new RpcError(5, `Registry ${id} not found`);
    return registry;
  }

  private deleteImage(id: string): unknown {
    this.image(id);
    return this.operation(`Delete image`, `${CR}DeleteImageMetadata`, { imageId: id }, id, () => {
      this.images.delete(id);
      return { "@type": `${TYPE}google.protobuf.Empty` };
    });
  }

  private createRegistry(body: unknown): unknown {
    const b = (body ?? {}) as { folderId?: unknown; name?: unknown; labels?: unknown };
    if (typeof b.folderId !== "string" || b.folderId === "") throw new RpcError(3, "folderId is required");
    const name = typeof b.name === "string" ? b.name : "";
    if (name !== "" && !/^[a-z][-a-z0-9]{1,61}[a-z0-9]$/.test(name)) throw new RpcError(3, "name is invalid");
    if (name !== "" && [...this.registries.values()].some((r) => r.folderId === b.folderId && r.name === name)) throw new RpcError(6, `Registry with name ${name} already exists`);
    const registry = this.addRegistry({ folderId: b.folderId, name, labels: (b.labels as Record<string, string> | undefined) ?? {} });
    registry.status = "CREATING";
    return this.operation("Create registry", `${CR}CreateRegistryMetadata`, { registryId: registry.id }, registry.id, () => {
      registry.status = "ACTIVE";
      return { "@type": `${TYPE}${CR}Registry`, ...registryJson(registry) };
    });
  }

  private updateRegistry(id: string, body: unknown): unknown {
    const registry = this.registry(id);
    const b = (body ?? {}) as { updateMask?: unknown; name?: unknown; labels?: unknown };
    const paths = typeof b.updateMask === "string" && b.updateMask !== "" ? b.updateMask.split(",") : ["name", "labels"];
    for (const p of paths) if (p !== "name" && p !== "labels") throw new RpcError(3, `updateMask path ${p} is not updatable`);
    return this.operation("Update registry", `${CR}UpdateRegistryMetadata`, { registryId: id }, id, () => {
      if (paths.includes("name") && typeof b.name === "string") registry.name = b.name;
      if (paths.includes("labels")) registry.labels = (b.labels as Record<string, string> | undefined) ?? {};
      return { "@type": `${TYPE}${CR}Registry`, ...registryJson(registry) };
    });
  }

  private deleteRegistry(id: string): unknown {
    const registry = this.registry(id);
    registry.status = "DELETING";
    return this.operation("Delete registry", `${CR}DeleteRegistryMetadata`, { registryId: id }, id, () => {
      this.registries.delete(id);
      for (const [imageId, image] of this.images) if (image.registryId === id) this.images.delete(imageId);
      for (const [repositoryId, repository] of this.repositories) if (repository.registryId === id) this.repositories.delete(repositoryId);
      return { "@type": `${TYPE}google.protobuf.Empty` };
    });
  }

  private operation(description: string, metadataType: string, metadata: Record<string, string>, resourceId: string, finish: () => Record<string, unknown>): unknown {
    const now = rfc3339(new Date());
    const op: FakeOperation = {
      json: { id: yandexId("crt"), description, createdAt: now, createdBy: "ajeserviceaccount01", modifiedAt: now, done: false, metadata: { "@type": `${TYPE}${metadataType}`, ...metadata } },
      pollsLeft: this.operationPolls,
      finish: () => {
        const failure = this.operationFailures.get(resourceId);
        if (failure) {
          this.operationFailures.delete(resourceId);
          throw new RpcError(failure.code, failure.message);
        }
        return finish();
      },
    };
    this.operations.set(String(op.json.id), op);
    return op.json;
  }

  private pollOperation(id: string): unknown {
    const op = this.operations.get(id);
    if (!op) throw new RpcError(5, `Operation ${id} not found`);
    if (!op.json.done && --op.pollsLeft <= 0) {
      try {
        op.json.response = op.finish();
      } catch (e) {
        const err = e instanceof RpcError ? e : new RpcError(13, (e as Error).message);
        op.json.error = { code: err.code, message: err.message, details: [requestInfo()] };
      }
      op.json.done = true;
      op.json.modifiedAt = rfc3339(new Date());
    }
    return op.json;
  }
}

/** One page of a token-paged listing: keyset on `key`, so deletes between pages skip nothing. */
function page<T>(items: T[], key: (t: T) => string[], query: Record<string, string>, field: string, render: (t: T) => unknown): unknown {
  if (query.pageSize !== undefined && !/^\d+$/.test(query.pageSize)) throw new RpcError(3, "pageSize must be an int64");
  const size = query.pageSize === undefined || query.pageSize === "0" ? 100 : Number(query.pageSize);
  if (size > 1000) throw new RpcError(3, "pageSize must be at most 1000");
  let start = 0;
  if (query.pageToken) {
    let after: string[];
    try {
      after = JSON.parse(Buffer.from(query.pageToken, "base64url").toString()) as string[];
    } catch {
      throw new RpcError(3, "pageToken is invalid");
    }
    start = items.findIndex((t) => cmpKeys(key(t), after) > 0);
    if (start < 0) start = items.length;
  }
  const slice = items.slice(start, start + size);
  const out: Record<string, unknown> = {};
  if (slice.length > 0) out[field] = slice.map(render);
  if (start + size < items.length) out.nextPageToken = Buffer.from(JSON.stringify(key(slice[slice.length - 1]))).toString("base64url");
  return out;
}

export function imageJson(i: FakeImage): Record<string, unknown> {
  const out: Record<string, unknown> = { id: i.id, name: i.name, digest: i.digest, compressedSize: String(i.compressedSize) };
  if (i.config) out.config = blobJson(i.config);
  if (i.layers.length > 0) out.layers = i.layers.map(blobJson);
  if (i.tags.length > 0) out.tags = [...i.tags];
  out.createdAt = i.createdAt;
  return out;
}

function blobJson(b: FakeBlob): Record<string, unknown> {
  const out: Record<string, unknown> = { id: b.id, digest: b.digest, size: String(b.size) };
  if (b.urls && b.urls.length > 0) out.urls = b.urls;
  return out;
}

export function registryJson(r: FakeRegistry): Record<string, unknown> {
  const out: Record<string, unknown> = { id: r.id, folderId: r.folderId, name: r.name, status: r.status, createdAt: r.createdAt };
  if (Object.keys(r.labels).length > 0) out.labels = { ...r.labels };
  return out;
}

function nameFilter(filter: string | undefined): string | undefined {
  if (!filter) return undefined;
  const m = /^name="([^"]+)"$/.exec(filter);
  if (!m) throw new RpcError(3, 'filter supports only name="<value>"');
  return m[1];
}

function requestInfo(): Record<string, string> {
  return { "@type": `${TYPE}google.rpc.RequestInfo`, requestId: randomBytes(16).toString("hex") };
}

function status(res: http.ServerResponse, code: number, message: string, headers: Record<string, string> = {}): void {
  json(res, HTTP_OF_CODE[code] ?? 500, { code, message, details: [requestInfo()] }, headers);
}

function json(res: http.ServerResponse, httpStatus: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(httpStatus, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function repositoryJson(r: FakeRepository): Record<string, unknown> {
  return { name: r.name, id: r.id };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpKeys(a: string[], b: string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const c = cmp(a[i] ?? "", b[i] ?? "");
    if (c !== 0) return c;
  }
  return 0;
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
