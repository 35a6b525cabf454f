// The Scaleway fake's HTTP side: paths under /registry/v1/regions/{region}, authentication, paging and
// ordering, and the namespace, image and tag calls, answered from the records in state.ts.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ScalewayState, ScwError, type FakeImage, type FakeNamespace, type FakeTag, type RequestRecord } from "./state.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export abstract class ScalewayRoutes extends ScalewayState {
  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const method = req.method ?? "GET";
    const record: RequestRecord = { method, path: url.pathname, route: "", status: 0, query: url.searchParams };
    this.requests.push(record);
    const body = await readBody(req);
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    if (this.gate) await this.gate.pass();
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      const bytes = Buffer.from(JSON.stringify(payload));
      res.writeHead(status, { "content-type": "application/json", "content-length": String(bytes.length), ...headers }).end(bytes);
    };
    try {
      this.purge();
      const m = /^\/registry\/v1\/regions\/([^/]+)(\/.*)?$/.exec(url.pathname);
      if (!m) throw notFound("path", url.pathname);
      const [, region, rest = "/"] = m;
      const segments = rest.split("/").slice(1).map(decodeURIComponent);
      record.route = `${method} /${segments.map((s, i) => (i % 2 === 1 ? "{id}" : s)).join("/")}`;
      this.authenticate(req);
      if (this.rateLimited > 0) {
        this.rateLimited--;
        return send(
          429,
          {
            type: "too_many_requests",
            message: "too many requests",
            help_message: "the request rate of this project is limited; retry later",
            limit: { quota: 20, window_seconds: 1 },
            reset_seconds: this.retryAfterSec,
          },
          { "retry-after": String(this.retryAfterSec) },
        );
      }
      const planned = this.routeFailures.find((f) => f.route === record.route && f.times > 0);
      if (planned !== undefined && planned.skip > 0) planned.skip--;
      else if (planned !== undefined) {
        planned.times--;
        throw plannedFailure(planned.status, this.retryAfterSec);
      }
      if (region !== this.region) throw notFound("region", region);
      const [collection, id, sub] = segments;
      const query = url.searchParams;
      if (collection === "namespaces") {
        if (id === undefined && method === "GET") return send(200, this.listNamespaces(query));
        if (id === undefined && method === "POST") return send(200, this.createNamespace(parseJson(body)));
        const ns = this.namespace(id);
        if (sub === undefined && method === "GET") return send(200, this.namespaceView(ns));
        if (sub === undefined && method === "PATCH") return send(200, this.updateNamespace(ns, parseJson(body)));
        if (sub === undefined && method === "DELETE") return send(200, this.deleteNamespace(ns));
      }
      if (collection === "images") {
        if (id === undefined && method === "GET") return send(200, this.listImages(query));
        const image = this.image(id);
        if (sub === undefined && method === "GET") return send(200, this.imageView(image));
        if (sub === undefined && method === "PATCH") return send(200, this.updateImage(image, parseJson(body)));
        if (sub === undefined && method === "DELETE") return send(200, this.deleteImage(image));
        if (sub === "tags" && segments.length === 3 && method === "GET") return send(200, this.listTags(image, query));
      }
      if (collection === "tags" && id !== undefined && segments.length === 2) {
        const tag = this.tag(id);
        if (method === "GET") return send(200, { ...tag, deleteAt: undefined });
        if (method === "DELETE") return send(200, this.deleteTag(tag));
      }
      throw notFound("path", url.pathname);
    } catch (e) {
      if (e instanceof ScwError) return send(e.status, e.body);
      return send(500, { type: "internal", message: String(e) });
    }
  }

  private authenticate(req: IncomingMessage): void {
    const token = req.headers["x-auth-token"];
    if (typeof token !== "string" || !UUID.test(token)) {
      throw new ScwError(401, { type: "denied_authentication", method: "api_key", reason: "invalid_argument", message: "authentication is denied" });
    }
    if (token !== this.secretKey) throw new ScwError(401, { type: "denied_authentication", method: "api_key", reason: "not_found", message: "authentication is denied" });
  }

  /** A project or organization filter naming someone else's is refused, as Scaleway's IAM does. */
  private checkScope(query: URLSearchParams): void {
    const project = query.get("project_id");
    const organization = query.get("organization_id");
    if ((project && project !== this.projectId) || (organization && organization !== this.organizationId)) {
      throw new ScwError(403, { type: "permissions_denied", message: "insufficient permissions", details: [{ resource: "registry", action: "read" }] });
    }
  }

  private page<T>(items: T[], key: string, query: URLSearchParams): Record<string, unknown> {
    const page = query.get("page") ?? "1";
    // page_size without a value: 20 is the fake's choice (Scaleway's default is not documented).
    const pageSize = query.get("page_size") ?? "20";
    if (!/^\d+$/.test(page) || Number(page) < 1) throw invalidArgument("page", "constraint", "must be a positive integer");
    if (!/^\d+$/.test(pageSize) || Number(pageSize) < 1 || Number(pageSize) > 100) throw invalidArgument("page_size", "constraint", "must be between 1 and 100");
    const start = (Number(page) - 1) * Number(pageSize);
    return { [key]: items.slice(start, start + Number(pageSize)), total_count: items.length };
  }

  private sorted<T extends { name: string; created_at: string; description?: string }>(items: T[], query: URLSearchParams, allowed: string[]): T[] {
    const orderBy = query.get("order_by") ?? "created_at_asc";
    if (!allowed.includes(orderBy)) throw invalidArgument("order_by", "constraint", `must be one of ${allowed.join(", ")}`);
    const field = orderBy.replace(/_(asc|desc)$/, "") as "name" | "created_at" | "description";
    const sign = orderBy.endsWith("_desc") ? -1 : 1;
    return [...items].sort((a, b) => {
      const x = a[field] ?? "";
      const y = b[field] ?? "";
      return x < y ? -sign : x > y ? sign : 0;
    });
  }

  private listNamespaces(query: URLSearchParams): Record<string, unknown> {
    this.checkScope(query);
    const name = query.get("name");
    // The name filter matches substrings: the fake's choice; clients must compare names themselves.
    const items = [...this.namespaces.values()].filter((n) => n.project_id === this.projectId && (!name || n.name.includes(name)));
    const views = this.sorted(items, query, ["created_at_asc", "created_at_desc", "name_asc", "name_desc", "description_asc", "description_desc"]).map((n) => this.namespaceView(n));
    return this.page(views, "namespaces", query);
  }

  private createNamespace(body: unknown): Record<string, unknown> {
    const b = (body ?? {}) as { name?: unknown; description?: unknown; project_id?: unknown; organization_id?: unknown; is_public?: unknown };
    const name = typeof b.name === "string" ? b.name : "";
    // Name rules are the fake's choice: 4–54 characters of a-z, 0-9 and -, not starting or ending with -.
    if (!/^[a-z0-9][a-z0-9-]{2,52}[a-z0-9]$/.test(name)) throw invalidArgument("name", "format", "must be 4 to 54 lowercase letters, digits or dashes");
    if (b.project_id === undefined && b.organization_id === undefined) throw invalidArgument("project_id", "required", "project_id is required");
    const query = new URLSearchParams();
    if (typeof b.project_id === "string") query.set("project_id", b.project_id);
    if (typeof b.organization_id === "string") query.set("organization_id", b.organization_id);
    this.checkScope(query);
    const existing = [...this.namespaces.values()].find((n) => n.name === name);
    if (existing) {
      throw new ScwError(409, { type: "already_exists", message: "resource already exists", resource: "namespace", resource_id: existing.id, help_message: "namespace names are unique per region" });
    }
    const ns = this.addNamespace(name, { description: typeof b.description === "string" ? b.description : "", isPublic: b.is_public === true });
    return this.namespaceView(ns);
  }

  private updateNamespace(ns: FakeNamespace, body: unknown): Record<string, unknown> {
    if (ns.status === "deleting") throw transient("namespace", ns.id, ns.status);
    const b = (body ?? {}) as { description?: unknown; is_public?: unknown };
    if (typeof b.description === "string") ns.description = b.description;
    if (typeof b.is_public === "boolean") ns.is_public = b.is_public;
    ns.updated_at = this.timestamp();
    return this.namespaceView(ns);
  }

  /** The namespace goes to `deleting` with its images and tags, and disappears after deletingMs. */
  private deleteNamespace(ns: FakeNamespace): Record<string, unknown> {
    if (ns.status === "deleting") throw transient("namespace", ns.id, ns.status);
    const deleteAt = this.now() + this.deletingMs;
    ns.status = "deleting";
    ns.deleteAt = deleteAt;
    for (const image of this.images.values()) {
      if (image.namespace_id !== ns.id) continue;
      image.status = "deleting";
      image.deleteAt ??= deleteAt;
      for (const tag of this.tags.values()) if (tag.image_id === image.id) [tag.status, tag.deleteAt] = ["deleting", tag.deleteAt ?? deleteAt];
    }
    return this.namespaceView(ns);
  }

  private listImages(query: URLSearchParams): Record<string, unknown> {
    this.checkScope(query);
    const namespaceId = query.get("namespace_id");
    if (namespaceId !== null && !UUID.test(namespaceId)) throw invalidArgument("namespace_id", "format", "must be a valid UUID");
    const name = query.get("name");
    const items = [...this.images.values()].filter((i) => (!namespaceId || i.namespace_id === namespaceId) && (!name || i.name.includes(name)));
    const views = this.sorted(items, query, ["created_at_asc", "created_at_desc", "name_asc", "name_desc"]).map((i) => this.imageView(i));
    return this.page(views, "images", query);
  }

  private updateImage(image: FakeImage, body: unknown): Record<string, unknown> {
    if (image.status === "deleting") throw transient("image", image.id, image.status);
    const visibility = (body as { visibility?: unknown } | null)?.visibility;
    if (visibility !== undefined) {
      if (!["inherit", "public", "private"].includes(String(visibility))) throw invalidArgument("visibility", "constraint", "must be inherit, public or private");
      image.visibility = String(visibility);
    }
    image.updated_at = this.timestamp();
    return this.imageView(image);
  }

  private deleteImage(image: FakeImage): Record<string, unknown> {
    if (image.status === "deleting") throw transient("image", image.id, image.status);
    const deleteAt = this.now() + this.deletingMs;
    image.status = "deleting";
    image.deleteAt = deleteAt;
    for (const tag of this.tags.values()) if (tag.image_id === image.id) [tag.status, tag.deleteAt] = ["deleting", tag.deleteAt ?? deleteAt];
    return this.imageView(image);
  }

  private listTags(image: FakeImage, query: URLSearchParams): Record<string, unknown> {
    const name = query.get("name");
    const items = [...this.tags.values()].filter((t) => t.image_id === image.id && (!name || t.name.includes(name)));
    const views = this.sorted(items, query, ["created_at_asc", "created_at_desc", "name_asc", "name_desc"]).map((t) => ({ ...t, deleteAt: undefined }));
    return this.page(views, "tags", query);
  }

  private deleteTag(tag: FakeTag): Record<string, unknown> {
    if (tag.status === "deleting") throw transient("tag", tag.id, tag.status);
    tag.status = "deleting";
    tag.deleteAt = this.now() + this.deletingMs;
    return { ...tag, deleteAt: undefined };
  }

  private namespace(id: string | undefined): FakeNamespace {
    if (id === undefined || !UUID.test(id)) throw invalidArgument("namespace_id", "format", "must be a valid UUID");
    const ns = this.namespaces.get(id);
    if (!ns) throw notFound("namespace", id);
    return ns;
  }

  private image(id: string | undefined): FakeImage {
    if (id === undefined || !UUID.test(id)) throw invalidArgument("image_id", "format", "must be a valid UUID");
    const image = this.images.get(id);
    if (!image) throw notFound("image", id);
    return image;
  }

  private tag(id: string): FakeTag {
    if (!UUID.test(id)) throw invalidArgument("tag_id", "format", "must be a valid UUID");
    const tag = this.tags.get(id);
    if (!tag) throw notFound("tag", id);
    return tag;
  }

  private namespaceView(ns: FakeNamespace): Record<string, unknown> {
    const images = [...this.images.values()].filter((i) => i.namespace_id === ns.id);
    const size = images.reduce((n, i) => n + this.imageSize(i), 0);
    const { deleteAt: _, ...view } = ns;
    return { ...view, size, image_count: images.length };
  }

  private imageView(image: FakeImage): Record<string, unknown> {
    const { deleteAt: _, ...view } = image;
    const tags = [...this.tags.values()].filter((t) => t.image_id === image.id).map((t) => t.name);
    return { ...view, size: this.imageSize(image), tags };
  }

  private imageSize(image: FakeImage): number {
    const digests = new Set([...this.tags.values()].filter((t) => t.image_id === image.id).map((t) => t.digest));
    return [...digests].reduce((n, d) => n + (this.digestSizes.get(d) ?? 0), 0);
  }
}

/** The body of a planned failure, as the SDK's parser reads each status's type. */
function plannedFailure(status: number, retryAfterSec: number): ScwError {
  if (status === 403) return new ScwError(403, { type: "permissions_denied", message: "insufficient permissions", details: [{ resource: "registry", action: "write" }] });
  if (status === 404) return notFound("image", randomUUID());
  if (status === 429) {
    return new ScwError(429, {
      type: "too_many_requests",
      message: "too many requests",
      help_message: "the request rate of this project is limited; retry later",
      limit: { quota: 20, window_seconds: 1 },
      reset_seconds: retryAfterSec,
    });
  }
  return new ScwError(status, { type: "internal", message: `HTTP ${status}` });
}

function notFound(resource: string, id: string): ScwError {
  return new ScwError(404, { type: "not_found", message: "resource is not found", resource, resource_id: id });
}

function transient(resource: string, id: string, state: string): ScwError {
  // 409 is the fake's choice for transient_state.
  return new ScwError(409, { type: "transient_state", message: "resource is in a transient state", resource, resource_id: id, current_state: state });
}

function invalidArgument(argument: string, reason: string, help: string): ScwError {
  return new ScwError(400, {
    type: "invalid_arguments",
    message: "invalid argument(s)",
    details: [{ argument_name: argument, reason, help_message: help }],
  });
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new ScwError(400, { type: "invalid_request_error", message: "the request body is not valid JSON" });
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
