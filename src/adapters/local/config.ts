// The `provider: local` registry entry of the config file: its schema, and the LocalProviderOptions it gives.
import type { ProviderContext } from "../../core/catalog.js";
import type { RegistryConfig } from "../../core/config.js";
import { entryDuration, entrySize, entryWholeNumber, requiredText } from "../../core/config-schema.js";
import { parseEntry, registryEntry } from "../../core/registry-config.js";
import type { LockService } from "../../core/locks.js";

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

/** `path` is filled in (dataDir/registry) and made absolute by the config loader. */
export const localEntrySchema = registryEntry({
  path: requiredText(),
  cacheBytes: entrySize(),
  gcGracePeriod: entryDuration(),
  maxMetadataBytes: entrySize(),
  maxIndexDepth: entryWholeNumber(1, 64),
}).transform((e) => ({
  id: e.id,
  root: e.path,
  cacheBytes: e.cacheBytes,
  gcGracePeriodMs: e.gcGracePeriod,
  maxMetadataBytes: e.maxMetadataBytes,
  maxIndexDepth: e.maxIndexDepth,
}));

export function localOptionsFromConfig(cfg: RegistryConfig, ctx: ProviderContext): LocalProviderOptions {
  return { ...parseEntry(localEntrySchema, cfg), onWarning: ctx.warn, locks: ctx.locks };
}
