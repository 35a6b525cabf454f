// Any OCI Distribution / Docker Registry v2 registry as a Provider.
//
// An image is one manifest digest in one repository, with every tag pointing at it. Distribution has
// no "list images" call, so a listing reads the catalog (or the configured repositories), each
// repository's tags/list, and per tag a GET of its manifest (a repository read before: a HEAD) to group
// tags by digest; manifests and config blobs are immutable and cached by digest, so a warm walk sends
// only catalog + tags/list (+ HEADs once the per-repository tag map is older than listingCacheTtlMs;
// the price: a tag moved to another digest, with the tag set unchanged, shows its old digest until
// then). Untagged manifests cannot be listed (the API cannot enumerate them) but getImage finds them
// by digest. getImage costs a HEAD by digest plus the repository's tag map (tags/list, and a request
// per tag when the map is not fresh), since Distribution has no digest → tags lookup.
//
// Orders: native = repository asc, digest asc, resumed by `nativeCursor` (repository + digest). An
// order whose first term is `name` ascending walks the catalog from the cursor's repository too. Any
// other order (created_at, digest, name desc) has to read every repository of the registry per page
// and sort with compareImages; the per-repository tag maps cached for listingCacheTtlMs keep deep pages
// to catalog + tags/list requests instead of re-reading every manifest.
// Longer than most files: images, namespaces and the read-ahead window share one repository cache here.
import { configuredRegistry, narrowedRepository } from "../../core/listing.js";
import { Code, RegplaneError, invalidField } from "../../core/errors.js";
import { compareImages, decodeImageCursor, encodeImageCursor } from "../../core/order.js";
import type { ImageKey, ImagePage, ListImagesQuery, ListNamespacesQuery, Provider } from "../../core/provider.js";
import type { BlobRecord, Capability, ImageRecord, NamespaceRecord, OrderTerm, RegistryRecord } from "../../core/types.js";
import { ConfigError } from "../../core/config.js";
import { fieldName } from "../../core/registry-config.js";
import { OciClient, connectionProblem, type OciClientOptions, type OciLogger, type OciStats } from "./client.js";
import { imageSize, isDigest, isImageConfigMediaType, isIndexMediaType, isRepositoryName, isTag, parseManifest, type ParsedManifest } from "../../core/manifest.js";

export interface OciProviderOptions extends Omit<OciClientOptions, "registryId" | "provider"> {
  id: string;
  /**
   * Repositories to list instead of the catalog (for registries whose _catalog is closed): exact
   * names, or prefixes ending in "/" that are expanded through the catalog when it answers and are
   * otherwise taken as one exact name (without the slash).
   */
  repositories?: string[];
  /** `n` of each _catalog request (distribution accepts 1..1000). Default 100. */
  catalogPageSize?: number;
  /** How long a repository's tag → digest map is reused while its tags/list is unchanged. Default 30 s; 0 disables. */
  listingCacheTtlMs?: number;
}

/** Content of one manifest digest, the same in every repository that holds it. */
interface ImageContent {
  mediaType: string;
  config?: BlobRecord;
  layers: BlobRecord[];
  manifests: BlobRecord[];
  compressedSize: number;
  createdAt?: Date;
}

interface TagMap {
  /** The sorted tags the map was built from; a different tags/list invalidates it. */
  tagsKey: string;
  /** digest → sorted tags. */
  byDigest: Map<string, string[]>;
  builtAt: number;
}

/** Per-listing memo: no digest is fetched or parsed twice in one walk, whatever the cache evicts. */
type Walk = Map<string, Promise<ImageContent | undefined>>;

const CAPABILITIES: readonly Capability[] = ["list_images", "delete_images", "list_namespaces"];
const MAX_INDEX_DEPTH = 2;
const MAX_TAG_MAPS = 10_000;
const CATALOG_CLOSED_TTL_MS = 5 * 60_000;

export class OciProvider implements Provider {
  readonly id: string;
  readonly kind = "oci";
  readonly capabilities: ReadonlySet<Capability> = new Set(CAPABILITIES);
  readonly client: OciClient;
  private readonly configuredRepositories?: string[];
  private readonly catalogPageSize: number;
  private readonly listingCacheTtlMs: number;
  private readonly tagMaps = new Map<string, TagMap>();
  /** Repositories whose manifests were read before (most recent last): their tags are checked with HEADs. */
  private readonly read = new Set<string>();
  private catalogClosedUntil = 0;
  private warnedInvalidNames = false;
  private readonly logger?: OciLogger;

  constructor(options: OciProviderOptions) {
    this.id = options.id;
    this.logger = options.logger;
    // Options are the entry's fields, so a bad one is a ConfigError; checked before the client opens its agent.
    const bad = connectionProblem(options);
    if (bad) throw new ConfigError(`${fieldName(options, bad.field)}: ${bad.problem}`);
    const pageSize = options.catalogPageSize ?? 100;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
      throw new ConfigError(`${fieldName(options, "catalogPageSize")}: must be a whole number 1-1000 (got ${pageSize})`);
    }
    if (options.repositories !== undefined) {
      for (const r of options.repositories) {
        const name = r.endsWith("/") ? r.slice(0, -1) : r;
        if (!isRepositoryName(name)) throw new ConfigError(`${fieldName(options, "repositories")}: ${JSON.stringify(r)} is not a repository name or prefix`);
      }
      this.configuredRepositories = [...options.repositories];
    }
    this.catalogPageSize = pageSize;
    this.listingCacheTtlMs = options.listingCacheTtlMs ?? 30_000;
    this.client = new OciClient({ ...options, registryId: options.id, provider: "oci" });
  }

  describe(): RegistryRecord {
    return configuredRegistry({ id: this.id, kind: this.kind, endpoint: this.client.host, hostname: this.client.host, capabilities: this.capabilities });
  }

  /** Requests sent to the registry so far (for benchmarks and tests). */
  stats(): OciStats {
    return this.client.stats();
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  async listImages(query: ListImagesQuery): Promise<ImagePage> {
    const limit = Math.max(1, query.limit);
    const walk: Walk = new Map();
    const only = narrowedRepository(query, isRepositoryName);
    if (only === null) return { images: [], done: true };

    if (query.order.length === 0) {
      const after = query.nativeCursor === undefined ? undefined : decodeImageCursor(query.nativeCursor, this.id, isRepositoryName);
      const { images, done } = await this.walkInOrder(only, after, [], limit, walk, query.signal);
      const last = images.at(-1);
      if (done || last === undefined) return { images, done: true };
      return { images, done, nativeCursor: encodeImageCursor(last.repository, last.digest) };
    }
    if (only !== undefined || (query.order[0].field === "name" && !query.order[0].desc)) {
      return this.walkInOrder(only, query.after, query.order, limit, walk, query.signal);
    }
    return this.sortEverything(query.after, query.order, limit, walk, query.signal);
  }

  async getImage(repository: string, digest: string, signal: AbortSignal): Promise<ImageRecord | undefined> {
    if (!isRepositoryName(repository) || !isDigest(digest)) return undefined;
    const head = await this.client.headManifest(repository, digest, signal);
    if (head === undefined) return undefined;
    const [tagMap, content] = await Promise.all([this.tagMap(repository, signal), this.content(repository, digest, new Map(), 0, signal)]);
    if (content === undefined) return undefined;
    return this.record(repository, digest, tagMap?.byDigest.get(digest) ?? [], content);
  }

  async deleteImage(repository: string, digest: string, signal: AbortSignal): Promise<void> {
    if (!isRepositoryName(repository)) throw invalidField("repository", `${JSON.stringify(repository)} is not a repository name`);
    if (!isDigest(digest)) throw invalidField("digest", `${JSON.stringify(digest)} is not a digest (deletes go by digest)`);
    try {
      await this.client.deleteManifest(repository, digest, signal);
    } finally {
      this.tagMaps.delete(repository);
    }
  }

  async listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }> {
    // The catalog is sorted by repository, not by first segment ("a-b" sorts before "a/c"), so the
    // namespace list needs the whole catalog; it holds names only (one request per catalogPageSize).
    const names = new Set<string>();
    for await (const repositories of this.repositoryBatches(undefined, query.signal)) {
      for (const r of repositories) names.add(namespaceOf(r));
    }
    const sorted = [...names]
      .filter((n) => (query.nameEquals === undefined || n === query.nameEquals) && (query.after === undefined || n > query.after))
      .sort(compareCodeUnits);
    const limit = Math.max(1, query.limit);
    return { namespaces: sorted.slice(0, limit).map((n) => this.namespaceRecord(n)), done: sorted.length <= limit };
  }

  async getNamespace(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    if (!isRepositoryName(name) || name.includes("/")) return undefined;
    // Every repository of namespace N sorts in [N, N + "0"): "/" is the code unit just below "0".
    const end = `${name}0`;
    const start = name.length > 1 ? name.slice(0, -1) : undefined;
    for await (const repositories of this.repositoryBatches(start, signal)) {
      for (const r of repositories) {
        if (namespaceOf(r) === name) return this.namespaceRecord(name);
        if (r >= end) return undefined;
      }
    }
    return undefined;
  }


  /**
   * Images in (order…, repository, digest) order when the order's first term is repository ascending
   * (or there is none): walks repositories upward from the cursor's, stopping once the page is full
   * and one more image proves it is not the last.
   */
  private async walkInOrder(
    only: string | undefined,
    after: ImageKey | undefined,
    order: OrderTerm[],
    limit: number,
    walk: Walk,
    signal: AbortSignal,
  ): Promise<{ images: ImageRecord[]; done: boolean }> {
    const page: ImageRecord[] = [];
    const repositories =
      only !== undefined ? single(only, after) : this.repositoriesFrom(after?.repository, signal);
    // Repositories are read a window at a time, in order, and the next one starts as soon as the oldest
    // is done (no batch waits for its slowest member). Small pages touch few repositories: the window
    // starts at one and doubles up to the registry's concurrency.
    let window = 1;
    const reading: Promise<ImageRecord[]>[] = [];
    let exhausted = false;
    const iterator = repositories[Symbol.asyncIterator]();
    const abandon = async () => {
      reading.length = 0;
      await iterator.return?.(undefined);
    };
    try {
      for (;;) {
        while (reading.length < window && !exhausted) {
          const next = await iterator.next();
          if (next.done) exhausted = true;
          else {
            const images = this.repositoryImages(next.value, walk, signal);
            // Awaited in turn below; until then a failure must not count as unhandled (it would end the process).
            images.catch(() => {});
            reading.push(images);
          }
        }
        const oldest = reading.shift();
        if (oldest === undefined) return { images: page, done: true };
        const images = await oldest;
        window = Math.min(window * 2, this.client.maxConcurrency);
        const sorted = order.length === 0 ? images : [...images].sort((a, b) => compareImages(a, b, order));
        for (const image of sorted) {
          if (after !== undefined && compareImages(image, after, order) <= 0) continue;
          if (page.length === limit) {
            await abandon();
            return { images: page, done: false };
          }
          page.push(image);
        }
      }
    } catch (err) {
      await abandon();
      throw err;
    }
  }

  /** Any other order: read every repository, sort, and cut the page after the cursor. */
  private async sortEverything(after: ImageKey | undefined, order: OrderTerm[], limit: number, walk: Walk, signal: AbortSignal): Promise<ImagePage> {
    const all: ImageRecord[] = [];
    const batch: string[] = [];
    const flush = async () => {
      const results = await Promise.all(batch.splice(0).map((r) => this.repositoryImages(r, walk, signal)));
      for (const images of results) all.push(...images);
    };
    for await (const repositories of this.repositoryBatches(undefined, signal)) {
      for (const r of repositories) {
        batch.push(r);
        if (batch.length >= this.client.maxConcurrency) await flush();
      }
    }
    await flush();
    const rest = all
      .filter((image) => after === undefined || compareImages(image, after, order) > 0)
      .sort((a, b) => compareImages(a, b, order));
    return { images: rest.slice(0, limit), done: rest.length <= limit };
  }

  /** Repository names in ascending order starting at `from` (inclusive), one name at a time. */
  private async *repositoriesFrom(from: string | undefined, signal: AbortSignal): AsyncGenerator<string> {
    if (from !== undefined && this.configuredRepositories === undefined && isRepositoryName(from)) yield from;
    for await (const repositories of this.repositoryBatches(from, signal, true)) yield* repositories;
  }

  /**
   * Repository names after `after` (exclusive; inclusive with `inclusive` for configured lists), in
   * batches: catalog pages, or the configured list with its prefixes expanded.
   */
  private async *repositoryBatches(after: string | undefined, signal: AbortSignal, inclusive = false): AsyncGenerator<string[]> {
    if (this.configuredRepositories === undefined) {
      try {
        for await (const page of this.client.catalog(after, this.catalogPageSize, signal)) yield this.validNames(page);
      } catch (e) {
        throw withCatalogHint(e);
      }
      return;
    }
    const names = await this.expandConfigured(signal);
    yield names.filter((n) => after === undefined || n > after || (inclusive && n === after));
  }

  private validNames(names: string[]): string[] {
    const valid = names.filter(isRepositoryName);
    if (valid.length < names.length && !this.warnedInvalidNames) {
      this.warnedInvalidNames = true;
      this.logger?.warn("catalog lists repository names outside the Distribution grammar; skipping them", {
        registry: this.id,
        example: names.find((n) => !isRepositoryName(n))?.slice(0, 100),
      });
    }
    return valid;
  }

  private async expandConfigured(signal: AbortSignal): Promise<string[]> {
    const entries = this.configuredRepositories ?? [];
    const exact = new Set(entries.filter((e) => !e.endsWith("/")));
    const prefixes = entries.filter((e) => e.endsWith("/"));
    if (prefixes.length > 0) {
      const expanded = Date.now() >= this.catalogClosedUntil ? await this.expandPrefixes(prefixes, signal) : undefined;
      // A closed catalog leaves each prefix as the one repository it names.
      for (const p of prefixes) {
        const matches = expanded?.get(p);
        if (matches === undefined) exact.add(p.slice(0, -1));
        else for (const m of matches) exact.add(m);
      }
    }
    return [...exact].sort(compareCodeUnits);
  }

  /** prefix → matching repositories from the catalog, or undefined when the catalog is closed to us. */
  private async expandPrefixes(prefixes: string[], signal: AbortSignal): Promise<Map<string, string[]> | undefined> {
    const found = new Map<string, string[]>(prefixes.map((p) => [p, []]));
    const sorted = [...prefixes].sort(compareCodeUnits);
    try {
      // Start just below the smallest prefix: the catalog's `last` is exclusive.
      for await (const page of this.client.catalog(sorted[0].slice(0, -1), this.catalogPageSize, signal)) {
        for (const r of this.validNames(page)) for (const p of prefixes) if (r.startsWith(p)) found.get(p)!.push(r);
        const tail = page.at(-1)!;
        if (sorted.every((p) => tail > p && !tail.startsWith(p))) break;
      }
    } catch (e) {
      if (e instanceof RegplaneError && (e.code === Code.FAILED_PRECONDITION || e.code === Code.NOT_FOUND || e.code === Code.INVALID_ARGUMENT)) {
        this.catalogClosedUntil = Date.now() + CATALOG_CLOSED_TTL_MS;
        return undefined;
      }
      throw e;
    }
    return found;
  }

  /** The images of one repository, digest ascending; empty when the repository is gone or has no tags. */
  private async repositoryImages(repository: string, walk: Walk, signal: AbortSignal): Promise<ImageRecord[]> {
    const tagMap = await this.tagMap(repository, signal);
    if (tagMap === undefined) return [];
    const digests = [...tagMap.byDigest.keys()].sort(compareCodeUnits);
    const contents = await Promise.all(digests.map((d) => this.content(repository, d, walk, 0, signal)));
    const images: ImageRecord[] = [];
    digests.forEach((digest, i) => {
      const content = contents[i];
      if (content !== undefined) images.push(this.record(repository, digest, tagMap.byDigest.get(digest)!, content));
    });
    return images;
  }

  /** digest → tags of a repository: tags/list, then a HEAD per tag unless a fresh map for the same tags exists. */
  private async tagMap(repository: string, signal: AbortSignal): Promise<TagMap | undefined> {
    const tags = await this.client.listTags(repository, signal);
    if (tags === undefined) {
      this.tagMaps.delete(repository);
      return undefined;
    }
    const tagsKey = tags.join("\n");
    // Names outside the Distribution grammar would not survive being put into a URL path.
    const usable = tags.filter(isTag);
    const cached = this.tagMaps.get(repository);
    if (cached && cached.tagsKey === tagsKey && Date.now() - cached.builtAt < this.listingCacheTtlMs) return cached;

    // A repository seen before has its manifests cached by digest, so a HEAD per tag tells what changed.
    // One never seen would need a HEAD and then a GET by digest per tag: a GET by tag does both at once
    // (and keeps the connection, which undici closes after every HEAD).
    const heads = this.read.has(repository) ? await Promise.all(usable.map((t) => this.client.headManifest(repository, t, signal))) : undefined;
    const byDigest = new Map<string, string[]>();
    await Promise.all(
      usable.map(async (tag, i) => {
        const head = heads?.[i];
        if (heads !== undefined && head === undefined) return; // untagged between tags/list and HEAD
        // A registry that does not announce the digest on HEAD gets a GET (and the digest computed).
        const digest = head?.digest ?? (await this.client.getManifest(repository, tag, signal))?.digest;
        if (digest === undefined) return;
        const list = byDigest.get(digest);
        if (list) list.push(tag);
        else byDigest.set(digest, [tag]);
      }),
    );
    for (const list of byDigest.values()) list.sort(compareCodeUnits);
    this.read.delete(repository);
    this.read.add(repository);
    if (this.read.size > MAX_TAG_MAPS) this.read.delete(this.read.values().next().value!);
    const map: TagMap = { tagsKey, byDigest, builtAt: Date.now() };
    if (this.listingCacheTtlMs > 0) this.rememberTagMap(repository, map);
    return map;
  }

  private rememberTagMap(repository: string, map: TagMap): void {
    this.tagMaps.delete(repository);
    this.tagMaps.set(repository, map);
    const now = Date.now();
    for (const [name, m] of this.tagMaps) {
      if (this.tagMaps.size <= MAX_TAG_MAPS && now - m.builtAt < this.listingCacheTtlMs) break;
      this.tagMaps.delete(name);
    }
  }

  /** What one manifest digest describes; undefined when the manifest is gone. */
  private content(repository: string, digest: string, walk: Walk, depth: number, signal: AbortSignal): Promise<ImageContent | undefined> {
    let memo = walk.get(digest);
    if (memo === undefined) {
      memo = this.loadContent(repository, digest, walk, depth, signal);
      walk.set(digest, memo);
    }
    return memo;
  }

  private async loadContent(repository: string, digest: string, walk: Walk, depth: number, signal: AbortSignal): Promise<ImageContent | undefined> {
    const manifest = await this.client.getManifest(repository, digest, signal);
    if (manifest === undefined) return undefined;
    let parsed: ParsedManifest;
    try {
      parsed = parseManifest(manifest.bytes, manifest.mediaType);
    } catch (e) {
      throw new RegplaneError(Code.UNAVAILABLE, `registry ${JSON.stringify(this.id)} (oci): manifest ${repository}@${digest} is malformed: ${(e as Error).message}`, {
        errorInfo: { reason: "PROVIDER_BAD_RESPONSE", metadata: { registry_id: this.id, provider: this.kind } },
      });
    }
    if (isIndexMediaType(parsed.mediaType) || (parsed.manifests.length > 0 && parsed.config === undefined)) {
      let compressedSize = 0;
      let createdAt: Date | undefined;
      if (depth < MAX_INDEX_DEPTH) {
        const children = await Promise.all(parsed.manifests.map((m) => this.content(repository, m.digest, walk, depth + 1, signal)));
        for (const child of children) {
          if (child === undefined) continue; // a child the registry does not hold adds nothing
          compressedSize += child.compressedSize;
          if (child.createdAt && (!createdAt || child.createdAt > createdAt)) createdAt = child.createdAt;
        }
      }
      return { mediaType: parsed.mediaType, layers: [], manifests: parsed.manifests, compressedSize, createdAt };
    }
    const config = parsed.config;
    const createdAt =
      config !== undefined && isImageConfigMediaType(config.mediaType) ? await this.client.getConfigCreated(repository, config.digest, signal) : undefined;
    return { mediaType: parsed.mediaType, config, layers: parsed.layers, manifests: [], compressedSize: imageSize(parsed), createdAt };
  }

  private record(repository: string, digest: string, tags: string[], content: ImageContent): ImageRecord {
    const record: ImageRecord = {
      registryId: this.id,
      repository,
      digest,
      mediaType: content.mediaType,
      tags: [...tags],
      layers: content.layers,
      manifests: content.manifests,
      compressedSize: content.compressedSize,
    };
    if (content.config !== undefined) record.config = content.config;
    if (content.createdAt !== undefined) record.createdAtMs = content.createdAt.getTime();
    return record;
  }

  private namespaceRecord(name: string): NamespaceRecord {
    // Counting images and bytes would read every manifest of the namespace; the catalog gives names only.
    return { registryId: this.id, name, description: "", visibility: "unspecified", imageCount: 0, sizeBytes: 0 };
  }
}

async function* single(repository: string, after: ImageKey | undefined): AsyncGenerator<string> {
  if (after === undefined || after.repository <= repository) yield repository;
}

/** Namespace = first path segment of the repository ("team/app" → "team"; "alpine" → "alpine"). */
function namespaceOf(repository: string): string {
  const slash = repository.indexOf("/");
  return slash < 0 ? repository : repository.slice(0, slash);
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}



function withCatalogHint(e: unknown): unknown {
  if (!(e instanceof RegplaneError) || (e.code !== Code.FAILED_PRECONDITION && e.code !== Code.NOT_FOUND)) return e;
  if (e.errorInfo?.reason === "PROVIDER_LINK_REFUSED") return e;
  return new RegplaneError(e.code, `${e.message}; if the catalog is closed to these credentials, list the repositories in the registry's \`repositories\` setting`, {
    errorInfo: e.errorInfo,
    retryDelayMs: e.retryDelayMs,
  });
}
