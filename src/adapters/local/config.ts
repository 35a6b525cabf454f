// The `provider: local` registry entry of the config file: its schema, and the LocalProviderOptions inferred from it.
import type { ProviderContext } from "../../core/catalog.js";
import type { RegistryConfig } from "../../core/config.js";
import { entryDuration, entrySize, entryWholeNumber, requiredText } from "../../core/config-schema.js";
import { parseEntry, registryEntry, type EntryOptions } from "../../core/registry-config.js";
import type { LockService } from "../../core/locks.js";

/** The entry's options, and those only code sets. */
export interface LocalProviderOptions extends EntryOptions<typeof localEntrySchema> {
  /** Told about layouts and blobs that are skipped or listed incompletely because they are unreadable. */
  onWarning?: (msg: string, ctx: object) => void;
  /** How long a Get may reuse a layout it confirmed against the disk, in ms (default 250; 0 = always check). */
  freshnessMs?: number;
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
  /** The data directory holding the layouts. Created on the first namespace creation if absent. */
  root: e.path,
  /** Memory bound for all caches together, in bytes (default 256 MiB). */
  cacheBytes: e.cacheBytes,
  /** Unreferenced blobs changed more recently than this are not collected, in ms (default 2h). */
  gcGracePeriodMs: e.gcGracePeriod,
  /** Largest index.json or manifest read, in bytes (default 4 MiB). */
  maxMetadataBytes: e.maxMetadataBytes,
  /** Nested indexes followed when summing an index's size (default 8). */
  maxIndexDepth: e.maxIndexDepth,
}));

export function localOptionsFromConfig(cfg: RegistryConfig, ctx: ProviderContext): LocalProviderOptions {
  return { ...parseEntry(localEntrySchema, cfg), onWarning: ctx.warn, locks: ctx.locks };
}
