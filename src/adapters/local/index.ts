// The embedded registry: OCI image layouts under one root directory. A repository is a directory
// holding `oci-layout`; a namespace is a top-level folder; an image is a manifest digest in index.json.
// LocalProvider and the `provider: local` config entry.
import * as path from "node:path";

import type { ProviderContext } from "../../core/catalog.js";
import type { RegistryConfig } from "../../core/config.js";
import { Code, RegplaneError } from "../../core/errors.js";
import { configuredRegistry } from "../../core/listing.js";
import { ProcessLocks } from "../../core/locks.js";
import type { ImagePage, ListImagesQuery, ListNamespacesQuery, ListRepositoriesQuery, Provider } from "../../core/provider.js";
import type { Capability, ImageRecord, NamespaceRecord, RegistryRecord, RepositoryRecord, Visibility } from "../../core/types.js";
import { localOptionsFromConfig, type LocalProviderOptions } from "./config.js";
import { LocalImages } from "./images.js";
import { BlobReader, DEFAULT_MAX_INDEX_DEPTH, DEFAULT_MAX_METADATA_BYTES, errorMessage } from "./layout.js";
import { LocalNamespaces } from "./namespaces.js";
import { RepositoryTree } from "./paths.js";
import { LocalRepositories } from "./repositories.js";
import { DEFAULT_POOL_LIMIT, SafeFs } from "./safe-fs.js";
import { LayoutSnapshots } from "./snapshots.js";
import { LocalTags } from "./tags.js";

export type { LocalProviderOptions } from "./config.js";

/** Like distribution and Harbor: hours, so an image another tool is still copying in is never collected. */
export const DEFAULT_GC_GRACE_PERIOD_MS = 2 * 60 * 60 * 1000;

const CAPABILITIES: readonly Capability[] = [
  "list_images",
  "delete_images",
  "list_namespaces",
  "create_namespaces",
  "update_namespaces",
  "delete_namespaces",
  "create_repositories",
  "delete_repositories",
  "delete_tags",
];

const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;
const DEFAULT_FRESHNESS_MS = 250;

export function localProviderFromConfig(cfg: RegistryConfig, ctx: ProviderContext): LocalProvider {
  return new LocalProvider(localOptionsFromConfig(cfg, ctx));
}

export class LocalProvider implements Provider {
  readonly kind = "local";
  readonly id: string;
  readonly root: string;
  readonly capabilities: ReadonlySet<Capability> = new Set(CAPABILITIES);

  private readonly tree: RepositoryTree;
  private readonly blobs: BlobReader;
  private readonly layouts: LayoutSnapshots;
  private readonly images: LocalImages;
  private readonly namespaces: LocalNamespaces;
  private readonly repositories: LocalRepositories;
  private readonly tags: LocalTags;

  constructor(options: LocalProviderOptions) {
    this.id = options.id;
    this.root = path.resolve(options.root);
    const warn = options.onWarning ?? (() => {});
    const disk = new SafeFs(options.poolLimit ?? DEFAULT_POOL_LIMIT);
    const maxMetadataBytes = options.maxMetadataBytes ?? DEFAULT_MAX_METADATA_BYTES;
    const mutex = options.locks ?? new ProcessLocks();
    const budget = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
    // Snapshots hold every listed record; the blob caches mostly matter for digests shared between layouts.
    this.blobs = new BlobReader(Math.floor(budget * 0.04), disk, maxMetadataBytes);
    this.tree = new RepositoryTree(this.root, disk, Math.floor(budget * 0.08), (dir, err) =>
      warn("local registry: directory unreadable, skipped", { registryId: this.id, dir, error: errorMessage(err) }),
    );
    this.layouts = new LayoutSnapshots(this.id, this.root, disk, this.tree, this.blobs, warn, {
      cacheBytes: Math.floor(budget * 0.86),
      freshnessMs: options.freshnessMs ?? DEFAULT_FRESHNESS_MS,
      maxMetadataBytes,
      maxIndexDepth: options.maxIndexDepth ?? DEFAULT_MAX_INDEX_DEPTH,
    });
    this.images = new LocalImages(this.id, disk, this.tree, this.blobs, this.layouts, mutex, warn, {
      gcGracePeriodMs: options.gcGracePeriodMs ?? DEFAULT_GC_GRACE_PERIOD_MS,
      maxMetadataBytes,
    });
    const access = { id: this.id, root: this.root, disk, tree: this.tree, layouts: this.layouts, mutex, warn };
    this.namespaces = new LocalNamespaces(access, Math.floor(budget * 0.02));
    this.repositories = new LocalRepositories(access);
    this.tags = new LocalTags(access, maxMetadataBytes);
  }

  describe(): RegistryRecord {
    return configuredRegistry({ id: this.id, kind: this.kind, endpoint: "", hostname: "", capabilities: this.capabilities });
  }

  /** Entries in the caches keyed by repository names (for tests of their bounds). */
  cacheSizes(): { confirmedGets: number } {
    return { confirmedGets: this.layouts.confirmedCount };
  }

  listImages(query: ListImagesQuery): Promise<ImagePage> {
    return abortable(query.signal, () => this.images.listImages(query));
  }

  getImage(repository: string, digest: string, signal: AbortSignal): Promise<ImageRecord | undefined> {
    return abortable(signal, () => this.images.getImage(repository, digest, signal));
  }

  deleteImage(repository: string, digest: string, signal: AbortSignal): Promise<void> {
    return abortable(signal, () => this.images.deleteImage(repository, digest));
  }

  deleteImages(repository: string, digests: readonly string[], signal: AbortSignal): Promise<void> {
    return abortable(signal, () => this.images.deleteImages(repository, digests));
  }

  deleteTag(repository: string, digest: string, tag: string, signal: AbortSignal): Promise<void> {
    return abortable(signal, () => this.tags.deleteTag(repository, digest, tag));
  }

  listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }> {
    return abortable(query.signal, () => this.namespaces.listNamespaces(query));
  }

  getNamespace(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    return abortable(signal, () => this.namespaces.getNamespace(name, signal));
  }

  createNamespace(ns: { name: string; description: string; visibility: Visibility }, signal: AbortSignal): Promise<NamespaceRecord> {
    return abortable(signal, () => this.namespaces.createNamespace(ns, signal));
  }

  updateNamespace(name: string, patch: { description?: string; visibility?: Visibility }, signal: AbortSignal): Promise<NamespaceRecord> {
    return abortable(signal, () => this.namespaces.updateNamespace(name, patch, signal));
  }

  deleteNamespace(name: string, signal: AbortSignal): Promise<void> {
    return abortable(signal, () => this.namespaces.deleteNamespace(name));
  }

  listRepositories(query: ListRepositoriesQuery): Promise<{ repositories: RepositoryRecord[]; done: boolean }> {
    return abortable(query.signal, () => this.repositories.listRepositories(query));
  }

  getRepository(name: string, signal: AbortSignal): Promise<RepositoryRecord | undefined> {
    return abortable(signal, () => this.repositories.getRepository(name));
  }

  createRepository(name: string, signal: AbortSignal): Promise<RepositoryRecord> {
    return abortable(signal, () => this.repositories.createRepository(name));
  }

  deleteRepository(name: string, signal: AbortSignal): Promise<void> {
    return abortable(signal, () => this.repositories.deleteRepository(name));
  }

  async close(): Promise<void> {
    this.layouts.clear();
    this.blobs.clear();
    this.tree.clear();
    this.namespaces.clear();
  }
}

/** Runs a request; once its signal has fired, whatever it throws becomes CANCELLED. */
async function abortable<T>(signal: AbortSignal, run: () => Promise<T>): Promise<T> {
  if (signal.aborted) throw cancelled();
  try {
    return await run();
  } catch (err) {
    if (signal.aborted && !(err instanceof RegplaneError)) throw cancelled(err);
    throw err;
  }
}

function cancelled(cause?: unknown): RegplaneError {
  return new RegplaneError(Code.CANCELLED, "request cancelled", { cause });
}
