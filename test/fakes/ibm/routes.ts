// The IBM fake's HTTP side: routing on the raw URL, IAM's token exchange, authentication and the
// registry's image and namespace calls, answered from the records in state.ts.
import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError, IbmState, OCI_MANIFEST, type FakeManifest, type Namespace, type RequestRecord } from "./state.js";

export abstract class IbmRoutes extends IbmState {
  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? "/";
    const q = raw.indexOf("?");
    const path = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
    const record: RequestRecord = { method: req.method ?? "GET", path, query, route: "", status: 0, headers: req.headers };
    this.requests.push(record);
    const body = await readBody(req);
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    const send = (status: number, payload?: unknown, contentType = "application/json") => {
      record.status = status;
      if (payload === undefined) {
        res.writeHead(status).end();
        return;
      }
      const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(JSON.stringify(payload));
      res.writeHead(status, { "content-type": contentType, "content-length": bytes.length }).end(bytes);
    };
    try {
      // Segments stay encoded until a route has matched, so "%2F" inside a parameter is no separator.
      const segments = path.split("/").slice(1);
      const method = req.method ?? "GET";
      if (method === "POST" && path === "/identity/token") {
        record.route = "POST /identity/token";
        return send(200, this.issueToken(req, body));
      }
      if (segments[0] !== "api" || segments[1] !== "v1") throw new HttpError(404, "CRG0404E", "The requested resource was not found.");
      const [, , collection, param, action] = segments;
      const decoded = param === undefined ? undefined : decodeURIComponent(param);
      record.route = `${method} /api/v1/${collection}${param === undefined ? "" : isFixed(param) ? `/${param}` : "/{param}"}${action ? `/${action}` : ""}`;
      if (collection === "messages" && method === "GET" && param === undefined) return send(204);

      this.authenticate(req);
      if (this.failure !== undefined) {
        const { status, message } = this.failure;
        this.failure = undefined;
        record.status = status;
        const bytes = Buffer.from(JSON.stringify({ code: "CRG0500E", message, "request-id": randomUUID() }));
        res.writeHead(status, { "content-type": "application/json", "content-length": bytes.length }).end(bytes);
        return;
      }
      const planned = this.routeFailures.find((f) => f.route === record.route && f.times > 0);
      if (planned !== undefined && planned.skip > 0) planned.skip--;
      else if (planned !== undefined) {
        planned.times--;
        throw new HttpError(planned.status, ROUTE_FAILURE_CODES[planned.status] ?? "CRG0500E", `The request failed with HTTP ${planned.status}.`);
      }
      if (this.rateLimited > 0) {
        this.rateLimited--;
        record.status = 429;
        const bytes = Buffer.from(JSON.stringify({ code: "CRG0429E", message: "Too many requests. Try again later.", "request-id": randomUUID() }));
        res.writeHead(429, { "content-type": "application/json", "retry-after": String(this.retryAfterSec), "content-length": bytes.length }).end(bytes);
        return;
      }

      if (collection === "images") {
        if (method === "GET" && param === undefined) return send(200, this.listImages(query));
        if (method === "POST" && param === "digests" && action === undefined) return send(200, this.listDigests(parseJson(body)));
        if (method === "POST" && param === "bulkdelete" && action === undefined) return send(200, this.bulkDelete(parseJson(body)));
        if (method === "GET" && decoded !== undefined && action === "manifest") {
          const m = this.manifestOf(decoded);
          return send(200, m.bytes, m.mediaType);
        }
        if (method === "GET" && decoded !== undefined && action === "json") return send(200, this.inspect(decoded));
        if (method === "DELETE" && decoded !== undefined && action === undefined) return send(200, this.deleteImage(decoded));
      }
      if (collection === "namespaces") {
        if (method === "GET" && param === undefined) return send(200, [...this.namespaces.keys()].sort());
        if (method === "GET" && param === "details" && action === undefined) return send(200, [...this.namespaces.values()].map((n) => this.details(n)));
        if (method === "PUT" && decoded !== undefined && action === undefined) return this.createNamespace(decoded, req, send);
        if (method === "PATCH" && decoded !== undefined && action === undefined) return send(200, this.assignNamespace(decoded, req));
        if (method === "DELETE" && decoded !== undefined && action === undefined) return send(this.deleteNamespace(decoded));
      }
      if (collection === "tags" && method === "DELETE" && decoded !== undefined && action === undefined) return send(200, this.deleteTag(decoded));
      throw new HttpError(404, "CRG0404E", "The requested resource was not found.");
    } catch (e) {
      if (e instanceof IamError) {
        // IAM's real context names its own URL; IBM's SDK keys its "invalid credentials" wording on it.
        const context = { requestId: randomUUID(), requestType: "incoming.Identity_Token", url: "https://iam.cloud.ibm.com", instanceId: "iamid-fake", locale: "en_US" };
        return send(e.status, { errorCode: e.code, errorMessage: e.message, context });
      }
      if (e instanceof HttpError) return send(e.status, { code: e.code, message: e.message, "request-id": randomUUID() });
      return send(500, { code: "CRG0500E", message: String(e), "request-id": randomUUID() });
    }
  }

  /** IAM: the API-key grant only; the token is an unsigned JWT the IBM SDK can decode. */
  private issueToken(req: IncomingMessage, body: Buffer): Record<string, unknown> {
    const form = new URLSearchParams(body.toString("utf8"));
    const contentType = (req.headers["content-type"] ?? "").split(";")[0].trim();
    if (contentType !== "application/x-www-form-urlencoded") throw new IamError(400, "BXNIM0109E", "Property missing or empty.");
    if (form.get("grant_type") !== "urn:ibm:params:oauth:grant-type:apikey") throw new IamError(400, "BXNIM0308E", "Grant type is not supported.");
    if (form.get("apikey") !== this.apiKey) throw new IamError(400, "BXNIM0415E", "Provided API key could not be found.");
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + this.tokenTtlSec;
    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const token = `${b64({ kid: "fake", alg: "RS256" })}.${b64({
      iam_id: "iam-ServiceId-fake",
      id: "iam-ServiceId-fake",
      sub: "ServiceId-fake",
      sub_type: "ServiceId",
      account: { valid: true, bss: this.account },
      iat,
      exp,
      iss: "https://iam.cloud.ibm.com/identity",
      grant_type: "urn:ibm:params:oauth:grant-type:apikey",
      scope: "ibm openid",
      client_id: "default",
      jti: randomUUID(),
    })}.${randomBytes(16).toString("base64url")}`;
    this.tokens.set(token, { account: this.account, expiresAt: exp * 1000 });
    this.lastToken = token;
    return { access_token: token, refresh_token: "not_supported", token_type: "Bearer", expires_in: this.tokenTtlSec, expiration: exp, scope: "ibm openid" };
  }

  private authenticate(req: IncomingMessage): void {
    const auth = req.headers.authorization ?? "";
    const token = auth.startsWith("Bearer ") ? this.tokens.get(auth.slice("Bearer ".length)) : undefined;
    if (!token || token.expiresAt <= this.now()) throw new HttpError(401, "CRG0002E", "You are not authorized to access the registry. Your token is missing, expired or invalid.");
    const account = req.headers.account;
    if (typeof account !== "string" || account === "") throw new HttpError(400, "CRG0006E", "The Account header is required.");
    if (account !== token.account) throw new HttpError(403, "CRG0009E", "You are not authorized to access the specified account.");
  }

  /** "<host>/<ns>/<repo>" (host required), "@digest" or ":tag" → repository, digest. */
  private resolve(reference: string): { repository: string; digest: string } {
    if (!reference.startsWith(`${this.host}/`)) throw new HttpError(404, "CRG0020E", `The image ${reference} was not found in this registry.`);
    const rest = reference.slice(this.host.length + 1);
    const at = rest.indexOf("@");
    let repository: string;
    let digest: string | undefined;
    if (at >= 0) {
      repository = rest.slice(0, at);
      digest = rest.slice(at + 1);
    } else {
      const colon = rest.lastIndexOf(":");
      repository = colon > rest.lastIndexOf("/") ? rest.slice(0, colon) : rest;
      const tag = colon > rest.lastIndexOf("/") ? rest.slice(colon + 1) : "latest";
      digest = this.repositories.get(repository)?.tags.get(tag);
    }
    const repo = this.repositories.get(repository);
    if (!repo || digest === undefined || !repo.digests.has(digest)) throw new HttpError(404, "CRG0020E", `The image ${reference} was not found in this registry.`);
    return { repository, digest };
  }

  private manifestOf(reference: string): FakeManifest {
    const { digest } = this.resolve(reference);
    return this.manifests.get(digest)!;
  }

  private listImages(query: URLSearchParams): unknown[] {
    const namespace = query.get("namespace");
    const repositoryFilter = query.get("repository");
    const out: unknown[] = [];
    for (const [name, repo] of [...this.repositories].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (namespace && name.split("/")[0] !== namespace) continue;
      if (repositoryFilter && name !== repositoryFilter && `${this.host}/${name}` !== repositoryFilter) continue;
      for (const digest of [...repo.digests].sort()) {
        const tags = [...repo.tags].filter(([, d]) => d === digest).map(([t]) => t).sort();
        if (tags.length === 0) continue;
        const m = this.manifests.get(digest)!;
        out.push({
          Id: m.config.digest,
          Created: m.created,
          RepoTags: tags.map((t) => `${this.host}/${name}:${t}`),
          RepoDigests: [`${this.host}/${name}@${digest}`],
          DigestTags: { [digest]: tags.map((t) => `${this.host}/${name}:${t}`) },
          Size: size(m),
          VirtualSize: size(m),
          ManifestType: manifestType(m.mediaType),
          Labels: {},
          ParentId: "",
          Vulnerable: "false",
          VulnerabilityCount: 0,
          IssueCount: 0,
          ConfigurationIssueCount: 0,
          ExemptIssueCount: 0,
        });
      }
    }
    return out;
  }

  /** One ImageDigest per digest; repoTags holds every repository with that digest (or only the asked ones). */
  private listDigests(body: unknown): unknown[] {
    const b = (body ?? {}) as { exclude_tagged?: unknown; repositories?: unknown };
    const wanted = Array.isArray(b.repositories) && b.repositories.length > 0 ? new Set(b.repositories.map(String)) : undefined;
    const byDigest = new Map<string, Record<string, string[]>>();
    for (const [name, repo] of this.repositories) {
      if (wanted && !wanted.has(name) && !wanted.has(`${this.host}/${name}`)) continue;
      for (const digest of repo.digests) {
        const tags = [...repo.tags].filter(([, d]) => d === digest).map(([t]) => t).sort();
        if (b.exclude_tagged === true && tags.length > 0) continue;
        const entry = byDigest.get(digest) ?? {};
        entry[`${this.host}/${name}`] = tags;
        byDigest.set(digest, entry);
      }
    }
    return [...byDigest].map(([digest, repoTags]) => {
      const m = this.manifests.get(digest)!;
      return { id: digest, created: m.created, manifestType: manifestType(m.mediaType), repoTags, size: size(m) };
    });
  }

  private bulkDelete(body: unknown): { success: string[]; error: Record<string, { code: string; message: string }> } {
    if (!Array.isArray(body)) throw new HttpError(400, "CRG0100E", "The request body must be a JSON array of image references.");
    const result = { success: [] as string[], error: {} as Record<string, { code: string; message: string }> };
    for (const ref of body.map(String)) {
      try {
        const { repository, digest } = this.resolve(ref);
        this.removeDigest(repository, digest);
        result.success.push(ref);
      } catch (e) {
        const err = e as HttpError;
        result.error[ref] = { code: err.code ?? "CRG0500E", message: err.message };
      }
    }
    return result;
  }

  private removeDigest(repository: string, digest: string): void {
    const repo = this.repositories.get(repository)!;
    repo.digests.delete(digest);
    for (const [t, d] of repo.tags) if (d === digest) repo.tags.delete(t);
    if (repo.digests.size === 0) this.repositories.delete(repository);
  }

  private deleteImage(reference: string): { Untagged: string } {
    const { repository, digest } = this.resolve(reference);
    this.removeDigest(repository, digest);
    return { Untagged: reference };
  }

  private deleteTag(reference: string): { Untagged: string } {
    const { repository } = this.resolve(reference);
    const colon = reference.lastIndexOf(":");
    const tag = reference.slice(colon + 1);
    this.repositories.get(repository)?.tags.delete(tag);
    return { Untagged: reference };
  }

  private inspect(reference: string): Record<string, unknown> {
    const m = this.manifestOf(reference);
    return {
      Id: m.config.digest,
      Architecture: "amd64",
      Os: "linux",
      Created: new Date(m.created * 1000).toISOString(),
      ManifestType: manifestType(m.mediaType),
      RootFS: { Type: "layers", Layers: m.layers.map((l) => l.digest), BaseLayer: "" },
      Size: size(m),
      VirtualSize: size(m),
      Config: { Cmd: ["/bin/sh"], Env: [], Labels: {} },
    };
  }

  private details(n: Namespace): Record<string, unknown> {
    return {
      name: n.name,
      account: n.account,
      created_date: n.created,
      updated_date: n.updated,
      crn: `crn:v1:bluemix:public:container-registry:us-south:a/${n.account}::namespace:${n.name}`,
      resource_group: n.resourceGroup,
      resource_created_date: n.created,
    };
  }

  private createNamespace(name: string, req: IncomingMessage, send: (status: number, payload?: unknown) => void): void {
    if (!/^[a-z0-9][a-z0-9_-]{2,28}[a-z0-9]$/.test(name)) {
      throw new HttpError(400, "CRG0011E", "The namespace name is not valid. Use 4-30 lowercase letters, numbers, hyphens (-) and underscores (_).");
    }
    if (this.takenNames.has(name)) throw new HttpError(409, "CRG0019E", "The requested namespace is already in use in this registry region.");
    if (this.namespaces.has(name)) return send(200, { namespace: name });
    const group = req.headers["x-auth-resource-group"];
    this.addNamespace(name, { resourceGroup: typeof group === "string" && group !== "" ? group : undefined });
    send(201, { namespace: name });
  }

  private assignNamespace(name: string, req: IncomingMessage): { namespace: string } {
    const ns = this.namespaces.get(name);
    if (!ns) throw new HttpError(404, "CRG0010E", "The requested namespace was not found.");
    const group = req.headers["x-auth-resource-group"];
    if (typeof group !== "string" || group === "") throw new HttpError(400, "CRG0012E", "The X-Auth-Resource-Group header is required.");
    ns.resourceGroup = group;
    ns.updated = new Date().toISOString();
    return { namespace: name };
  }

  /** Removes the namespace and every image in it. */
  private deleteNamespace(name: string): number {
    if (!this.namespaces.has(name)) throw new HttpError(404, "CRG0010E", "The requested namespace was not found.");
    this.namespaces.delete(name);
    for (const repo of [...this.repositories.keys()]) if (repo.split("/")[0] === name) this.repositories.delete(repo);
    return 204;
  }
}

/** IBM codes of the fake's planned failures; CRG0009E is IBM's own, the others are the fake's. */
const ROUTE_FAILURE_CODES: Record<number, string> = { 403: "CRG0009E", 404: "CRG0404E", 429: "CRG0429E" };

/** IAM's error body differs from the registry's: `{errorCode, errorMessage, context}`. */
class IamError extends HttpError {}

/** Literal path segments that are routes rather than parameters. */
function isFixed(segment: string): boolean {
  return segment === "digests" || segment === "bulkdelete" || segment === "details";
}

function size(m: FakeManifest): number {
  return m.config.size + m.layers.reduce((n, l) => n + l.size, 0);
}

function manifestType(mediaType: string): string {
  return mediaType === OCI_MANIFEST ? "OCI Image Manifest v1" : "Docker Image Manifest V2, Schema 2";
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new HttpError(400, "CRG0100E", "The request body is not valid JSON.");
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
