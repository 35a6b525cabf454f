// The `provider: local` registry entry of the config file, checked and turned into LocalProviderOptions.
import type { ProviderContext } from "../../core/catalog.js";
import type { RegistryConfig } from "../../core/config.js";
import { onlyFields, optionalByteSize, optionalDuration, optionalInteger, requiredString } from "../../core/registry-config.js";
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

const LOCAL_FIELDS = new Set(["id", "provider", "path", "cacheBytes", "gcGracePeriod", "maxMetadataBytes", "maxIndexDepth"]);

export function localOptionsFromConfig(cfg: RegistryConfig, ctx: ProviderContext): LocalProviderOptions {
  onlyFields(cfg, LOCAL_FIELDS);
  return {
    id: cfg.id,
    root: requiredString(cfg, "path"),
    cacheBytes: optionalByteSize(cfg, "cacheBytes"),
    gcGracePeriodMs: optionalDuration(cfg, "gcGracePeriod"),
    maxMetadataBytes: optionalByteSize(cfg, "maxMetadataBytes"),
    maxIndexDepth: optionalInteger(cfg, "maxIndexDepth", 1, 64),
    onWarning: ctx.warn,
    locks: ctx.locks,
  };
}
