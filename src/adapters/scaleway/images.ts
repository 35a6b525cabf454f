// Scaleway images: ScalewayImages lists, gets and deletes them, and keeps the repository snapshots and
// tags it read.
//
// A Scaleway "image" is a repository, `<namespace>/<image name>`; its tags (each with a digest) become
// our images, one per digest, with every tag on that digest. Scaleway's API knows nothing of
// manifests, so these images have no config, layers or size (the image's `size` is the whole
// repository's); createdAt is the earliest time a tag was set to the digest (the tag's updated_at,
// else its created_at).
//
// Paging: Scaleway pages by number, which shifts while items are added or removed, so a walk reads the
// repository list once (namespaces and images, 100 per request, order_by=name_asc) into a snapshot
// kept listingCacheTtlMs (default 30 s) and pages through it with keyset cursors: the native order is
// (repository, digest) with the cursor `repository@digest`; an order uses compareImages and the
// walker's `after` key. A walk's first page always reads a new snapshot; each repository's tags are
// read (all their pages) when a page reaches it and reused until the snapshot is replaced.
// Cost: per walk, ceil(namespaces/100) + ceil(images/100) requests, plus one tag listing per
// repository a page touches. Native order and `name asc` stop at the page's last repository; any
// other order reads the tags of every repository once per snapshot.
import { LRUCache } from "lru-cache";
import { DEFAULT_LISTING_CACHE_TTL_MS, narrowedRepository, pageLimit, parseTime, sortAndSlice } from "../../core/listing.js";
import { Code, RegplaneError, invalidField } from "../../core/errors.js";
import { compareImages, compareStrings, decodeImageCursor, encodeImageCursor } from "../../core/order.js";
import type { ImageKey, ImagePage, ListImagesQuery } from "../../core/provider.js";
import { isRepositoryName } from "../../core/manifest.js";
import type { ImageRecord, OrderTerm } from "../../core/types.js";
import { raceSignal } from "../../core/resilience.js";
import { SharedReads, type SharedRead } from "../../core/shared-reads.js";
import type { ScalewayClient } from "./client.js";
import type { ScalewayProviderOptions } from "./config.js";
import type { ScalewayNamespaces, ScwNamespace } from "./namespaces.js";

interface ScwImage {
  id: string;
  name: string;
  namespace_id: string;
  status?: string;
}

export interface ScwTag {
  id: string;
  name: string;
  image_id?: string;
  status?: string;
  digest?: string;
  created_at?: string;
  updated_at?: string;
}

/** One repository: a Scaleway image in its namespace. */
interface Repository {
  repository: string;
  imageId: string;
}

/** One page of a walk: the snapshot's repositories, the key it resumes after, its order and size. */
interface PageRequest {
  repositories: Repository[];
  snapshotStartedAt: number;
  after: ImageKey | undefined;
  order: readonly OrderTerm[];
  limit: number;
  signal: AbortSignal;
}

interface CachedTags {
  /** The snapshot the tags were read under; a newer snapshot reads them again. */
  snapshotStartedAt: number;
  promise: Promise<ScwTag[]>;
}

export const DIGEST = /^sha256:[a-f0-9]{64}$/;
/** Scopes (repositories, and the whole project) whose snapshot is kept; a walk of a forgotten one reads it again. */
const MAX_SNAPSHOT_CACHE = 1_000;
const MAX_TAG_CACHE = 10_000;

export class ScalewayImages {
  private readonly projectId: string;
  private readonly listingCacheTtlMs: number;
  /** By scope ("" for the whole project), each serving listingCacheTtlMs from when it began. */
  private readonly snapshots: SharedReads<Repository[]>;
  /** By Scaleway image id; each expires listingCacheTtlMs after its read started. */
  private readonly tags = new LRUCache<string, CachedTags>({ max: MAX_TAG_CACHE, perf: Date });

  constructor(
    private readonly client: ScalewayClient,
    private readonly id: string,
    private readonly namespaces: ScalewayNamespaces,
    options: Pick<ScalewayProviderOptions, "projectId" | "listingCacheTtlMs">,
  ) {
    this.projectId = options.projectId;
    this.listingCacheTtlMs = options.listingCacheTtlMs ?? DEFAULT_LISTING_CACHE_TTL_MS;
    this.snapshots = new SharedReads(MAX_SNAPSHOT_CACHE, this.listingCacheTtlMs);
  }

  /** How many snapshots and tag listings are kept now. */
  cacheSizes(): { snapshots: number; tags: number } {
    return { snapshots: this.snapshots.size, tags: this.tags.size };
  }

  /** Drops the repository snapshots (a namespace was created). */
  forgetSnapshots(): void {
    this.snapshots.clear();
  }

  /** Drops the repository snapshots and the tags read under them (a namespace was deleted). */
  forgetSnapshotsAndTags(): void {
    this.snapshots.clear();
    this.tags.clear();
  }

  async listImages(query: ListImagesQuery): Promise<ImagePage> {
    const only = narrowedRepository(query, isScalewayRepository);
    if (only === null) return { images: [], done: true };
    const native = query.order.length === 0;
    const after = native ? (query.nativeCursor === undefined ? undefined : decodeImageCursor(query.nativeCursor, this.id, (r) => r.includes("/"))) : query.after;
    const snapshot = this.snapshot(only, after === undefined, query.signal);
    const repositories = await raceSignal(snapshot.promise, query.signal);
    const request: PageRequest = { repositories, snapshotStartedAt: snapshot.startedAt, after, order: query.order, limit: pageLimit(query.limit), signal: query.signal };
    const walkByRepository = native || only !== undefined || (query.order[0].field === "name" && !query.order[0].desc);
    const { images, done } = walkByRepository ? await this.walkByRepository(request) : await this.sortEverything(request);
    const last = images.at(-1);
    if (done || last === undefined) return { images, done: true };
    return { images, done: false, nativeCursor: native ? encodeImageCursor(last.repository, last.digest) : undefined };
  }

  async getImage(repository: string, digest: string, signal: AbortSignal): Promise<ImageRecord | undefined> {
    if (!isScalewayRepository(repository) || !DIGEST.test(digest)) return undefined;
    const repo = await this.findRepository(repository, signal);
    if (repo === undefined) return undefined;
    const tags = await this.tagsOf(repo.imageId, signal);
    return imagesOf(this.id, repo.repository, tags ?? []).find((i) => i.digest === digest);
  }

  /**
   * Deletes every Scaleway tag on the digest, or the whole Scaleway image when that digest is the
   * only one it holds, then waits until Scaleway no longer lists what was deleted.
   */
  async deleteImage(repository: string, digest: string, signal: AbortSignal): Promise<void> {
    if (!isScalewayRepository(repository)) throw invalidField("repository", `${JSON.stringify(repository.slice(0, 300))} is not a Scaleway repository (<namespace>/<image>)`);
    if (!DIGEST.test(digest)) throw invalidField("digest", `${JSON.stringify(digest)} is not a sha256 digest`);
    try {
      // An image already being deleted (a previous run) is found too, so this run waits for it.
      const repo = await this.findRepository(repository, signal, true);
      if (repo === undefined) return;
      const tags = await this.tagsOf(repo.imageId, signal);
      if (tags === undefined) return;
      const matching = tags.filter((t) => t.digest === digest);
      if (matching.length === 0) return;
      if (matching.length === tags.length) {
        await this.client.deleteAndWait(`/images/${repo.imageId}`, `image ${repository}`, signal);
        return;
      }
      for (const tag of matching) await this.client.deleteAndWait(`/tags/${tag.id}`, `tag ${repository}:${tag.name}`, signal);
    } finally {
      this.forgetSnapshotsAndTags();
    }
  }

  /**
   * The repositories of a scope, sorted: the whole project's (`repository` undefined) or the one named,
   * from the snapshot (and cache) listImages pages through; none being deleted.
   */
  async repositoriesIn(repository: string | undefined, fresh: boolean, signal: AbortSignal): Promise<string[]> {
    const snapshot = this.snapshot(repository, fresh, signal);
    return (await raceSignal(snapshot.promise, signal)).map((r) => r.repository);
  }

  /** The repository snapshot of a scope; `fresh` refuses a settled one (a walk's first page). */
  private snapshot(repository: string | undefined, fresh: boolean, signal: AbortSignal): SharedRead<Repository[]> {
    // Checked first: an aborted caller neither joins nor starts a read.
    signal.throwIfAborted();
    // Not tied to one caller: a walker that gives up on a slow read finds it ready next time.
    return this.snapshots.get(repository ?? "", fresh, () =>
      repository === undefined ? this.readAllRepositories(AbortSignal.timeout(120_000)) : this.readOneRepository(repository, AbortSignal.timeout(120_000)),
    );
  }

  private async readAllRepositories(signal: AbortSignal): Promise<Repository[]> {
    const [namespaces, images] = await Promise.all([
      this.client.listAll<ScwNamespace>("/namespaces", "namespaces", { project_id: this.projectId, order_by: "name_asc" }, signal),
      this.client.listAll<ScwImage>("/images", "images", { project_id: this.projectId, order_by: "name_asc" }, signal),
    ]);
    const names = new Map(namespaces.filter((n) => n.status !== "deleting").map((n) => [n.id, n.name]));
    const out: Repository[] = [];
    for (const image of images) {
      const ns = names.get(image.namespace_id);
      if (ns === undefined || image.status === "deleting") continue;
      out.push({ repository: `${ns}/${image.name}`, imageId: image.id });
    }
    return out.sort((a, b) => compareStrings(a.repository, b.repository));
  }

  private async readOneRepository(repository: string, signal: AbortSignal): Promise<Repository[]> {
    const found = await this.findRepository(repository, signal);
    return found === undefined ? [] : [found];
  }

  /** The Scaleway image behind `<namespace>/<image name>`, if it exists (and is not being deleted, unless asked). */
  async findRepository(repository: string, signal: AbortSignal, includeDeleting = false): Promise<Repository | undefined> {
    const slash = repository.indexOf("/");
    if (slash <= 0 || slash === repository.length - 1) return undefined;
    const ns = await this.namespaces.find(repository.slice(0, slash), signal);
    if (ns === undefined || (ns.status === "deleting" && !includeDeleting)) return undefined;
    const imageName = repository.slice(slash + 1);
    // Scaleway's name filter is not documented as exact, so the match is checked here.
    const images = await this.client.listAll<ScwImage>("/images", "images", { project_id: this.projectId, namespace_id: ns.id, name: imageName }, signal);
    const image = images.find((i) => i.name === imageName && (includeDeleting || i.status !== "deleting"));
    return image === undefined ? undefined : { repository, imageId: image.id };
  }

  /** Every tag of a Scaleway image; undefined when the image is gone. */
  async tagsOf(imageId: string, signal: AbortSignal): Promise<ScwTag[] | undefined> {
    try {
      return await this.client.listAll<ScwTag>(`/images/${imageId}/tags`, "tags", { order_by: "name_asc" }, signal);
    } catch (e) {
      if (e instanceof RegplaneError && e.code === Code.NOT_FOUND) return undefined;
      throw e;
    }
  }

  /** The images of one repository of the snapshot, from its tags. */
  private async imagesIn(repository: Repository, snapshotStartedAt: number, signal: AbortSignal): Promise<ImageRecord[]> {
    return imagesOf(this.id, repository.repository, await this.cachedTags(repository.imageId, snapshotStartedAt, signal));
  }

  /** Tags read under the current snapshot, reused by the walk's later pages. */
  private cachedTags(imageId: string, snapshotStartedAt: number, signal: AbortSignal): Promise<ScwTag[]> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const cached = this.tags.get(imageId);
    if (cached !== undefined && cached.snapshotStartedAt >= snapshotStartedAt) return raceSignal(cached.promise, signal);
    const entry: CachedTags = { snapshotStartedAt, promise: this.tagsOf(imageId, AbortSignal.timeout(120_000)).then((t) => t ?? []) };
    entry.promise.catch(() => {
      if (this.tags.peek(imageId) === entry) this.tags.delete(imageId);
    });
    // lru-cache keeps an entry without a TTL for ever, so with a TTL of 0 (reuse nothing) the tags are not kept at all.
    if (this.listingCacheTtlMs > 0) this.tags.set(imageId, entry, { ttl: this.listingCacheTtlMs });
    return raceSignal(entry.promise, signal);
  }

  /**
   * Repositories in ascending order from the cursor's, each one's images sorted by the order; stops
   * once the page is full and one more image proves it is not the last. Correct when the order starts
   * with `name asc` (or is empty), or when there is one repository.
   */
  private async walkByRepository({ repositories, snapshotStartedAt, after, order, limit, signal }: PageRequest): Promise<{ images: ImageRecord[]; done: boolean }> {
    let index = 0;
    if (after !== undefined && repositories.length > 1) {
      while (index < repositories.length && repositories[index].repository < after.repository) index++;
    }
    const page: ImageRecord[] = [];
    let batchSize = 1;
    while (index < repositories.length) {
      const batch = repositories.slice(index, index + batchSize);
      index += batch.length;
      // Small pages touch few repositories; larger ones ramp up to the client's concurrency.
      batchSize = Math.min(batchSize * 2, this.client.maxConcurrency);
      const results = await Promise.all(batch.map((r) => this.imagesIn(r, snapshotStartedAt, signal)));
      for (const images of results) {
        images.sort((a, b) => compareImages(a, b, order));
        for (const image of images) {
          if (after !== undefined && compareImages(image, after, order) <= 0) continue;
          if (page.length === limit) return { images: page, done: false };
          page.push(image);
        }
      }
    }
    return { images: page, done: true };
  }

  /** Any other order: every repository's images, sorted, cut after the key. */
  private async sortEverything({ repositories, snapshotStartedAt, after, order, limit, signal }: PageRequest): Promise<{ images: ImageRecord[]; done: boolean }> {
    const all: ImageRecord[] = [];
    for (let i = 0; i < repositories.length; i += this.client.maxConcurrency) {
      const batch = repositories.slice(i, i + this.client.maxConcurrency);
      const results = await Promise.all(batch.map((r) => this.imagesIn(r, snapshotStartedAt, signal)));
      for (const images of results) all.push(...images);
    }
    return sortAndSlice(all, after, order, limit);
  }
}

/** One image per digest: the digest's tags (sorted) and the earliest time a tag was set to it. */
function imagesOf(registryId: string, repository: string, tags: ScwTag[]): ImageRecord[] {
  const byDigest = new Map<string, { tags: string[]; setAt?: number }>();
  for (const tag of tags) {
    if (typeof tag.digest !== "string" || !DIGEST.test(tag.digest) || tag.status === "deleting") continue;
    const entry = byDigest.get(tag.digest) ?? { tags: [] };
    entry.tags.push(tag.name);
    const setAt = parseTime(tag.updated_at ?? tag.created_at)?.getTime();
    if (setAt !== undefined && (entry.setAt === undefined || setAt < entry.setAt)) entry.setAt = setAt;
    byDigest.set(tag.digest, entry);
  }
  const out: ImageRecord[] = [];
  for (const [digest, { tags: names, setAt }] of byDigest) {
    const record: ImageRecord = {
      registryId,
      repository,
      digest,
      mediaType: "",
      tags: names.sort(compareStrings),
      layers: [],
      manifests: [],
      compressedSize: 0,
    };
    if (setAt !== undefined) record.createdAtMs = setAt;
    out.push(record);
  }
  return out.sort((a, b) => compareStrings(a.digest, b.digest));
}

/** `<namespace>/<image name>` in the Distribution grammar, at most 255 characters: Scaleway images sit directly in a namespace. */
export function isScalewayRepository(name: string): boolean {
  return isRepositoryName(name) && name.includes("/");
}
