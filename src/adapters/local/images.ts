// The images of the local registry: listings in native or any order across the layouts, Gets by digest,
// and deletes that rewrite index.json and collect the blobs no manifest references any more.
import { pageLimit, narrowedRepository, upperBound } from "../../core/listing.js";
import { invalidField } from "../../core/errors.js";
import type { LockService } from "../../core/locks.js";
import { compareImages, compareStrings, decodeImageCursor, encodeImageCursor } from "../../core/order.js";
import type { ImageKey, ImagePage, ListImagesQuery } from "../../core/provider.js";
import type { ImageRecord, OrderTerm } from "../../core/types.js";
import { diskFailure } from "./disk-errors.js";
import { type BlobReader, forEachLimited, imageByDigest, type LayoutSnapshot, upperBoundByDigest } from "./layout.js";
import { MinHeap } from "./merge.js";
import { collectGarbage, removeIndexEntries, removeStaleTemps } from "./mutate.js";
import { INDEX_FILE, isMissing, isValidDigest, type RepositoryTree, repositorySegments } from "./paths.js";
import type { SafeFs } from "./safe-fs.js";
import { untilAborted } from "./shared-load.js";
import { LAYOUT_CONCURRENCY, type LayoutSnapshots } from "./snapshots.js";

export interface DeleteLimits {
  /** Unreferenced blobs changed more recently than this are not collected, in ms. */
  gcGracePeriodMs: number;
  /** Largest index.json or manifest read, in bytes. */
  maxMetadataBytes: number;
}

export class LocalImages {
  /** `mutex` serializes changes to one layout. */
  constructor(
    private readonly id: string,
    private readonly disk: SafeFs,
    private readonly tree: RepositoryTree,
    private readonly blobs: BlobReader,
    private readonly layouts: LayoutSnapshots,
    private readonly mutex: LockService,
    private readonly warn: (msg: string, ctx: object) => void,
    private readonly limits: DeleteLimits,
  ) {}

  /**
   * Without an order: repository path ascending, then digest ascending, resumed from a cursor that
   * names the last (repository, digest) returned, so only the directories on the way there are read.
   * With an order: each layout's images are sorted once per index.json version, the position after
   * `query.after` is found by binary search in each, and the layouts are merged.
   */
  async listImages(query: ListImagesQuery): Promise<ImagePage> {
    const limit = pageLimit(query.limit);
    const only = narrowedRepository(query, () => true);
    if (only === null) return { images: [], done: true };
    if (query.order.length === 0) return this.listNative(only, query.nativeCursor, limit, query.signal);
    return this.listOrdered(only, query.order, query.after, limit, query.signal);
  }

  async getImage(repository: string, digest: string, signal: AbortSignal): Promise<ImageRecord | undefined> {
    if (!isValidDigest(digest)) return undefined;
    let snapshot: LayoutSnapshot | undefined;
    try {
      const confirmed = this.layouts.confirmed(repository);
      snapshot = confirmed instanceof Promise ? await untilAborted(confirmed, signal) : confirmed;
    } catch (err) {
      throw diskFailure(err, this.id, `image ${repository}@${digest}`, this.warn);
    }
    if (snapshot === undefined) return undefined;
    const image = imageByDigest(snapshot.images, digest);
    return image;
  }

  /**
   * Removes every index.json entry with the digest, then collects the layout's unreferenced blobs.
   * Collection runs even when the digest was already gone, so blobs stranded by a crash between the
   * index rewrite and the collection are reclaimed by the next delete.
   */
  async deleteImage(repository: string, digest: string): Promise<void> {
    await this.deleteImages(repository, [digest]);
  }

  /**
   * Deletes several images of one layout with one index rewrite and one collection: a bulk delete then
   * costs one walk of the layout's blobs, not one per image. Digests already gone are success.
   */
  async deleteImages(repository: string, digests: readonly string[]): Promise<void> {
    const segments = repositorySegments(repository);
    if (segments === undefined) throw invalidField("repository", "not a repository path of the local registry");
    const bad = digests.find((d) => !isValidDigest(d));
    if (bad !== undefined) throw invalidField("digest", "not a valid digest");
    const label = digests.length === 1 ? `${repository}@${digests[0]}` : `${repository} (${digests.length} images)`;
    const dir = this.tree.dirOf(segments);
    this.layouts.forgetConfirmed();
    await this.mutex.run(dir, async () => {
      if ((await this.layouts.layoutDir(repository)) === undefined) return;
      try {
        await removeStaleTemps(this.disk, dir, INDEX_FILE);
        await removeIndexEntries(this.disk, dir, new Set(digests), repository, this.limits.maxMetadataBytes);
        await collectGarbage(this.disk, dir, this.blobs, repository, (msg, ctx) => this.warn(msg, { registryId: this.id, ...ctx }), {
          gracePeriodMs: this.limits.gcGracePeriodMs,
          maxMetadataBytes: this.limits.maxMetadataBytes,
        });
      } catch (err) {
        // The layout vanished underneath (its namespace was deleted): the image is gone.
        if (isMissing(err) && (await this.layouts.layoutDir(repository)) === undefined) return;
        throw diskFailure(err, this.id, `delete image ${label}`, this.warn);
      } finally {
        this.layouts.forget(dir);
        this.layouts.forgetConfirmed();
      }
    });
  }

  private async listNative(
    only: string | undefined,
    cursor: string | undefined,
    limit: number,
    signal: AbortSignal,
  ): Promise<ImagePage> {
    // The native cursor: the last (repository, digest) returned. Digests never contain "@".
    const from = cursor === undefined ? undefined : decodeImageCursor(cursor, this.id, (r) => repositorySegments(r) !== undefined);
    const repositories = only === undefined ? this.tree.repositories({ from: from?.repository, signal }) : this.single(only, from?.repository);
    const images: ImageRecord[] = [];
    let more = false;
    scan: for await (const repository of repositories) {
      const snapshot = await this.layouts.snapshotOrSkip(repository, signal);
      if (snapshot === undefined) continue;
      const start = from !== undefined && repository === from.repository ? upperBoundByDigest(snapshot.images, from.digest) : 0;
      for (let i = start; i < snapshot.images.length; i++) {
        if (images.length === limit) {
          more = true;
          break scan;
        }
        images.push(snapshot.images[i]);
      }
    }
    if (!more) return { images, done: true };
    const last = images[images.length - 1];
    return { images, done: false, nativeCursor: encodeImageCursor(last.repository, last.digest) };
  }

  private async listOrdered(
    only: string | undefined,
    order: OrderTerm[],
    after: ImageKey | undefined,
    limit: number,
    signal: AbortSignal,
  ): Promise<ImagePage> {
    const repositories: string[] = [];
    const source = only === undefined ? this.tree.repositories({ signal }) : this.single(only, undefined);
    for await (const repository of source) repositories.push(repository);

    const orderKey = order.map((t) => `${t.field}:${t.desc ? "desc" : "asc"}`).join(",");
    const streams: { images: ImageRecord[]; next: number }[] = [];
    await forEachLimited(repositories, LAYOUT_CONCURRENCY, async (repository) => {
      signal.throwIfAborted();
      const snapshot = await this.layouts.snapshotOrSkip(repository, signal);
      if (snapshot === undefined || snapshot.images.length === 0) return;
      let sorted = snapshot.sorted.get(orderKey);
      if (sorted === undefined) {
        sorted = [...snapshot.images].sort((a, b) => compareImages(a, b, order));
        snapshot.sorted.set(orderKey, sorted);
      }
      const next = after === undefined ? 0 : upperBound(sorted, after, order);
      if (next < sorted.length) streams.push({ images: sorted, next });
    });

    const heap = new MinHeap<{ images: ImageRecord[]; next: number }>((a, b) =>
      compareImages(a.images[a.next], b.images[b.next], order),
    );
    for (const s of streams) heap.push(s);
    const images: ImageRecord[] = [];
    while (images.length < limit && heap.size > 0) {
      const s = heap.pop()!;
      images.push(s.images[s.next]);
      s.next++;
      if (s.next < s.images.length) heap.push(s);
    }
    return { images, done: heap.size === 0 };
  }

  /** The one repository a filter names, if it exists and is not before `from`. */
  private async *single(repository: string, from: string | undefined): AsyncGenerator<string> {
    if (from !== undefined && compareStrings(repository, from) < 0) return;
    if ((await this.layouts.layoutDir(repository)) !== undefined) yield repository;
  }
}
