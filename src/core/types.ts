// Provider-neutral domain records. Adapters produce them; services turn them into proto messages.

export interface BlobRecord {
  digest: string;
  size: number;
  mediaType: string;
  urls?: string[];
}

/** One manifest digest in one repository of one registry, with all its tags. */
export interface ImageRecord {
  registryId: string;
  /** Repository path inside the registry, without the registry id (e.g. "team/app"). */
  repository: string;
  digest: string;
  mediaType: string;
  /** Sorted. */
  tags: string[];
  /** Unset for an image index. */
  config?: BlobRecord;
  layers: BlobRecord[];
  /** Child manifests of an image index; empty for a single image. */
  manifests: BlobRecord[];
  compressedSize: number;
  /** Milliseconds since the epoch (a number: caches hold millions of these, and a Date costs 100 bytes). */
  createdAtMs?: number;
}

export type Visibility = "inherit" | "public" | "private" | "unspecified";

/** A repository of one registry: a path that holds images (its name has no registry id). */
export interface RepositoryRecord {
  registryId: string;
  name: string;
}

export interface NamespaceRecord {
  registryId: string;
  name: string;
  description: string;
  visibility: Visibility;
  imageCount: number;
  sizeBytes: number;
  createdAt?: Date;
  updatedAt?: Date;
}

export type RegistryStatus = "creating" | "active" | "deleting" | "unspecified";

export interface RegistryRecord {
  id: string;
  name: string;
  provider: string;
  /** Host (and port) only; never credentials. */
  endpoint: string;
  location: string;
  hostname: string;
  status: RegistryStatus;
  labels: Record<string, string>;
  capabilities: Capability[];
  createdAt?: Date;
  garbageCollectionSchedule?: { days: string[]; time: string };
  apiSubnetAllowList?: string[];
}

/** When an IONOS registry collects unreferenced blobs: weekdays (Monday … Sunday) and "HH:MM:SS+00:00". */
export interface GarbageCollectionSchedule {
  days: string[];
  time: string;
}

/** A registry to create inside a provider account (IONOS contract, Yandex folder). */
export interface RegistrySpec {
  name: string;
  labels: Record<string, string>;
  /** Where the provider asks for one (IONOS: "de/fra", …). */
  location?: string;
  garbageCollectionSchedule?: GarbageCollectionSchedule;
}

/** Changes to a provider registry; an undefined field stays as it is. */
export interface RegistryPatch {
  name?: string;
  labels?: Record<string, string>;
  garbageCollectionSchedule?: GarbageCollectionSchedule;
  apiSubnetAllowList?: string[];
}

export type Capability =
  | "list_images"
  | "delete_images"
  | "list_namespaces"
  | "create_namespaces"
  | "update_namespaces"
  | "delete_namespaces"
  | "create_registries"
  | "update_registries"
  | "delete_registries"
  | "create_repositories"
  | "delete_repositories"
  | "delete_tags";

/** Sort fields of ImageService.List's order_by; name and digest always end the key so the order is total. */
export type ImageOrderField = "name" | "digest" | "created_at";
export interface OrderTerm {
  field: ImageOrderField;
  desc: boolean;
}
