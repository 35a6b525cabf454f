// The `provider: local` registry entry of the config file, checked and turned into LocalProviderOptions.
import type { ProviderContext } from "../../core/catalog.js";
import type { RegistryConfig } from "../../core/config.js";
import { onlyFields, optionalByteSize, optionalDuration, optionalInteger, requiredString } from "../../core/registry-config.js";
import type { LocalProviderOptions } from "./index.js";

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
