// The embedded registry: OCI image layouts under one root directory. A repository is a directory
// holding `oci-layout`; a namespace is a top-level folder; an image is a manifest digest in index.json.
// Longer than most files: images and namespaces share one layout cache, mutex and disk limiter here.
import { configuredRegistry, narrowedRepository, pageLimit, upperBound } from "../../core/listing.js";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";

import { Code, invalidField, notFound, RegplaneError } from "../../core/errors.js";
import { compareImages, compareStrings, decodeImageCursor, encodeImageCursor } from "../../core/order.js";
import type { ImageKey, ImagePage, ListImagesQuery, ListNamespacesQuery, Provider } from "../../core/provider.js";
import type { Capability, ImageRecord, NamespaceRecord, OrderTerm, RegistryRecord, Visibility } from "../../core/types.js";
import {
  BlobReader,
  buildSnapshot,
  DEFAULT_MAX_INDEX_DEPTH,
  DEFAULT_MAX_METADATA_BYTES,
  imageByDigest,
  upperBoundByDigest,
  errorMessage,
  forEachLimited,
  indexEntries,
  isObject,
  type LayoutSnapshot,
  snapshotWeight,
  statIndex,
} from "./layout.js";
import { WeightedLru } from "../../core/lru.js";
import { diskFailure } from "./disk-errors.js";
import { MinHeap } from "./merge.js";
import { collectGarbage, readIndexForUpdate, removeIndexEntries, removeStaleTemps, writeFileAtomic } from "./mutate.js";
import { ProcessLocks, type LockService } from "../../core/locks.js";
import {
  BLOBS_DIR,
  INDEX_FILE,
  isMissing,
  isOciPathComponent,
  isSettled,
  isValidDigest,
  isValidNamespaceName,
  LAYOUT_MARKER,
  NAMESPACE_META_FILE,
  nowNs,
  RepositoryTree,
  repositorySegments,
} from "./paths.js";
import { DEFAULT_POOL_LIMIT, SafeFs, UnsafeFileError } from "./safe-fs.js";
import { joinLoad, NEVER, type SharedLoad, untilAborted } from "./shared-load.js";

export interface LocalProviderOptions {
  id: string;
  /** The data directory holding the layouts. Created on the first namespace creation if absent. */
  root: string;
  /** Told about layouts and blobs that are skipped or listed incompletely because they are unreadable. */
  onWarning?: (msg: string, ctx: object) => void;
  /** Memory bound for all caches together, in bytes (default 256 MiB). */
  cacheBytes?: number;
  /** How long a Get may reuse a layout it confirmed against the disk, in ms (default 250; 0 = always check). */
  freshnessMs?: number;
  /** Unreferenced blobs changed more recently than this are not collected, in ms (default 2h). */
  gcGracePeriodMs?: number;
  /** Largest index.json or manifest read, in bytes (default 4 MiB). */
  maxMetadataBytes?: number;
  /** Nested indexes followed when summing an index's size (default 8). */
  maxIndexDepth?: number;
  /** Disk calls of this registry on libuv's thread pool at a time (default 2). */
  poolLimit?: number;
  /** Serializes changes to one layout; across processes when replicas share the data dir (default: this process only). */
  locks?: LockService;
}

/** Like distribution and Harbor: hours, so an image another tool is still copying in is never collected. */
export const DEFAULT_GC_GRACE_PERIOD_MS = 2 * 60 * 60 * 1000;
const MAX_NAMESPACE_META_BYTES = 64 * 1024;

const CAPABILITIES: readonly Capability[] = [
  "list_images",
  "delete_images",
  "list_namespaces",
  "create_namespaces",
  "update_namespaces",
  "delete_namespaces",
];

const TRASH_PREFIX = ".regplane-trash-";
const NEW_NAMESPACE_PREFIX = ".regplane-new-";
const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;
const DEFAULT_FRESHNESS_MS = 250;
const RECENT_MAX = 10_000;
/** Layouts read in parallel when a page needs all of them (ordered listings, namespace totals). */
const LAYOUT_CONCURRENCY = 16;

interface NamespaceMeta {
  description: string;
  visibility: Visibility;
}

export class LocalProvider implements Provider {
  readonly kind = "local";
  readonly id: string;
  readonly root: string;
  readonly capabilities: ReadonlySet<Capability> = new Set(CAPABILITIES);

  private readonly warn: (msg: string, ctx: object) => void;
  private readonly tree: RepositoryTree;
  private readonly blobs: BlobReader;
  private readonly snapshots: WeightedLru<string, LayoutSnapshot>;
  private readonly loading = new Map<string, SharedLoad<LayoutSnapshot>>();
  /**
   * Snapshots confirmed against the disk in the last freshnessMs, by repository: a burst of Gets then costs
   * no file-system calls. Writes through this provider clear it; outside writers are seen within freshnessMs.
   */
  private readonly freshnessMs: number;
  private readonly recent = new Map<string, { at: number; snapshot: Promise<LayoutSnapshot | undefined> }>();
  private readonly blobTotals: WeightedLru<string, { version: string; settled: boolean; bytes: number }>;
  private readonly mutex: LockService;
  private readonly disk: SafeFs;
  private readonly gcGracePeriodMs: number;
  private readonly maxMetadataBytes: number;
  private readonly maxIndexDepth: number;

  constructor(options: LocalProviderOptions) {
    this.id = options.id;
    this.root = path.resolve(options.root);
    this.warn = options.onWarning ?? (() => {});
    this.disk = new SafeFs(options.poolLimit ?? DEFAULT_POOL_LIMIT);
    this.gcGracePeriodMs = options.gcGracePeriodMs ?? DEFAULT_GC_GRACE_PERIOD_MS;
    this.maxMetadataBytes = options.maxMetadataBytes ?? DEFAULT_MAX_METADATA_BYTES;
    this.maxIndexDepth = options.maxIndexDepth ?? DEFAULT_MAX_INDEX_DEPTH;
    this.mutex = options.locks ?? new ProcessLocks();
    const budget = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
    this.freshnessMs = options.freshnessMs ?? DEFAULT_FRESHNESS_MS;
    // Snapshots hold every listed record; the blob caches mostly matter for digests shared between layouts.
    this.snapshots = new WeightedLru(Math.floor(budget * 0.86));
    this.blobs = new BlobReader(Math.floor(budget * 0.04), this.disk, this.maxMetadataBytes);
    this.tree = new RepositoryTree(this.root, this.disk, Math.floor(budget * 0.08), (dir, err) =>
      this.warn("local registry: directory unreadable, skipped", { registryId: this.id, dir, error: errorMessage(err) }),
    );
    this.blobTotals = new WeightedLru(Math.floor(budget * 0.02));
  }

  describe(): RegistryRecord {
    return configuredRegistry({ id: this.id, kind: this.kind, endpoint: "", hostname: "", capabilities: this.capabilities });
  }

  // ---- images ----

  /**
   * Without an order: repository path ascending, then digest ascending, resumed from a cursor that
   * names the last (repository, digest) returned, so only the directories on the way there are read.
   * With an order: each layout's images are sorted once per index.json version, the position after
   * `query.after` is found by binary search in each, and the layouts are merged.
   */
  async listImages(query: ListImagesQuery): Promise<ImagePage> {
    return this.abortable(query.signal, async () => {
      const limit = pageLimit(query.limit);
      const only = narrowedRepository(query, () => true);
      if (only === null) return { images: [], done: true };
      if (query.order.length === 0) return this.listNative(only, query.nativeCursor, limit, query.signal);
      return this.listOrdered(only, query.order, query.after, limit, query.signal);
    });
  }

  async getImage(repository: string, digest: string, signal: AbortSignal): Promise<ImageRecord | undefined> {
    return this.abortable(signal, async () => {
      if (!isValidDigest(digest)) return undefined;
      const now = performance.now();
      let entry = this.recent.get(repository);
      if (entry === undefined || now - entry.at >= this.freshnessMs) {
        // One check of the disk for every Get that arrives meanwhile.
        // Shared by every Get meanwhile, so no one caller's signal may end it; each caller stops waiting on its own.
        const confirmed = (async () => {
          const dir = await this.layoutDir(repository);
          return dir === undefined ? undefined : this.snapshot(repository, dir, NEVER);
        })();
        if (this.recent.size >= RECENT_MAX) this.recent.clear();
        const fresh = { at: now, snapshot: confirmed };
        this.recent.set(repository, fresh);
        confirmed.catch(() => {
          if (this.recent.get(repository) === fresh) this.recent.delete(repository);
        });
        entry = fresh;
      }
      let snapshot: LayoutSnapshot | undefined;
      try {
        snapshot = await untilAborted(entry.snapshot, signal);
      } catch (err) {
        throw diskFailure(err, this.id, `image ${repository}@${digest}`, this.warn);
      }
      if (snapshot === undefined) return undefined;
      const image = imageByDigest(snapshot.images, digest);
      return image;
    });
  }

  /**
   * Removes every index.json entry with the digest, then collects the layout's unreferenced blobs.
   * Collection runs even when the digest was already gone, so blobs stranded by a crash between the
   * index rewrite and the collection are reclaimed by the next delete.
   */
  async deleteImage(repository: string, digest: string, signal: AbortSignal): Promise<void> {
    return this.abortable(signal, async () => {
      const segments = repositorySegments(repository);
      if (segments === undefined) throw invalidField("repository", "not a repository path of the local registry");
      if (!isValidDigest(digest)) throw invalidField("digest", "not a valid digest");
      const dir = this.tree.dirOf(segments);
      this.recent.clear();
      await this.mutex.run(dir, async () => {
        if ((await this.layoutDir(repository)) === undefined) return;
        try {
          await removeStaleTemps(this.disk, dir, INDEX_FILE);
          await removeIndexEntries(this.disk, dir, digest, repository, this.maxMetadataBytes);
          await collectGarbage(this.disk, dir, this.blobs, repository, (msg, ctx) => this.warn(msg, { registryId: this.id, ...ctx }), {
            gracePeriodMs: this.gcGracePeriodMs,
            maxMetadataBytes: this.maxMetadataBytes,
          });
        } catch (err) {
          // The layout vanished underneath (its namespace was deleted): the image is gone.
          if (isMissing(err) && (await this.layoutDir(repository)) === undefined) return;
          throw diskFailure(err, this.id, `delete image ${repository}@${digest}`, this.warn);
        } finally {
          this.snapshots.delete(dir);
          this.recent.clear();
        }
      });
    });
  }

  private async listNative(
    only: string | undefined,
    cursor: string | undefined,
    limit: number,
    signal: AbortSignal,
  ): Promise<ImagePage> {
    const from = cursor === undefined ? undefined : decodeImageCursor(cursor, this.id, (r) => repositorySegments(r) !== undefined);
    const repositories = only === undefined ? this.tree.repositories({ from: from?.repository, signal }) : this.single(only, from?.repository);
    const images: ImageRecord[] = [];
    let more = false;
    scan: for await (const repository of repositories) {
      const snapshot = await this.snapshotOrSkip(repository, signal);
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
      const snapshot = await this.snapshotOrSkip(repository, signal);
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
    if ((await this.layoutDir(repository)) !== undefined) yield repository;
  }


  // ---- layouts ----

  /**
   * The directory of an existing repository, or undefined when the path is not a safe relative path,
   * passes through a symbolic link (the walk never follows them either) or holds no layout.
   */
  private async layoutDir(repository: string): Promise<string | undefined> {
    const segments = repositorySegments(repository);
    if (segments === undefined) return undefined;
    const dir = this.tree.dirOf(segments);
    try {
      const [realRoot, realDir] = await Promise.all([this.disk.realpath(this.root), this.disk.realpath(dir)]);
      if (realDir !== path.join(realRoot, ...segments)) return undefined;
      const marker = await this.disk.lstat(path.join(dir, LAYOUT_MARKER));
      return marker.isFile() ? dir : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /**
   * The parsed layout for the current index.json; concurrent callers share one parse, which stops
   * once every caller waiting for it has given up. A snapshot whose file changed too recently to
   * trust its times is confirmed by re-reading and hashing it.
   */
  private async snapshot(repository: string, dir: string, signal: AbortSignal): Promise<LayoutSnapshot> {
    const version = await statIndex(this.disk, dir);
    const cached = this.snapshots.get(dir);
    if (cached !== undefined && cached.source.version === version && cached.source.settled) return cached;
    let load = this.loading.get(dir);
    if (load === undefined || load.version !== version || load.controller.signal.aborted) {
      const controller = new AbortController();
      const promise = this.loadSnapshot(repository, dir, cached, controller.signal);
      const started: SharedLoad<LayoutSnapshot> = { version, promise, controller, waiters: 0 };
      this.loading.set(dir, started);
      const forget = () => {
        if (this.loading.get(dir) === started) this.loading.delete(dir);
      };
      promise.then(forget, forget);
      load = started;
    }
    return joinLoad(load, signal);
  }

  private async loadSnapshot(
    repository: string,
    dir: string,
    cached: LayoutSnapshot | undefined,
    signal: AbortSignal,
  ): Promise<LayoutSnapshot> {
    const { source, index } = await readIndexForUpdate(this.disk, dir, this.maxMetadataBytes, repository);
    if (cached !== undefined && cached.source.version === source.version && cached.source.contentHash === source.contentHash) {
      cached.source = source;
      return cached;
    }
    const entries =
      index === undefined
        ? []
        : indexEntries(index, (entry) =>
            this.warn("local registry: index.json entry without a valid digest, skipped", {
              registryId: this.id,
              repository,
              entry,
            }),
          );
    const snapshot = await buildSnapshot(
      this.id,
      repository,
      dir,
      source,
      entries,
      this.blobs,
      (msg, ctx) => this.warn(msg, { registryId: this.id, ...ctx }),
      cached,
      { maxIndexDepth: this.maxIndexDepth, signal },
    );
    this.snapshots.set(dir, snapshot, snapshotWeight(snapshot));
    return snapshot;
  }

  /** For listings: a layout that cannot be read is reported and left out instead of failing the page. */
  private async snapshotOrSkip(repository: string, signal: AbortSignal): Promise<LayoutSnapshot | undefined> {
    const dir = this.tree.dirOf(repository.split("/"));
    try {
      return await this.snapshot(repository, dir, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      if (isMissing(err)) return undefined;
      this.warn("local registry: layout unreadable, skipped", { registryId: this.id, repository, error: errorMessage(err) });
      return undefined;
    }
  }

  // ---- namespaces ----

  async listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }> {
    return this.abortable(query.signal, async () => {
      const limit = Math.max(1, Math.floor(query.limit) || 1);
      const listing = await this.tree.listing(this.root);
      const names: string[] = [];
      for (const item of listing?.items ?? []) {
        if (item.subtree) continue;
        if (query.nameEquals !== undefined && item.name !== query.nameEquals) continue;
        if (query.after !== undefined && compareStrings(item.name, query.after) <= 0) continue;
        names.push(item.name);
      }
      names.sort(compareStrings);
      const page = names.slice(0, limit);
      const namespaces: NamespaceRecord[] = [];
      for (const name of page) {
        query.signal.throwIfAborted();
        const ns = await this.namespaceRecord(name, query.signal);
        if (ns !== undefined) namespaces.push(ns);
      }
      return { namespaces, done: names.length <= limit };
    });
  }

  async getNamespace(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    return this.abortable(signal, async () => {
      if (!isValidNamespaceName(name)) return undefined;
      return this.namespaceRecord(name, signal);
    });
  }

  /**
   * Builds the folder (and its metadata) under a hidden name and renames it into place, so a failure
   * (a full disk, a read-only mount) leaves nothing behind and a retry can succeed.
   */
  async createNamespace(
    ns: { name: string; description: string; visibility: Visibility },
    signal: AbortSignal,
  ): Promise<NamespaceRecord> {
    return this.abortable(signal, async () => {
      if (!isOciPathComponent(ns.name)) {
        throw invalidField("name", "must be lowercase letters and digits, separated by single '.', '_', '__' or runs of '-'");
      }
      const dir = path.join(this.root, ns.name);
      const exists = () =>
        new RegplaneError(Code.ALREADY_EXISTS, `namespace ${JSON.stringify(ns.name)} already exists`, {
          errorInfo: { reason: "NAMESPACE_ALREADY_EXISTS", metadata: { registry_id: this.id, namespace: ns.name } },
        });
      await this.mutex.run(`namespace:${dir}`, async () => {
        const building = path.join(this.root, `${NEW_NAMESPACE_PREFIX}${randomBytes(8).toString("hex")}`);
        try {
          await this.disk.run(() => fs.mkdir(this.root, { recursive: true }));
          if (await this.exists(dir)) throw exists();
          await this.disk.run(() => fs.mkdir(building));
          const meta = { description: ns.description ?? "", visibility: normalizeVisibility(ns.visibility) };
          if (meta.description !== "" || meta.visibility !== "inherit") await this.writeNamespaceMeta(building, meta);
          // rename(2) would replace an empty folder another writer made meanwhile; the check above is ours.
          await this.disk.run(() => fs.rename(building, dir));
        } catch (err) {
          await this.disk.run(() => fs.rm(building, { recursive: true, force: true })).catch(() => {});
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "EEXIST" || code === "ENOTEMPTY") throw exists();
          throw diskFailure(err, this.id, `create namespace ${ns.name}`, this.warn);
        } finally {
          this.tree.invalidate(this.root);
        }
      });
      const record = await this.namespaceRecord(ns.name, signal);
      if (record === undefined) throw notFound("namespace", ns.name);
      return record;
    });
  }

  async updateNamespace(
    name: string,
    patch: { description?: string; visibility?: Visibility },
    signal: AbortSignal,
  ): Promise<NamespaceRecord> {
    return this.abortable(signal, async () => {
      if (!isValidNamespaceName(name)) throw notFound("namespace", name);
      const dir = path.join(this.root, name);
      await this.mutex.run(`namespace:${dir}`, async () => {
        if (!(await this.disk.isRealDirectory(dir))) throw notFound("namespace", name);
        const meta = await this.readNamespaceMeta(dir);
        if (patch.description !== undefined) meta.description = patch.description;
        if (patch.visibility !== undefined) meta.visibility = normalizeVisibility(patch.visibility);
        try {
          await this.writeNamespaceMeta(dir, meta);
        } catch (err) {
          throw diskFailure(err, this.id, `update namespace ${name}`, this.warn);
        }
      });
      const record = await this.namespaceRecord(name, signal);
      if (record === undefined) throw notFound("namespace", name);
      return record;
    });
  }

  /**
   * Renames the folder to a hidden trash name first, so the namespace and all its images disappear
   * from listings at once (or, when the rename fails, stay as they were), then removes the files.
   * Trash a crash or a failed removal left behind is removed next time.
   */
  async deleteNamespace(name: string, signal: AbortSignal): Promise<void> {
    return this.abortable(signal, async () => {
      if (!isValidNamespaceName(name)) throw invalidField("name", "not a namespace of the local registry");
      const dir = path.join(this.root, name);
      this.recent.clear();
      await this.mutex.run(`namespace:${dir}`, async () => {
        await this.emptyTrash();
        if (!(await this.disk.isRealDirectory(dir))) return;
        const trash = path.join(this.root, `${TRASH_PREFIX}${randomBytes(8).toString("hex")}`);
        try {
          await this.disk.run(() => fs.rename(dir, trash));
        } catch (err) {
          if (isMissing(err)) return;
          throw diskFailure(err, this.id, `delete namespace ${name}`, this.warn);
        } finally {
          this.tree.invalidate(this.root);
        }
        await this.removeTrash(trash);
      });
    });
  }

  private async emptyTrash(): Promise<void> {
    let names: string[];
    try {
      names = await this.disk.readdir(this.root);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for (const n of names) if (n.startsWith(TRASH_PREFIX)) await this.removeTrash(path.join(this.root, n));
  }

  /** fs.rm never follows links inside; a failure is logged and retried by the next namespace delete. */
  private async removeTrash(trash: string): Promise<void> {
    try {
      await this.disk.run(() => fs.rm(trash, { recursive: true, force: true }));
    } catch (err) {
      this.warn("local registry: deleted namespace's files not removed yet", {
        registryId: this.id,
        dir: trash,
        errno: (err as NodeJS.ErrnoException).code,
      });
    }
  }

  private async exists(file: string): Promise<boolean> {
    try {
      await this.disk.lstat(file);
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  private async namespaceRecord(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    const dir = path.join(this.root, name);
    let st;
    try {
      st = await this.disk.lstat(dir);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    if (!st.isDirectory()) return undefined;
    const repositories: string[] = [];
    for await (const r of this.tree.repositories({ prefix: name, signal })) repositories.push(r);
    let imageCount = 0;
    let sizeBytes = 0;
    await forEachLimited(repositories, LAYOUT_CONCURRENCY, async (repository) => {
      signal.throwIfAborted();
      const snapshot = await this.snapshotOrSkip(repository, signal);
      if (snapshot === undefined) return;
      const bytes = await this.blobBytes(snapshot.dir);
      imageCount += snapshot.images.length;
      sizeBytes += bytes;
    });
    const meta = await this.readNamespaceMeta(dir);
    return {
      registryId: this.id,
      name,
      description: meta.description,
      visibility: meta.visibility,
      imageCount,
      sizeBytes,
      createdAt: st.birthtimeMs > 0 ? st.birthtime : undefined,
      updatedAt: st.mtime,
    };
  }

  /** Sum of the blob file sizes of a layout, re-counted only when a blobs/<algorithm> folder changed; links count nothing. */
  private async blobBytes(layoutDir: string): Promise<number> {
    const blobsDir = path.join(layoutDir, BLOBS_DIR);
    if (!(await this.disk.isRealDirectory(blobsDir))) return 0;
    let algorithms: string[];
    try {
      algorithms = await this.disk.readdir(blobsDir);
    } catch (err) {
      if (isMissing(err)) return 0;
      throw err;
    }
    let total = 0;
    for (const algorithm of algorithms) {
      const algDir = path.join(blobsDir, algorithm);
      let version: string;
      let settled: boolean;
      try {
        const st = await this.disk.lstatBig(algDir);
        if (!st.isDirectory()) continue;
        version = `${st.ino}:${st.mtimeNs}:${st.ctimeNs}`;
        settled = isSettled(st, nowNs());
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      const cached = this.blobTotals.get(algDir);
      if (cached !== undefined && cached.version === version && cached.settled) {
        total += cached.bytes;
        continue;
      }
      let bytes = 0;
      let names: string[] = [];
      try {
        names = await this.disk.readdir(algDir);
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
      await forEachLimited(names, 32, async (n) => {
        try {
          const st = await this.disk.lstat(path.join(algDir, n));
          if (st.isFile()) bytes += st.size;
        } catch (err) {
          if (!isMissing(err)) throw err;
        }
      });
      this.blobTotals.set(algDir, { version, settled, bytes }, algDir.length * 2 + 96);
      total += bytes;
    }
    return total;
  }

  private async readNamespaceMeta(dir: string): Promise<NamespaceMeta> {
    const meta: NamespaceMeta = { description: "", visibility: "inherit" };
    try {
      const file = await this.disk.readRegular(path.join(dir, NAMESPACE_META_FILE), MAX_NAMESPACE_META_BYTES);
      if (file === undefined) return meta;
      const parsed: unknown = JSON.parse(file.bytes.toString("utf8"));
      if (isObject(parsed)) {
        if (typeof parsed.description === "string") meta.description = parsed.description;
        if (typeof parsed.visibility === "string") meta.visibility = normalizeVisibility(parsed.visibility as Visibility);
      }
    } catch (err) {
      if (!(err instanceof UnsafeFileError || err instanceof SyntaxError)) throw err;
      this.warn("local registry: namespace metadata unreadable, using defaults", { registryId: this.id, dir, error: errorMessage(err) });
    }
    return meta;
  }

  private async writeNamespaceMeta(dir: string, meta: NamespaceMeta): Promise<void> {
    await removeStaleTemps(this.disk, dir, NAMESPACE_META_FILE);
    await writeFileAtomic(this.disk, dir, NAMESPACE_META_FILE, `${JSON.stringify(meta)}\n`);
  }

  // ---- lifecycle ----

  async close(): Promise<void> {
    this.snapshots.clear();
    this.blobs.clear();
    this.tree.clear();
    this.blobTotals.clear();
  }

  /** Runs a request; once its signal has fired, whatever it throws becomes CANCELLED. */
  private async abortable<T>(signal: AbortSignal, run: () => Promise<T>): Promise<T> {
    if (signal.aborted) throw cancelled();
    try {
      return await run();
    } catch (err) {
      if (signal.aborted && !(err instanceof RegplaneError)) throw cancelled(err);
      throw err;
    }
  }
}

/** The native cursor: the last (repository, digest) returned. Digests never contain "@". */

function cancelled(cause?: unknown): RegplaneError {
  return new RegplaneError(Code.CANCELLED, "request cancelled", { cause });
}

function normalizeVisibility(v: Visibility | undefined): Visibility {
  return v === "public" || v === "private" ? v : "inherit";
}
