// Yandex Cloud Container Registry as a Provider, over its REST API. One configured entry is a provider
// account (a Yandex folder): it covers every registry of the folder, or the one named by `registryId`.
//
// Images: a Yandex image is one manifest digest of a repository with its tags. Over a folder the
// repository path is Yandex's own image name ("<registry id>/<repository>"), so the registry is the
// namespace; with one registry the "<registry id>/" prefix is dropped. Without an order a listing is
// Yandex's own: `pageSize` = our page room, `pageToken` = our native cursor, `nextPageToken` the next
// one. Yandex's order_by is not documented beyond its field names, so any `order` is produced here:
// every page reads the whole listing of the scope (pageSize 1000 per request) and sorts it with
// compareImages (cost: the scope's full listing per page). getImage and deleteImage find an image
// by listing its repository, as the API looks images up by Yandex id only.
//
// Mutations (image delete, registry create / update / delete) return Yandex Operations, polled at
// the operation endpoint until done; an Operation that ends in `error` fails with that error.
import { configuredRegistry } from "../../core/listing.js";
import { arr, dateOf, obj, str } from "../../core/json.js";
import { ConfigError } from "../../core/config.js";
import { Code, invalidField, RegplaneError } from "../../core/errors.js";
import { fieldName } from "../../core/registry-config.js";
import { checkedEndpoint } from "../../core/url-policy.js";
import { compareImages, compareStrings } from "../../core/order.js";
import type { ImagePage, ListImagesQuery, ListNamespacesQuery, Provider } from "../../core/provider.js";
import type { BlobRecord, Capability, ImageRecord, NamespaceRecord, RegistryPatch, RegistryRecord, RegistrySpec, RegistryStatus } from "../../core/types.js";
import { sleep } from "../../core/resilience.js";
import { rpcStatusOf, YandexHttp, type YandexHttpOptions } from "./http.js";
import { DEFAULT_IAM_ENDPOINT, IamTokenSource, type IamCredentials } from "./iam.js";

export const DEFAULT_YANDEX_ENDPOINT = "https://container-registry.api.cloud.yandex.net";
export const DEFAULT_OPERATION_ENDPOINT = "https://operation.api.cloud.yandex.net";

export interface YandexProviderOptions extends Omit<YandexHttpOptions, "registryId" | "auth"> {
  id: string;
  folderId: string;
  /** One registry (crp…); undefined covers every registry of the folder. */
  registryId?: string;
  credentials: IamCredentials;
  /** Container Registry API base; paths go under /container-registry/v1. */
  endpoint?: string;
  /** Operation API base; operations are read at /operations/{id}. */
  operationEndpoint?: string;
  /** Where IAM tokens are exchanged (also the JWT's `aud`). */
  iamEndpoint?: string;
  /** Host images are pulled from. Default cr.yandex. */
  hostname?: string;
  /** First wait between operation polls; doubles up to 5 s. Default 250 ms. */
  operationPollMs?: number;
  /** How long an operation is polled before giving up. Default 10 min. */
  operationTimeoutMs?: number;
}

interface YandexOperation {
  id: string;
  done: boolean;
  error?: { code: number; message: string };
  response?: Record<string, unknown>;
}

const ENTRY_CAPABILITIES: readonly Capability[] = ["list_images", "delete_images", "list_namespaces", "create_registries", "update_registries", "delete_registries"];
const REGISTRY_CAPABILITIES: readonly Capability[] = ["update_registries", "delete_registries"];
const FULL_PAGE = 1000;
const MAX_PAGES = 100_000;
const YANDEX_ID = /^[a-z0-9]{1,50}$/;
const NOT_FOUND = 5;

export class YandexProvider implements Provider {
  readonly id: string;
  readonly kind = "yandex";
  readonly capabilities: ReadonlySet<Capability> = new Set(ENTRY_CAPABILITIES);
  readonly iam: IamTokenSource;
  private readonly http: YandexHttp;
  /** The IAM exchange's own client: it sends no token. */
  private readonly iamHttp: YandexHttp;
  private readonly api: URL;
  private readonly operations: URL;
  private readonly folderId: string;
  private readonly pinned?: string;
  private readonly hostname: string;
  private readonly pollMs: number;
  private readonly operationTimeoutMs: number;

  constructor(options: YandexProviderOptions) {
    this.id = options.id;
    // Options are the entry's fields, so a bad one is a ConfigError naming it.
    if (!options.folderId) throw new ConfigError(`${fieldName(options, "folderId")}: required`);
    if (options.registryId !== undefined && !YANDEX_ID.test(options.registryId)) {
      throw new ConfigError(`${fieldName(options, "registryId")}: not a Yandex registry id (1-50 lowercase letters and digits)`);
    }
    this.folderId = options.folderId;
    this.pinned = options.registryId;
    const insecure = options.insecure ?? false;
    this.api = baseUrl(options.endpoint ?? DEFAULT_YANDEX_ENDPOINT, options.id, "endpoint", insecure);
    this.operations = baseUrl(options.operationEndpoint ?? DEFAULT_OPERATION_ENDPOINT, options.id, "operationEndpoint", insecure);
    const iamEndpoint = baseUrl(options.iamEndpoint ?? DEFAULT_IAM_ENDPOINT, options.id, "iamEndpoint", insecure);
    // The exchange carries the OAuth token or a signed JWT: the IAM endpoint's errors are scrubbed of them.
    this.iamHttp = new YandexHttp({ ...options, registryId: options.id, secrets: () => this.iam.secrets() });
    this.iam = new IamTokenSource(options.id, options.credentials, iamEndpoint, this.iamHttp);
    this.http = new YandexHttp({ ...options, registryId: options.id, auth: this.iam });
    this.hostname = options.hostname ?? "cr.yandex";
    this.pollMs = options.operationPollMs ?? 250;
    this.operationTimeoutMs = options.operationTimeoutMs ?? 10 * 60_000;
  }

  describe(): RegistryRecord {
    return configuredRegistry({ id: this.id, kind: this.kind, endpoint: this.api.host, hostname: this.hostname, capabilities: this.capabilities });
  }

  async close(): Promise<void> {
    await Promise.all([this.http.close(), this.iamHttp.close()]);
  }

  // ---- images ----

  async listImages(query: ListImagesQuery): Promise<ImagePage> {
    const limit = Math.max(1, Math.min(FULL_PAGE, query.limit));
    const names = [query.repository, query.nameEquals].filter((n): n is string => n !== undefined);
    if (names.some((n) => n !== names[0] || n === "")) return { images: [], done: true };
    const scope = this.scopeQuery(names[0]);
    if (query.order.length === 0) {
      const doc = await this.get("images", { ...scope, pageSize: String(limit), pageToken: query.nativeCursor }, "listing images", query.signal);
      const images = this.imagesOf(doc);
      const next = str(doc.nextPageToken);
      return next === "" ? { images, done: true } : { images, done: false, nativeCursor: next };
    }
    const all = await this.allImages(scope, query.signal);
    const rest = all.filter((i) => query.after === undefined || compareImages(i, query.after, query.order) > 0).sort((a, b) => compareImages(a, b, query.order));
    return { images: rest.slice(0, limit), done: rest.length <= limit };
  }

  async getImage(repository: string, digest: string, signal: AbortSignal): Promise<ImageRecord | undefined> {
    return (await this.find(repository, digest, signal))?.image;
  }

  async deleteImage(repository: string, digest: string, signal: AbortSignal): Promise<void> {
    const found = await this.find(repository, digest, signal);
    if (found === undefined) return;
    const reply = await this.http.send({ method: "DELETE", path: this.apiUrl(`images/${encodeURIComponent(found.yandexId)}`), accept: [404], doing: `deleting image ${repository}@${digest}` }, signal);
    if (reply.status === 404) return;
    await this.finish(reply.body, `deleting image ${repository}@${digest}`, signal, true);
  }

  // ---- namespaces: the registries over a folder, first repository segments in a pinned registry ----

  async listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }> {
    const all = await this.namespaces(query.signal);
    const names = [...all.keys()]
      .filter((n) => (query.nameEquals === undefined || n === query.nameEquals) && (query.after === undefined || n > query.after))
      .sort(compareStrings);
    const limit = Math.max(1, query.limit);
    return { namespaces: names.slice(0, limit).map((n) => all.get(n)!), done: names.length <= limit };
  }

  async getNamespace(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    return (await this.namespaces(signal)).get(name);
  }

  // ---- registries of the folder ----

  async listRegistries(signal: AbortSignal): Promise<RegistryRecord[]> {
    const out: RegistryRecord[] = [];
    await this.pages("registries", { folderId: this.folderId }, "registries", "listing registries", signal, (r) => {
      out.push(this.registryRecord(r));
    });
    return out;
  }

  async getRegistry(registryId: string, signal: AbortSignal): Promise<RegistryRecord | undefined> {
    if (!YANDEX_ID.test(registryId)) return undefined;
    const reply = await this.http.send({ method: "GET", path: this.apiUrl(`registries/${encodeURIComponent(registryId)}`), accept: [404], doing: `reading registry ${registryId}` }, signal);
    if (reply.status === 404) return undefined;
    const registry = obj(reply.body);
    // A registry of another folder is not this account's.
    return registry.folderId === this.folderId ? this.registryRecord(registry) : undefined;
  }

  async createRegistry(spec: RegistrySpec, signal: AbortSignal): Promise<RegistryRecord> {
    if (spec.location) throw invalidField("location", "Yandex registries take no location");
    if (spec.garbageCollectionSchedule) throw invalidField("garbage_collection_schedule", "Yandex registries have no garbage collection schedule");
    const body: Record<string, unknown> = { folderId: this.folderId, labels: spec.labels };
    if (spec.name) body.name = spec.name;
    const reply = await this.http.send({ method: "POST", path: this.apiUrl("registries"), json: body, doing: `creating registry ${spec.name}` }, signal);
    return this.registryRecord(await this.finish(reply.body, `creating registry ${spec.name}`, signal, false));
  }

  async updateRegistry(registryId: string, patch: RegistryPatch, signal: AbortSignal): Promise<RegistryRecord> {
    if (patch.garbageCollectionSchedule !== undefined || patch.apiSubnetAllowList !== undefined) {
      throw invalidField("update_mask", "Yandex registries have no garbage collection schedule or API subnet allow list; updatable: name, labels");
    }
    const paths: string[] = [];
    const body: Record<string, unknown> = {};
    if (patch.name !== undefined) {
      paths.push("name");
      body.name = patch.name;
    }
    if (patch.labels !== undefined) {
      paths.push("labels");
      body.labels = patch.labels;
    }
    // A FieldMask in JSON is one comma-separated string of camelCase paths.
    body.updateMask = paths.join(",");
    const reply = await this.http.send({ method: "PATCH", path: this.apiUrl(`registries/${encodeURIComponent(registryId)}`), json: body, doing: `updating registry ${registryId}` }, signal);
    return this.registryRecord(await this.finish(reply.body, `updating registry ${registryId}`, signal, false));
  }

  async deleteRegistry(registryId: string, signal: AbortSignal): Promise<void> {
    const reply = await this.http.send({ method: "DELETE", path: this.apiUrl(`registries/${encodeURIComponent(registryId)}`), accept: [404], doing: `deleting registry ${registryId}` }, signal);
    if (reply.status === 404) return;
    await this.finish(reply.body, `deleting registry ${registryId}`, signal, true);
  }

  // ---- helpers ----

  /** The listing scope by precedence: one repository, else the pinned registry, else the folder. */
  private scopeQuery(repository: string | undefined): Record<string, string> {
    if (repository !== undefined) return { repositoryName: this.pinned !== undefined ? `${this.pinned}/${repository}` : repository };
    return this.pinned !== undefined ? { registryId: this.pinned } : { folderId: this.folderId };
  }

  private async allImages(scope: Record<string, string>, signal: AbortSignal): Promise<ImageRecord[]> {
    const out: ImageRecord[] = [];
    await this.pages("images", scope, "images", "listing images", signal, (i) => {
      const image = this.imageRecord(i);
      if (image) out.push(image);
    });
    return out;
  }

  /** The image of a repository with this digest, and its Yandex id; undefined when there is none. */
  private async find(repository: string, digest: string, signal: AbortSignal): Promise<{ image: ImageRecord; yandexId: string } | undefined> {
    if (repository === "") return undefined;
    let found: { image: ImageRecord; yandexId: string } | undefined;
    await this.pages("images", this.scopeQuery(repository), "images", `looking up ${repository}@${digest}`, signal, (i) => {
      if (i.digest !== digest) return false;
      const image = this.imageRecord(i);
      if (image && image.repository === repository) found = { image, yandexId: str(i.id) };
      return found !== undefined;
    });
    return found;
  }

  /**
   * Reads a token-paged listing to its end (an empty or missing nextPageToken is the last page), or
   * until `each` returns true.
   */
  private async pages(path: string, scope: Record<string, string>, key: string, doing: string, signal: AbortSignal, each: (item: Record<string, unknown>) => boolean | void): Promise<void> {
    let token: string | undefined;
    const seen = new Set<string>();
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      const doc = await this.get(path, { ...scope, pageSize: String(FULL_PAGE), pageToken: token }, doing, signal);
      for (const item of arr(doc[key])) if (each(obj(item)) === true) return;
      const next = str(doc.nextPageToken);
      if (next === "" || seen.has(next)) return;
      seen.add(next);
      token = next;
    }
  }

  private async get(path: string, query: Record<string, string | undefined>, doing: string, signal: AbortSignal): Promise<Record<string, unknown>> {
    const url = this.apiUrl(path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") url.searchParams.set(k, v);
    return obj((await this.http.send({ method: "GET", path: url, doing }, signal)).body);
  }

  /**
   * Polls an Operation until done: its response on success, its error as ours on failure. With
   * `goneIsDone`, an operation failing NOT_FOUND counts as done (deleting what is already gone).
   */
  private async finish(body: unknown, doing: string, signal: AbortSignal, goneIsDone: boolean): Promise<Record<string, unknown>> {
    let op = this.operationOf(body);
    const deadline = Date.now() + this.operationTimeoutMs;
    for (let delay = this.pollMs; !op.done; delay = Math.min(delay * 2, 5000)) {
      if (Date.now() >= deadline) {
        throw new RegplaneError(Code.DEADLINE_EXCEEDED, `registry ${JSON.stringify(this.id)} (yandex): ${doing}: operation ${op.id} still running after ${this.operationTimeoutMs} ms`, {
          errorInfo: { reason: "PROVIDER_OPERATION_TIMEOUT", metadata: { registry_id: this.id, provider: this.kind, provider_operation_id: op.id } },
        });
      }
      await sleep(delay, signal);
      const url = new URL(`operations/${encodeURIComponent(op.id)}`, this.operations);
      op = this.operationOf((await this.http.send({ method: "GET", path: url, doing: `${doing}: reading operation ${op.id}` }, signal)).body);
    }
    if (op.error) {
      if (goneIsDone && op.error.code === NOT_FOUND) return {};
      throw this.http.operationFailure(op.error, op.id, doing);
    }
    const { "@type": _type, ...response } = op.response ?? {};
    return response;
  }

  private operationOf(body: unknown): YandexOperation {
    const o = obj(body);
    const op: YandexOperation = { id: str(o.id), done: o.done === true };
    const error = rpcStatusOf(o.error);
    if (error) op.error = error;
    if (o.response && typeof o.response === "object") op.response = obj(o.response);
    if (op.id === "" && !op.done) {
      throw new RegplaneError(Code.UNAVAILABLE, `registry ${JSON.stringify(this.id)} (yandex): answered with an operation without an id`, {
        errorInfo: { reason: "PROVIDER_BAD_RESPONSE", metadata: { registry_id: this.id, provider: this.kind } },
      });
    }
    return op;
  }

  private imagesOf(doc: Record<string, unknown>): ImageRecord[] {
    return arr(doc.images)
      .map((i) => this.imageRecord(obj(i)))
      .filter((i): i is ImageRecord => i !== undefined);
  }

  private imageRecord(i: Record<string, unknown>): ImageRecord | undefined {
    const name = str(i.name);
    const digest = str(i.digest);
    if (name === "" || digest === "") return undefined;
    const prefix = this.pinned !== undefined ? `${this.pinned}/` : "";
    const record: ImageRecord = {
      registryId: this.id,
      repository: prefix !== "" && name.startsWith(prefix) ? name.slice(prefix.length) : name,
      digest,
      // The Yandex Image has no media type field.
      mediaType: "",
      tags: arr(i.tags).filter((t): t is string => typeof t === "string").sort(compareStrings),
      layers: arr(i.layers).map((l) => blobOf(obj(l))),
      manifests: [],
      compressedSize: int64(i.compressedSize),
    };
    if (i.config && typeof i.config === "object") record.config = blobOf(obj(i.config));
    const created = dateOf(i.createdAt);
    if (created) record.createdAtMs = created.getTime();
    return record;
  }

  private registryRecord(r: Record<string, unknown>): RegistryRecord {
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(obj(r.labels))) if (typeof v === "string") labels[k] = v;
    const record: RegistryRecord = {
      id: str(r.id),
      name: str(r.name),
      provider: this.kind,
      endpoint: this.api.host,
      location: "",
      hostname: this.hostname,
      status: statusOf(str(r.status)),
      labels,
      capabilities: [...REGISTRY_CAPABILITIES],
    };
    const created = dateOf(r.createdAt);
    if (created) record.createdAt = created;
    return record;
  }

  /** Namespace name → record: registry ids over a folder, first repository segments in a pinned registry. */
  private async namespaces(signal: AbortSignal): Promise<Map<string, NamespaceRecord>> {
    const out = new Map<string, NamespaceRecord>();
    const add = (name: string, description: string, createdAt?: Date) => {
      if (name === "" || out.has(name)) return;
      const ns: NamespaceRecord = { registryId: this.id, name, description, visibility: "unspecified", imageCount: 0, sizeBytes: 0 };
      if (createdAt) ns.createdAt = createdAt;
      out.set(name, ns);
    };
    if (this.pinned === undefined) {
      for (const r of await this.listRegistries(signal)) add(r.id, r.name, r.createdAt);
      return out;
    }
    const prefix = `${this.pinned}/`;
    await this.pages("repositories", { registryId: this.pinned }, "repositories", "listing repositories", signal, (r) => {
      const name = str(r.name);
      add((name.startsWith(prefix) ? name.slice(prefix.length) : name).split("/")[0], "");
    });
    return out;
  }

  private apiUrl(path: string): URL {
    return new URL(`container-registry/v1/${path}`, this.api);
  }
}

function statusOf(status: string): RegistryStatus {
  switch (status) {
    case "CREATING":
      return "creating";
    case "ACTIVE":
      return "active";
    case "DELETING":
      return "deleting";
    default:
      return "unspecified";
  }
}

function blobOf(b: Record<string, unknown>): BlobRecord {
  const blob: BlobRecord = { digest: str(b.digest), size: int64(b.size), mediaType: "" };
  const urls = arr(b.urls).filter((u): u is string => typeof u === "string");
  if (urls.length > 0) blob.urls = urls;
  return blob;
}

/** int64 arrives as a JSON string (proto3 JSON); a number is accepted too. */
function int64(v: unknown): number {
  const n = typeof v === "string" ? Number(v) : typeof v === "number" ? v : 0;
  return Number.isFinite(n) ? n : 0;
}

function baseUrl(value: string, id: string, field: string, insecure: boolean): URL {
  const url = checkedEndpoint(value, fieldName({ id }, field), insecure);
  if (field !== "iamEndpoint" && !url.pathname.endsWith("/")) url.pathname += "/";
  return url;
}

