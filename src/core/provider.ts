import { unsupported } from "./errors.js";
import { configuredRegistry } from "./listing.js";
import type { Capability, ImageRecord, NamespaceRecord, OrderTerm, RegistryPatch, RegistryRecord, RegistrySpec, RepositoryRecord } from "./types.js";

/**
 * Where a listing resumes: the sort key of the last image returned. Every stream is ordered by
 * (order terms…, name, digest), so "strictly after this key" is a keyset cursor that stays correct
 * while images are added and removed between pages.
 */
export interface ImageKey {
  repository: string;
  digest: string;
  /** Milliseconds since the epoch; present when the order uses created_at. */
  createdAt?: number;
}

export interface ListImagesQuery {
  /** Only this repository (path inside the registry). */
  repository?: string;
  /** Only the image with this repository (exact match of the name filter, registry id stripped). */
  nameEquals?: string;
  /** Empty: the adapter's native order, resumed with `nativeCursor`. */
  order: OrderTerm[];
  /** With an order: return only images strictly after this key. */
  after?: ImageKey;
  /** Without an order: the opaque cursor the adapter returned with the previous page. */
  nativeCursor?: string;
  limit: number;
  signal: AbortSignal;
}

export interface ImagePage {
  images: ImageRecord[];
  /** Without an order: where the next page starts; undefined when this registry is exhausted. */
  nativeCursor?: string;
  /** True when the registry has no more images after this page. */
  done: boolean;
}

export interface ListNamespacesQuery {
  nameEquals?: string;
  /** Return only namespaces whose name sorts strictly after this one. */
  after?: string;
  limit: number;
  signal: AbortSignal;
}

/** Repositories in code-unit order of name; the same keyset shape as namespaces. */
export interface ListRepositoriesQuery {
  /** Only the repository with exactly this name. */
  nameEquals?: string;
  /** Return only repositories whose name sorts strictly after this one. */
  after?: string;
  limit: number;
  signal: AbortSignal;
}

/** How an adapter produces a requested order; documented per provider. */
export type OrderSupport = "native" | "adapter-sorted";

/**
 * One configured registry. Adapters know nothing of protobuf or of each other; unsupported
 * operations throw RegplaneError FAILED_PRECONDITION naming the provider and capability.
 */
export interface Provider {
  readonly id: string;
  readonly kind: string;
  readonly capabilities: ReadonlySet<Capability>;
  describe(): RegistryRecord;
  listImages(query: ListImagesQuery): Promise<ImagePage>;
  /** undefined when the repository or digest does not exist. */
  getImage(repository: string, digest: string, signal: AbortSignal): Promise<ImageRecord | undefined>;
  /** Deletes by digest; a digest already gone is success. */
  deleteImage(repository: string, digest: string, signal: AbortSignal): Promise<void>;
  /**
   * Deletes several digests of one repository as one change, where the provider can do that for less
   * than one delete each (the embedded registry: one index rewrite and one collection). After a failure
   * some may be gone and some not: callers then delete each with deleteImage to learn its outcome.
   */
  deleteImages?(repository: string, digests: readonly string[], signal: AbortSignal): Promise<void>;
  /**
   * Removes one tag of the image with this digest; the image and its other tags stay (untagged when it
   * was the last). A tag already gone, or now on another digest, is success and left as it is.
   */
  deleteTag?(repository: string, digest: string, tag: string, signal: AbortSignal): Promise<void>;
  listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }>;
  getNamespace(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined>;
  createNamespace?(ns: { name: string; description: string; visibility: NamespaceRecord["visibility"] }, signal: AbortSignal): Promise<NamespaceRecord>;
  updateNamespace?(name: string, patch: { description?: string; visibility?: NamespaceRecord["visibility"] }, signal: AbortSignal): Promise<NamespaceRecord>;
  /** Deletes the namespace and every image in it; already gone is success. */
  deleteNamespace?(name: string, signal: AbortSignal): Promise<void>;
  listRepositories(query: ListRepositoriesQuery): Promise<{ repositories: RepositoryRecord[]; done: boolean }>;
  /** undefined when the registry has no repository of this name. */
  getRepository(name: string, signal: AbortSignal): Promise<RepositoryRecord | undefined>;
  /** An empty repository, where the provider has repositories without images; already there is ALREADY_EXISTS. */
  createRepository?(name: string, signal: AbortSignal): Promise<RepositoryRecord>;
  /** Deletes the repository and every image in it; already gone is success. */
  deleteRepository?(name: string, signal: AbortSignal): Promise<void>;
  // Provider accounts (an IONOS contract, a Yandex folder) hold registries of their own, named by the
  // provider's ids; these methods reach them. Records carry the provider's registry id as `id`.
  listRegistries?(signal: AbortSignal): Promise<RegistryRecord[]>;
  /** undefined when the account holds no registry with this provider id. */
  getRegistry?(registryId: string, signal: AbortSignal): Promise<RegistryRecord | undefined>;
  /** Returns once the provider reports the registry created (provider-async work polled to its end). */
  createRegistry?(spec: RegistrySpec, signal: AbortSignal): Promise<RegistryRecord>;
  updateRegistry?(registryId: string, patch: RegistryPatch, signal: AbortSignal): Promise<RegistryRecord>;
  /** Already gone is success. */
  deleteRegistry?(registryId: string, signal: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}

/** The optional method each mutating capability names: a provider declares the capability exactly when it has the method. */
const CAPABILITY_METHODS = {
  create_namespaces: "createNamespace",
  update_namespaces: "updateNamespace",
  delete_namespaces: "deleteNamespace",
  create_registries: "createRegistry",
  update_registries: "updateRegistry",
  delete_registries: "deleteRegistry",
  create_repositories: "createRepository",
  delete_repositories: "deleteRepository",
  delete_tags: "deleteTag",
} as const satisfies Partial<Record<Capability, keyof Provider>>;

/** `provider` if it declares `capability`; FAILED_PRECONDITION CAPABILITY_UNSUPPORTED naming it otherwise. */
export function requireCapability(provider: Provider, capability: Capability): Provider {
  if (!provider.capabilities.has(capability)) throw unsupported(provider.id, provider.kind, capability);
  return provider;
}

/** Where a provider's declared capabilities and its methods disagree; empty when they agree. */
export function capabilityMismatches(provider: Provider): string[] {
  const out: string[] = [];
  for (const [capability, method] of Object.entries(CAPABILITY_METHODS) as [Capability, keyof Provider][]) {
    const declared = provider.capabilities.has(capability);
    const present = typeof provider[method] === "function";
    if (declared && !present) out.push(`declares ${capability} but has no ${method}`);
    if (!declared && present) out.push(`has ${method} but does not declare ${capability}`);
  }
  return out;
}

/** The image calls of a provider, owned by its images part. */
export type ImageCalls = Pick<Provider, "listImages" | "getImage" | "deleteImage">;
/** The namespace calls, owned by its namespaces part; the changes where the provider can make them. */
export type NamespaceCalls = Pick<Provider, "listNamespaces" | "getNamespace" | "createNamespace" | "updateNamespace" | "deleteNamespace">;
/** The repository calls, owned by its repositories part; the changes where the provider can make them. */
export type RepositoryCalls = Pick<Provider, "listRepositories" | "getRepository" | "createRepository" | "deleteRepository">;
/** The tag calls, owned by its tags part where the provider can remove one tag alone. */
export type TagCalls = Required<Pick<Provider, "deleteTag">>;
/** The calls on registries a provider account holds, owned by its registries part. */
export type RegistryCalls = Pick<Provider, "listRegistries" | "getRegistry" | "createRegistry" | "updateRegistry" | "deleteRegistry">;

const OPTIONAL_NAMESPACE_CALLS = ["createNamespace", "updateNamespace", "deleteNamespace"] as const;
const OPTIONAL_REPOSITORY_CALLS = ["createRepository", "deleteRepository"] as const;
const TAG_CALLS = ["deleteTag"] as const;
const REGISTRY_CALLS = ["listRegistries", "getRegistry", "createRegistry", "updateRegistry", "deleteRegistry"] as const;

/** The method a mutating capability names. */
type MethodOf<C extends Capability> = (typeof CAPABILITY_METHODS)[Extract<C, keyof typeof CAPABILITY_METHODS>];

/**
 * The optional calls the capabilities `C` name, made required: a provider class merges this interface
 * in for its declared capabilities, so its callers need no check (capabilityMismatches holds it to that).
 */
export type DeclaredCalls<C extends readonly Capability[]> = Required<Pick<Provider, MethodOf<C[number]>>>;

/** A provider-account entry as its parts see it: the entry's id, and the one provider registry it is pinned to (undefined: every registry of the account). */
export interface AccountEntry {
  id: string;
  pinned: string | undefined;
}

/** The reads of the registries a provider account holds, which its registries part makes. */
export type AccountCalls = Required<Pick<Provider, "listRegistries" | "getRegistry">>;

/** The parts a PartsProvider forwards to; `tags` where the provider removes one tag alone, `registries` for a provider account. */
export interface ProviderParts {
  images: ImageCalls;
  namespaces: NamespaceCalls;
  repositories: RepositoryCalls;
  /** Where the provider removes single tags (tags.ts). */
  tags?: TagCalls;
  registries?: Partial<RegistryCalls>;
}

/** Where a configured registry is reached and pulled from, for its describe() record. */
export interface RegistryAddress {
  endpoint: string;
  hostname: string;
  location?: string;
}

/**
 * A Provider made of parts (an adapter's images.ts, namespaces.ts, repositories.ts, registries.ts): each
 * call goes to the part that owns it, and an optional call exists exactly when its part has it, so the
 * declared capabilities can be checked against the methods (capabilityMismatches).
 */
export abstract class PartsProvider<P extends ProviderParts = ProviderParts> implements Provider {
  readonly capabilities: ReadonlySet<Capability>;
  /** Set by assemble(), at the end of the adapter's constructor. */
  protected parts!: P;
  private address!: RegistryAddress;

  constructor(
    readonly kind: string,
    readonly id: string,
    capabilities: readonly Capability[],
  ) {
    this.capabilities = new Set(capabilities);
  }

  /** Called once the parts exist: keeps them and the registry's address, and makes the optional calls the parts have. */
  protected assemble(parts: P, address: RegistryAddress): void {
    this.parts = parts;
    this.address = address;
    const self = this as unknown as Record<string, unknown>;
    const bindFrom = (part: object | undefined, name: string) => {
      const fn = (part as Record<string, unknown> | undefined)?.[name];
      if (typeof fn === "function") self[name] = fn.bind(part);
    };
    for (const name of OPTIONAL_NAMESPACE_CALLS) bindFrom(parts.namespaces, name);
    for (const name of OPTIONAL_REPOSITORY_CALLS) bindFrom(parts.repositories, name);
    for (const name of TAG_CALLS) bindFrom(parts.tags, name);
    for (const name of REGISTRY_CALLS) bindFrom(parts.registries, name);
  }

  /** The registry of the config entry: named by its id, always active. */
  describe(): RegistryRecord {
    return configuredRegistry({ id: this.id, kind: this.kind, capabilities: this.capabilities, ...this.address });
  }

  listImages(query: ListImagesQuery): Promise<ImagePage> {
    return this.parts.images.listImages(query);
  }

  getImage(repository: string, digest: string, signal: AbortSignal): Promise<ImageRecord | undefined> {
    return this.parts.images.getImage(repository, digest, signal);
  }

  deleteImage(repository: string, digest: string, signal: AbortSignal): Promise<void> {
    return this.parts.images.deleteImage(repository, digest, signal);
  }

  listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }> {
    return this.parts.namespaces.listNamespaces(query);
  }

  getNamespace(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    return this.parts.namespaces.getNamespace(name, signal);
  }

  listRepositories(query: ListRepositoriesQuery): Promise<{ repositories: RepositoryRecord[]; done: boolean }> {
    return this.parts.repositories.listRepositories(query);
  }

  getRepository(name: string, signal: AbortSignal): Promise<RepositoryRecord | undefined> {
    return this.parts.repositories.getRepository(name, signal);
  }
}
