// The images of an OCI Distribution / Docker Registry v2 registry.
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
import { LRUCache } from "lru-cache";
import { narrowedRepository } from "../../core/listing.js";
import { Code, RegplaneError, invalidField } from "../../core/errors.js";
import { compareImages, compareStrings, decodeImageCursor, encodeImageCursor } from "../../core/order.js";
import type { ImageKey, ImagePage, ListImagesQuery } from "../../core/provider.js";
import type { BlobRecord, ImageRecord, OrderTerm } from "../../core/types.js";
import { imageSize, isDigest, isImageConfigMediaType, isIndexMediaType, isRepositoryName, isTag, parseManifest, type ParsedManifest } from "../../core/manifest.js";
import type { OciCatalog } from "./catalog.js";
import type { DistributionClient } from "../../core/distribution/index.js";

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

const MAX_INDEX_DEPTH = 2;
/** Repositories whose tag maps (and whether they were read before) are remembered. */
const MAX_TAG_MAPS = 10_000;

export class OciImages {
  private readonly tagMaps = new LRUCache<string, TagMap>({ max: MAX_TAG_MAPS });
  /** Repositories whose manifests were read before: their tags are checked with HEADs. */
  private readonly read = new LRUCache<string, true>({ max: MAX_TAG_MAPS });

  /** `listingCacheTtlMs`: how long a repository's tag → digest map is reused while its tags/list is unchanged; 0 disables. */
  constructor(
    private readonly id: string,
    private readonly client: DistributionClient,
    private readonly catalog: OciCatalog,
    private readonly listingCacheTtlMs: number,
  ) {}

  /** Repositories with a tag map kept, and repositories remembered as read before. */
  cacheSizes(): { tagMaps: number; repositoriesRead: number } {
    return { tagMaps: this.tagMaps.size, repositoriesRead: this.read.size };
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

  /** Forgets the repository's tag map, after a change to its tags. */
  forgetTags(repository: string): void {
    this.tagMaps.delete(repository);
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
      only !== undefined ? single(only, after) : this.catalog.repositoriesFrom(after?.repository, signal);
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
    for await (const repositories of this.catalog.repositoryBatches(undefined, signal)) {
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

  /** The images of one repository, digest ascending; empty when the repository is gone or has no tags. */
  private async repositoryImages(repository: string, walk: Walk, signal: AbortSignal): Promise<ImageRecord[]> {
    const tagMap = await this.tagMap(repository, signal);
    if (tagMap === undefined) return [];
    const digests = [...tagMap.byDigest.keys()].sort(compareStrings);
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
    for (const list of byDigest.values()) list.sort(compareStrings);
    this.read.set(repository, true);
    const map: TagMap = { tagsKey, byDigest, builtAt: Date.now() };
    // Let go once older than the TTL (never served then), or as the least recently used of MAX_TAG_MAPS.
    if (this.listingCacheTtlMs > 0) this.tagMaps.set(repository, map, { ttl: this.listingCacheTtlMs });
    return map;
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
        errorInfo: { reason: "PROVIDER_BAD_RESPONSE", metadata: { registry_id: this.id, provider: "oci" } },
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
}

async function* single(repository: string, after: ImageKey | undefined): AsyncGenerator<string> {
  if (after === undefined || after.repository <= repository) yield repository;
}
