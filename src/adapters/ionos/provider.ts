// IONOS Cloud Container Registry as a Provider. One configured entry is a provider account (an IONOS
// contract): it covers every registry of the contract, or the one named by `registryId`.
//
// Images: an image is one artifact (a manifest digest with its tags) of a repository. With one
// registry the repository path is the IONOS repository name; over the whole contract it is
// "<registry name>/<repository name>", so image names stay unique and the registry is the namespace.
// IONOS pages repositories and artifacts by offset only, so every listing page reads the full
// repository list of the registries it touches (one request per `pageSize` repositories) and the
// artifacts of the repositories it covers, sorts them locally (repository, then digest) and resumes
// after the last (repository, digest) returned: a keyset cursor that stays exact while artifacts are
// pushed and deleted, whatever offsets shift. Orders led by `name` ascending walk the same way; any
// other order reads every artifact of the scope per page and sorts it (cost: the whole listing).
// The REST API has neither layer nor size data, so listed images carry digest, tags and media type.
//
// Deletes: IONOS has no REST call for a manifest; a delete goes to the registry's OCI API on its
// hostname with the credentials of an IONOS registry token, through the Distribution client the composition hands in
// (the OCI adapter's).
import { configuredRegistry, narrowedRepository, sortAndSlice } from "../../core/listing.js";
import { arr, dateOf, obj, str } from "../../core/json.js";
import type { DistributionClient, DistributionClientFactory } from "../../core/distribution.js";
import { ConfigError } from "../../core/config.js";
import { Code, invalidField, RegplaneError } from "../../core/errors.js";
import { fieldName } from "../../core/registry-config.js";
import { compareImages, compareStrings, decodeImageCursor, encodeImageCursor } from "../../core/order.js";
import type { ImageKey, ImagePage, ListImagesQuery, ListNamespacesQuery, Provider } from "../../core/provider.js";
import type {
  Capability,
  GarbageCollectionSchedule,
  ImageRecord,
  NamespaceRecord,
  OrderTerm,
  RegistryPatch,
  RegistryRecord,
  RegistrySpec,
  RegistryStatus,
} from "../../core/types.js";
import { sleep } from "../../core/resilience.js";
import { IonosHttp, type IonosHttpOptions } from "./http.js";

export const DEFAULT_IONOS_ENDPOINT = "https://api.ionos.com/containerregistries";

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface IonosProviderOptions extends Omit<IonosHttpOptions, "registryId" | "endpoint"> {
  id: string;
  /** Makes the client of a registry's OCI API that deletes go to. */
  distributionClient: DistributionClientFactory;
  endpoint?: string;
  /** One IONOS registry (UUID); undefined covers every registry of the contract. */
  registryId?: string;
  /** Registry-token credentials for OCI deletes: the pinned registry's, or the default for the contract. */
  registryCredentials?: RegistryCredentials;
  /** Registry-token credentials by registry name or id, for an entry covering the whole contract. */
  registryTokens?: Record<string, RegistryCredentials>;
  /** Plain http to registry hostnames (test registries only). */
  registryInsecure?: boolean;
  /** `limit` of repository and artifact requests (1..1000). Default 100. */
  pageSize?: number;
  /** How long a create waits for the new registry to leave its busy state. Default 10 min. */
  createTimeoutMs?: number;
  logger?: { warn(msg: string, ctx?: object): void };
}

interface Scope {
  registryId: string;
  /** "" for a pinned registry; "<registry name>/" over the contract. */
  prefix: string;
}

const ENTRY_CAPABILITIES: readonly Capability[] = ["list_images", "delete_images", "list_namespaces", "create_registries", "update_registries", "delete_registries"];
const REGISTRY_CAPABILITIES: readonly Capability[] = ["update_registries", "delete_registries"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const MAX_PARALLEL_REPOSITORIES = 4;
const MAX_PAGES = 100_000;

export class IonosProvider implements Provider {
  readonly id: string;
  readonly kind = "ionos";
  readonly capabilities: ReadonlySet<Capability> = new Set(ENTRY_CAPABILITIES);
  private readonly http: IonosHttp;
  private readonly pinned?: string;
  private readonly pageSize: number;
  private readonly createTimeoutMs: number;
  private readonly ociClients = new Map<string, { hostname: string; client: DistributionClient }>();

  constructor(private readonly options: IonosProviderOptions) {
    this.id = options.id;
    // Options are the entry's fields, so a bad one is a ConfigError; checked before the client opens its agent.
    if (!options.token && (options.username === undefined || options.password === undefined)) {
      throw new ConfigError(`${fieldName(options, "token")}: required (or tokenFile), unless username and password are both set`);
    }
    if (options.registryId !== undefined && !UUID.test(options.registryId)) throw new ConfigError(`${fieldName(options, "registryId")}: must be an IONOS registry UUID`);
    this.pinned = options.registryId;
    const pageSize = options.pageSize ?? 100;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) throw new ConfigError(`${fieldName(options, "pageSize")}: must be a whole number 1-1000 (got ${pageSize})`);
    this.pageSize = pageSize;
    this.http = new IonosHttp({ ...options, registryId: options.id, endpoint: options.endpoint ?? DEFAULT_IONOS_ENDPOINT });
    this.createTimeoutMs = options.createTimeoutMs ?? 10 * 60_000;
  }

  describe(): RegistryRecord {
    return configuredRegistry({ id: this.id, kind: this.kind, endpoint: this.http.host, hostname: "", capabilities: this.capabilities });
  }

  async close(): Promise<void> {
    await Promise.all([this.http.close(), ...[...this.ociClients.values()].map((c) => c.client.close())]);
  }

  // ---- images ----

  async listImages(query: ListImagesQuery): Promise<ImagePage> {
    const limit = Math.max(1, query.limit);
    const only = narrowedRepository(query, (n) => n !== "");
    if (only === null) return { images: [], done: true };
    if (query.order.length === 0) {
      const after = query.nativeCursor === undefined ? undefined : decodeImageCursor(query.nativeCursor, this.id, (r) => r.length > 0);
      const { images, done } = await this.walkInOrder(only, after, [], limit, query.signal);
      const last = images.at(-1);
      if (done || last === undefined) return { images, done: true };
      return { images, done: false, nativeCursor: encodeImageCursor(last.repository, last.digest) };
    }
    if (only !== undefined || (query.order[0].field === "name" && !query.order[0].desc)) {
      return this.walkInOrder(only, query.after, query.order, limit, query.signal);
    }
    const all: ImageRecord[] = [];
    for await (const batch of this.repositoryBatches(undefined, query.signal)) {
      for (const images of await this.imagesOf(batch, query.signal)) all.push(...images);
    }
    return sortAndSlice(all, query.after, query.order, limit);
  }

  async getImage(repository: string, digest: string, signal: AbortSignal): Promise<ImageRecord | undefined> {
    if (!DIGEST.test(digest)) return undefined;
    const target = await this.locate(repository, signal);
    if (target === undefined) return undefined;
    const reply = await this.http.send(
      {
        method: "GET",
        path: `registries/${encodeURIComponent(target.scope.registryId)}/repositories/${encodeURIComponent(target.name)}/artifacts/${encodeURIComponent(digest)}`,
        bearerOnly: true,
        accept: [404],
        doing: `reading artifact ${repository}@${digest}`,
      },
      signal,
    );
    if (reply.status === 404) return undefined;
    return this.imageRecord(target.scope.prefix, target.name, reply.body);
  }

  async deleteImage(repository: string, digest: string, signal: AbortSignal): Promise<void> {
    if (!DIGEST.test(digest)) throw invalidField("digest", `${JSON.stringify(digest)} is not a digest (deletes go by digest)`);
    const target = await this.locate(repository, signal);
    if (target === undefined) return;
    const registry = await this.getRegistry(target.scope.registryId, signal);
    if (registry === undefined) return;
    const client = this.ociClientFor(registry);
    await client.deleteManifest(target.name, digest, signal);
  }

  // ---- namespaces: the registries over a contract, first repository segments in a pinned registry ----

  async listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }> {
    const names = [...(await this.namespaceNames(query.signal))]
      .filter((n) => (query.nameEquals === undefined || n === query.nameEquals) && (query.after === undefined || n > query.after))
      .sort(compareStrings);
    const limit = Math.max(1, query.limit);
    return { namespaces: names.slice(0, limit).map((n) => this.namespaceRecord(n)), done: names.length <= limit };
  }

  async getNamespace(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    return (await this.namespaceNames(signal)).has(name) ? this.namespaceRecord(name) : undefined;
  }

  // ---- registries of the contract ----

  async listRegistries(signal: AbortSignal): Promise<RegistryRecord[]> {
    return (await this.fetchRegistries(undefined, signal)).map((r) => this.registryRecord(r));
  }

  async getRegistry(registryId: string, signal: AbortSignal): Promise<RegistryRecord | undefined> {
    if (!UUID.test(registryId)) return undefined;
    const reply = await this.http.send({ method: "GET", path: `registries/${encodeURIComponent(registryId)}`, accept: [404], doing: `reading registry ${registryId}` }, signal);
    return reply.status === 404 ? undefined : this.registryRecord(reply.body);
  }

  async createRegistry(spec: RegistrySpec, signal: AbortSignal): Promise<RegistryRecord> {
    if (!spec.name) throw invalidField("name", "IONOS registries need a name");
    if (!spec.location) throw invalidField("location", 'IONOS registries need a location, e.g. "de/fra"');
    if (Object.keys(spec.labels).length > 0) throw invalidField("labels", "IONOS registries have no labels");
    const properties: Record<string, unknown> = { name: spec.name, location: spec.location };
    if (spec.garbageCollectionSchedule) properties.garbageCollectionSchedule = spec.garbageCollectionSchedule;
    const reply = await this.http.send({ method: "POST", path: "registries", json: { properties }, doing: `creating registry ${spec.name}` }, signal);
    let record = this.registryRecord(reply.body);
    // Creation goes on after the 201 (the registry is BUSY and has no hostname yet): wait it out.
    const deadline = Date.now() + this.createTimeoutMs;
    for (let delay = 500; record.status === "creating" && Date.now() < deadline; delay = Math.min(delay * 2, 10_000)) {
      await sleep(delay, signal);
      record = (await this.getRegistry(record.id, signal)) ?? record;
    }
    return record;
  }

  async updateRegistry(registryId: string, patch: RegistryPatch, signal: AbortSignal): Promise<RegistryRecord> {
    if (patch.name !== undefined || patch.labels !== undefined) throw invalidField("update_mask", "IONOS registries cannot be renamed and have no labels; updatable: garbage_collection_schedule, api_subnet_allow_list");
    const body: Record<string, unknown> = {};
    if (patch.garbageCollectionSchedule !== undefined) body.garbageCollectionSchedule = patch.garbageCollectionSchedule;
    if (patch.apiSubnetAllowList !== undefined) body.apiSubnetAllowList = patch.apiSubnetAllowList;
    const reply = await this.http.send({ method: "PATCH", path: `registries/${encodeURIComponent(registryId)}`, json: body, doing: `updating registry ${registryId}` }, signal);
    return this.registryRecord(reply.body);
  }

  async deleteRegistry(registryId: string, signal: AbortSignal): Promise<void> {
    await this.http.send({ method: "DELETE", path: `registries/${encodeURIComponent(registryId)}`, accept: [404], doing: `deleting registry ${registryId}` }, signal);
  }

  // ---- walking ----

  /**
   * Images in (order…, repository, digest) order when the order is led by repository ascending (or
   * empty): repositories upward from the cursor's, stopping once the page is full and one more image
   * proves it is not the last.
   */
  private async walkInOrder(only: string | undefined, after: ImageKey | undefined, order: OrderTerm[], limit: number, signal: AbortSignal): Promise<{ images: ImageRecord[]; done: boolean }> {
    const page: ImageRecord[] = [];
    const batches = only !== undefined ? this.singleRepository(only, after, signal) : this.repositoryBatches(after?.repository, signal);
    for await (const batch of batches) {
      // Small pages touch few repositories; the batches are read a few at a time.
      for (let i = 0; i < batch.length; i += MAX_PARALLEL_REPOSITORIES) {
        for (const images of await this.imagesOf(batch.slice(i, i + MAX_PARALLEL_REPOSITORIES), signal)) {
          const sorted = order.length === 0 ? images : [...images].sort((a, b) => compareImages(a, b, order));
          for (const image of sorted) {
            if (after !== undefined && compareImages(image, after, order) <= 0) continue;
            if (page.length === limit) return { images: page, done: false };
            page.push(image);
          }
        }
      }
    }
    return { images: page, done: true };
  }

  /** Repositories (scope, name) in ascending full-path order from `from` (inclusive), one scope at a time. */
  private async *repositoryBatches(from: string | undefined, signal: AbortSignal): AsyncGenerator<Array<{ scope: Scope; name: string }>> {
    for (const scope of await this.scopes(signal)) {
      // Every repository of a scope sorts below `from` when the prefix does and `from` is outside it.
      if (from !== undefined && scope.prefix < from && !from.startsWith(scope.prefix)) continue;
      const names = (await this.repositoryNames(scope.registryId, signal)).filter((n) => from === undefined || scope.prefix + n >= from);
      if (names.length > 0) yield names.map((name) => ({ scope, name }));
    }
  }

  private async *singleRepository(repository: string, after: ImageKey | undefined, signal: AbortSignal): AsyncGenerator<Array<{ scope: Scope; name: string }>> {
    if (after !== undefined && after.repository > repository) return;
    const target = await this.locate(repository, signal);
    if (target !== undefined) yield [target];
  }

  private async imagesOf(repositories: Array<{ scope: Scope; name: string }>, signal: AbortSignal): Promise<ImageRecord[][]> {
    return Promise.all(repositories.map((r) => this.artifacts(r.scope, r.name, signal)));
  }

  /** The registries a walk covers, ordered so that their repositories' full paths ascend. */
  private async scopes(signal: AbortSignal): Promise<Scope[]> {
    if (this.pinned !== undefined) return [{ registryId: this.pinned, prefix: "" }];
    const registries = await this.fetchRegistries(undefined, signal);
    return registries
      .map((r) => ({ registryId: str(r.id), prefix: `${str(obj(r.properties).name)}/` }))
      .filter((s) => s.registryId !== "" && s.prefix !== "/")
      .sort((a, b) => compareStrings(a.prefix, b.prefix));
  }

  /** The registry and IONOS repository name of one of our repository paths; undefined when there is none. */
  private async locate(repository: string, signal: AbortSignal): Promise<{ scope: Scope; name: string } | undefined> {
    if (repository === "") return undefined;
    if (this.pinned !== undefined) return { scope: { registryId: this.pinned, prefix: "" }, name: repository };
    const slash = repository.indexOf("/");
    if (slash <= 0 || slash === repository.length - 1) return undefined;
    const registryName = repository.slice(0, slash);
    const match = (await this.fetchRegistries(registryName, signal)).find((r) => obj(r.properties).name === registryName);
    if (match === undefined) return undefined;
    return { scope: { registryId: str(match.id), prefix: `${registryName}/` }, name: repository.slice(slash + 1) };
  }

  /** Every repository name of a registry, code-unit sorted (the listing's offsets are not a stable order). */
  private async repositoryNames(registryId: string, signal: AbortSignal): Promise<string[]> {
    const names: string[] = [];
    await this.offsetPages(`registries/${encodeURIComponent(registryId)}/repositories`, `listing repositories of registry ${registryId}`, signal, (item) => {
      const name = str(obj(item.properties).name) || str(item.id);
      if (name) names.push(name);
    });
    return [...new Set(names)].sort(compareStrings);
  }

  /** Every artifact of one repository as images, digest ascending; empty when the repository is gone. */
  private async artifacts(scope: Scope, name: string, signal: AbortSignal): Promise<ImageRecord[]> {
    const images = new Map<string, ImageRecord>();
    await this.offsetPages(`registries/${encodeURIComponent(scope.registryId)}/repositories/${encodeURIComponent(name)}/artifacts`, `listing artifacts of ${scope.prefix}${name}`, signal, (item) => {
      const image = this.imageRecord(scope.prefix, name, item);
      if (image) images.set(image.digest, image);
    });
    return [...images.values()].sort((a, b) => compareStrings(a.digest, b.digest));
  }

  /** Reads an offset/limit collection to its end; a 404 on the first page reads as empty. */
  private async offsetPages(path: string, doing: string, signal: AbortSignal, each: (item: Record<string, unknown>) => void): Promise<void> {
    for (let offset = 0, pages = 0; pages < MAX_PAGES; pages++) {
      const reply = await this.http.send({ method: "GET", path, query: { offset, limit: this.pageSize }, bearerOnly: true, accept: [404], doing }, signal);
      if (reply.status === 404) return;
      const items = arr(obj(reply.body).items);
      for (const item of items) each(obj(item));
      // A short page is the last; _links.next is not documented as the end marker.
      if (items.length < this.pageSize) return;
      offset += items.length;
    }
  }

  /** The contract's registries (optionally filter.name), following pagination tokens to the end. */
  private async fetchRegistries(name: string | undefined, signal: AbortSignal): Promise<Array<Record<string, unknown>>> {
    const out: Array<Record<string, unknown>> = [];
    const seen = new Set<string>();
    let token: string | undefined;
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      const reply = await this.http.send(
        { method: "GET", path: "registries", query: { limit: 100, "pagination.token": token, "filter.name": name }, doing: "listing registries" },
        signal,
      );
      const doc = obj(reply.body);
      for (const item of arr(doc.items)) out.push(obj(item));
      // The end is not documented: an empty or missing token or next link both end the listing.
      const next = str(obj(doc.pagination).token);
      const link = str(obj(doc._links).next);
      if (next === "" || link === "" || seen.has(next)) break;
      seen.add(next);
      token = next;
    }
    return out;
  }

  private imageRecord(prefix: string, repository: string, body: unknown): ImageRecord | undefined {
    const artifact = obj(body);
    const props = obj(artifact.properties);
    const meta = obj(artifact.metadata);
    const digest = str(props.digest) || str(artifact.id);
    if (!DIGEST.test(digest)) return undefined;
    const tags = arr(props.tags).filter((t): t is string => typeof t === "string").sort(compareStrings);
    const record: ImageRecord = {
      registryId: this.id,
      repository: prefix + repository,
      digest,
      mediaType: str(props.mediaType),
      tags,
      layers: [],
      manifests: [],
      compressedSize: 0,
    };
    const created = dateOf(meta.createdDate) ?? dateOf(meta.lastPushedAt);
    if (created) record.createdAtMs = created.getTime();
    return record;
  }

  private registryRecord(body: unknown): RegistryRecord {
    const r = obj(body);
    const props = obj(r.properties);
    const meta = obj(r.metadata);
    const record: RegistryRecord = {
      id: str(r.id),
      name: str(props.name),
      provider: this.kind,
      endpoint: this.http.host,
      location: str(props.location),
      hostname: str(props.hostname),
      status: statusOf(str(meta.state)),
      labels: {},
      capabilities: [...REGISTRY_CAPABILITIES],
    };
    const created = dateOf(meta.createdDate);
    if (created) record.createdAt = created;
    const gc = scheduleOf(props.garbageCollectionSchedule);
    if (gc) record.garbageCollectionSchedule = gc;
    const allow = arr(props.apiSubnetAllowList).filter((c): c is string => typeof c === "string");
    if (allow.length > 0) record.apiSubnetAllowList = allow;
    return record;
  }

  private async namespaceNames(signal: AbortSignal): Promise<Set<string>> {
    if (this.pinned === undefined) return new Set((await this.scopes(signal)).map((s) => s.prefix.slice(0, -1)));
    return new Set((await this.repositoryNames(this.pinned, signal)).map((n) => n.split("/")[0]));
  }

  private namespaceRecord(name: string): NamespaceRecord {
    // Counting images and bytes would read every artifact; the listing gives names only.
    return { registryId: this.id, name, description: "", visibility: "unspecified", imageCount: 0, sizeBytes: 0 };
  }

  /** The OCI client for a registry's hostname, with that registry's token credentials. */
  private ociClientFor(registry: RegistryRecord): DistributionClient {
    if (!registry.hostname) {
      throw new RegplaneError(Code.FAILED_PRECONDITION, `registry ${JSON.stringify(this.id)} (ionos): IONOS registry ${registry.name} has no hostname yet`, {
        errorInfo: { reason: "PROVIDER_REGISTRY_NOT_READY", metadata: { registry_id: this.id, provider: this.kind } },
      });
    }
    const cached = this.ociClients.get(registry.id);
    if (cached && cached.hostname === registry.hostname) return cached.client;
    const credentials = this.options.registryTokens?.[registry.name] ?? this.options.registryTokens?.[registry.id] ?? this.options.registryCredentials;
    if (credentials === undefined) {
      throw new RegplaneError(Code.FAILED_PRECONDITION, `registry ${JSON.stringify(this.id)} (ionos): deleting images in ${registry.name} needs an IONOS registry token (registryUsername/registryPassword or registryTokens)`, {
        errorInfo: { reason: "PROVIDER_REGISTRY_TOKEN_MISSING", metadata: { registry_id: this.id, provider: this.kind } },
      });
    }
    if (cached) void cached.client.close();
    const client = this.options.distributionClient({
      registryId: this.id,
      provider: this.kind,
      endpoint: `${this.options.registryInsecure ? "http" : "https"}://${registry.hostname}`,
      insecure: this.options.registryInsecure,
      username: credentials.username,
      password: credentials.password,
      logger: this.options.logger,
    });
    this.ociClients.set(registry.id, { hostname: registry.hostname, client });
    return client;
  }
}


function statusOf(state: string): RegistryStatus {
  const s = state.toLowerCase();
  if (["busy", "new", "creating", "provisioning", "deploying"].includes(s)) return "creating";
  if (["deleting", "destroying"].includes(s)) return "deleting";
  if (["running", "available", "active", "ready"].includes(s)) return "active";
  return "unspecified";
}

function scheduleOf(v: unknown): GarbageCollectionSchedule | undefined {
  if (v === null || typeof v !== "object") return undefined;
  const s = v as Record<string, unknown>;
  return { days: arr(s.days).filter((d): d is string => typeof d === "string"), time: str(s.time) };
}

