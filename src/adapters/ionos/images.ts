// The images of an IONOS entry: listed, read and deleted, and the Distribution clients deletes go
// through (one per registry, the least recently used closed past MAX_OCI_CLIENTS).
//
// An image is one artifact (a manifest digest with its tags) of a repository. With one registry the
// repository path is the IONOS repository name; over the whole contract it is
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
import { LRUCache } from "lru-cache";
import { DistributionClient, type ManifestDeleter } from "../../core/distribution/index.js";
import { Code, invalidField, RegplaneError } from "../../core/errors.js";
import { arr, dateOf, obj, str } from "../../core/json.js";
import { narrowedRepository, sortAndSlice } from "../../core/listing.js";
import { compareImages, compareStrings, decodeImageCursor, encodeImageCursor } from "../../core/order.js";
import type { ImageKey, ImagePage, ListImagesQuery } from "../../core/provider.js";
import type { ImageRecord, OrderTerm, RegistryRecord } from "../../core/types.js";
import type { IonosClient } from "./client.js";
import type { IonosProviderOptions } from "./config.js";
import type { IonosRegistries } from "./registries.js";
import type { IonosScopes, ScopedRepository } from "./scopes.js";

const PROVIDER = "ionos";
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const MAX_PARALLEL_REPOSITORIES = 4;
/**
 * Distribution clients kept open, one per IONOS registry deleted in. A contract holds few registries;
 * the bound keeps ids reached through callers' repository paths from growing it without end.
 */
const MAX_OCI_CLIENTS = 256;

interface OciClientEntry {
  hostname: string;
  client: ManifestDeleter;
  /** Deletes running on the client now: an evicted client is closed only once none is. */
  users: number;
  evicted: boolean;
}

function closeWhenIdle(entry: OciClientEntry): void {
  if (entry.evicted && entry.users === 0) void entry.client.close();
}

export class IonosImages {
  private readonly id: string;
  // An entry evicted, or replaced because its registry's hostname changed, has its client closed once
  // the deletes running on it are done (closing it under them would fail them).
  private readonly ociClients = new LRUCache<string, OciClientEntry>({
    max: MAX_OCI_CLIENTS,
    dispose: (entry) => {
      entry.evicted = true;
      closeWhenIdle(entry);
    },
  });

  constructor(
    private readonly options: IonosProviderOptions,
    private readonly client: IonosClient,
    private readonly scopes: IonosScopes,
    private readonly registries: IonosRegistries,
  ) {
    this.id = options.id;
  }

  /** How many Distribution clients are open. */
  get ociClientCount(): number {
    return this.ociClients.size;
  }

  async close(): Promise<void> {
    await Promise.all([...this.ociClients.values()].map((c) => c.client.close()));
  }

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
    const target = await this.scopes.locate(repository, signal);
    if (target === undefined) return undefined;
    const reply = await this.client.send(
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
    const target = await this.scopes.locate(repository, signal);
    if (target === undefined) return;
    const registry = await this.registries.getRegistry(target.scope.registryId, signal);
    if (registry === undefined) return;
    const entry = this.ociClientFor(registry);
    entry.users++;
    try {
      await entry.client.deleteManifest(target.name, digest, signal);
    } finally {
      entry.users--;
      closeWhenIdle(entry);
    }
  }

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
  private async *repositoryBatches(from: string | undefined, signal: AbortSignal): AsyncGenerator<ScopedRepository[]> {
    for (const scope of await this.scopes.all(signal)) {
      // Every repository of a scope sorts below `from` when the prefix does and `from` is outside it.
      if (from !== undefined && scope.prefix < from && !from.startsWith(scope.prefix)) continue;
      const names = (await this.scopes.repositoryNames(scope.registryId, signal)).filter((n) => from === undefined || scope.prefix + n >= from);
      if (names.length > 0) yield names.map((name) => ({ scope, name }));
    }
  }

  private async *singleRepository(repository: string, after: ImageKey | undefined, signal: AbortSignal): AsyncGenerator<ScopedRepository[]> {
    if (after !== undefined && after.repository > repository) return;
    const target = await this.scopes.locate(repository, signal);
    if (target !== undefined) yield [target];
  }

  private async imagesOf(repositories: ScopedRepository[], signal: AbortSignal): Promise<ImageRecord[][]> {
    return Promise.all(repositories.map((r) => this.artifacts(r, signal)));
  }

  /** Every artifact of one repository as images, digest ascending; empty when the repository is gone. */
  private async artifacts({ scope, name }: ScopedRepository, signal: AbortSignal): Promise<ImageRecord[]> {
    const images = new Map<string, ImageRecord>();
    await this.client.offsetPages(`registries/${encodeURIComponent(scope.registryId)}/repositories/${encodeURIComponent(name)}/artifacts`, `listing artifacts of ${scope.prefix}${name}`, signal, (item) => {
      const image = this.imageRecord(scope.prefix, name, item);
      if (image) images.set(image.digest, image);
    });
    return [...images.values()].sort((a, b) => compareStrings(a.digest, b.digest));
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

  /** The OCI client for a registry's hostname, with that registry's token credentials. */
  private ociClientFor(registry: RegistryRecord): OciClientEntry {
    if (!registry.hostname) {
      throw new RegplaneError(Code.FAILED_PRECONDITION, `registry ${JSON.stringify(this.id)} (ionos): IONOS registry ${registry.name} has no hostname yet`, {
        errorInfo: { reason: "PROVIDER_REGISTRY_NOT_READY", metadata: { registry_id: this.id, provider: PROVIDER } },
      });
    }
    const cached = this.ociClients.get(registry.id);
    if (cached && cached.hostname === registry.hostname) return cached;
    const credentials = this.options.registryTokens?.[registry.name] ?? this.options.registryTokens?.[registry.id] ?? this.options.registryCredentials;
    if (credentials === undefined) {
      throw new RegplaneError(Code.FAILED_PRECONDITION, `registry ${JSON.stringify(this.id)} (ionos): deleting images in ${registry.name} needs an IONOS registry token (registryUsername/registryPassword or registryTokens)`, {
        errorInfo: { reason: "PROVIDER_REGISTRY_TOKEN_MISSING", metadata: { registry_id: this.id, provider: PROVIDER } },
      });
    }
    const client = (this.options.distributionClient ?? ((o) => new DistributionClient(o)))({
      registryId: this.id,
      provider: PROVIDER,
      endpoint: `${this.options.registryInsecure ? "http" : "https"}://${registry.hostname}`,
      insecure: this.options.registryInsecure,
      username: credentials.username,
      password: credentials.password,
      logger: this.options.logger,
    });
    const entry: OciClientEntry = { hostname: registry.hostname, client, users: 0, evicted: false };
    this.ociClients.set(registry.id, entry);
    return entry;
  }
}
