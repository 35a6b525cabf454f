// The parsed layouts of one local registry, which images and namespaces both read: where a repository's
// layout is, its snapshot for the current index.json (cached, one shared parse), and the snapshots Gets
// confirmed against the disk moments ago.
import { LRUCache } from "lru-cache";
import * as path from "node:path";

import { WeightedLru } from "../../core/lru.js";
import { BlobReader, buildSnapshot, errorMessage, indexEntries, type LayoutSnapshot, snapshotWeight, statIndex } from "./layout.js";
import { readIndexForUpdate } from "./mutate.js";
import { isMissing, LAYOUT_MARKER, RepositoryTree, repositorySegments } from "./paths.js";
import type { SafeFs } from "./safe-fs.js";
import { joinLoad, NEVER, type SharedLoad } from "./shared-load.js";

export interface SnapshotLimits {
  /** Memory bound of the snapshots, in bytes. */
  cacheBytes: number;
  /** How long a Get may reuse a layout it confirmed against the disk, in ms (0 = always check). */
  freshnessMs: number;
  maxMetadataBytes: number;
  maxIndexDepth: number;
}

/** Repositories whose last confirmed snapshot Gets remember. */
const RECENT_MAX = 10_000;
/** Layouts read in parallel when a page needs all of them (ordered listings, namespace totals). */
export const LAYOUT_CONCURRENCY = 16;

/** A repository's check of the disk; `value` is its answer once `settled`. */
interface ConfirmedEntry {
  at: number;
  snapshot: Promise<LayoutSnapshot | undefined>;
  settled: boolean;
  value: LayoutSnapshot | undefined;
}

const noop = () => {};

export class LayoutSnapshots {
  private readonly snapshots: WeightedLru<string, LayoutSnapshot>;
  private readonly loading = new Map<string, SharedLoad<LayoutSnapshot>>();
  /**
   * Snapshots confirmed against the disk in the last freshnessMs, by repository: a burst of Gets then costs
   * no file-system calls. Writes through this provider clear it; outside writers are seen within freshnessMs.
   */
  private readonly recent = new LRUCache<string, ConfirmedEntry>({ max: RECENT_MAX });

  constructor(
    private readonly id: string,
    private readonly root: string,
    private readonly disk: SafeFs,
    private readonly tree: RepositoryTree,
    private readonly blobs: BlobReader,
    private readonly warn: (msg: string, ctx: object) => void,
    private readonly limits: SnapshotLimits,
  ) {
    this.snapshots = new WeightedLru(limits.cacheBytes);
  }

  /** Repositories whose confirmed snapshot is remembered (for tests of the bound). */
  get confirmedCount(): number {
    return this.recent.size;
  }

  /**
   * The repository's snapshot as one check of the disk found it, shared by every Get within freshnessMs;
   * undefined when it holds no layout. Once the check has finished the answer is given as it is, not as
   * a promise: a burst of Gets then waits on nothing.
   */
  confirmed(repository: string): LayoutSnapshot | undefined | Promise<LayoutSnapshot | undefined> {
    const now = performance.now();
    let entry = this.recent.get(repository);
    if (entry === undefined || now - entry.at >= this.limits.freshnessMs) {
      // One check of the disk for every Get that arrives meanwhile.
      // Shared by every Get meanwhile, so no one caller's signal may end it; each caller stops waiting on its own.
      const confirmed = (async () => {
        const dir = await this.layoutDir(repository);
        return dir === undefined ? undefined : this.snapshot(repository, dir, NEVER);
      })();
      const fresh: ConfirmedEntry = { at: now, snapshot: confirmed, settled: false, value: undefined };
      void confirmed.then((value) => {
        fresh.value = value;
        fresh.settled = true;
      }, noop);
      // The entry is also let go once stale (ttl), or as the least recently used of RECENT_MAX.
      this.recent.set(repository, fresh, { ttl: this.limits.freshnessMs });
      confirmed.catch(() => {
        if (this.recent.get(repository) === fresh) this.recent.delete(repository);
      });
      entry = fresh;
    }
    return entry.settled ? entry.value : entry.snapshot;
  }

  /** Forgets every confirmed snapshot: a write through this provider may have changed any of them. */
  forgetConfirmed(): void {
    this.recent.clear();
  }

  /** Drops the cached snapshot of the layout in `dir`. */
  forget(dir: string): void {
    this.snapshots.delete(dir);
  }

  clear(): void {
    this.snapshots.clear();
  }

  /**
   * The directory of an existing repository, or undefined when the path is not a safe relative path,
   * passes through a symbolic link (the walk never follows them either) or holds no layout.
   */
  async layoutDir(repository: string): Promise<string | undefined> {
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
  async snapshot(repository: string, dir: string, signal: AbortSignal): Promise<LayoutSnapshot> {
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
    const { source, index } = await readIndexForUpdate(this.disk, dir, this.limits.maxMetadataBytes, repository);
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
      { maxIndexDepth: this.limits.maxIndexDepth, signal },
    );
    this.snapshots.set(dir, snapshot, snapshotWeight(snapshot));
    return snapshot;
  }

  /** For listings: a layout that cannot be read is reported and left out instead of failing the page. */
  async snapshotOrSkip(repository: string, signal: AbortSignal): Promise<LayoutSnapshot | undefined> {
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
}
