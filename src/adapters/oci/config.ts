// The `provider: oci` registry entry of the config file, checked and turned into OciProviderOptions.
import type { ProviderContext } from "../../core/catalog.js";
import type { RegistryConfig } from "../../core/config.js";
import { BREAKER_FIELDS, breakerSettings, onlyFields, optionalBoolean, optionalDuration, optionalInteger, optionalPositiveNumber, optionalString, optionalStrings, requiredString } from "../../core/registry-config.js";
import type { DistributionClientOptions } from "../../core/distribution/index.js";

export interface OciProviderOptions extends Omit<DistributionClientOptions, "registryId" | "provider"> {
  id: string;
  /**
   * Repositories to list instead of the catalog (for registries whose _catalog is closed): exact
   * names, or prefixes ending in "/" that are expanded through the catalog when it answers and are
   * otherwise taken as one exact name (without the slash).
   */
  repositories?: string[];
  /** `n` of each _catalog request (distribution accepts 1..1000). Default 100. */
  catalogPageSize?: number;
  /** How long a repository's tag → digest map is reused while its tags/list is unchanged. Default 30 s; 0 disables. */
  listingCacheTtlMs?: number;
}

const OCI_FIELDS = new Set([
  "id",
  "provider",
  "endpoint",
  "username",
  "password",
  "insecure",
  "repositories",
  "allowedRealmHosts",
  "maxConcurrency",
  "catalogPageSize",
  "listingCacheTtl",
  ...BREAKER_FIELDS,
]);

export function ociOptionsFromConfig(cfg: RegistryConfig, ctx: ProviderContext): OciProviderOptions {
  onlyFields(cfg, OCI_FIELDS);
  return {
    id: cfg.id,
    endpoint: requiredString(cfg, "endpoint"),
    username: optionalString(cfg, "username", { keepEmpty: true }),
    password: optionalString(cfg, "password", { keepEmpty: true }),
    insecure: optionalBoolean(cfg, "insecure"),
    repositories: optionalStrings(cfg, "repositories"),
    allowedRealmHosts: optionalStrings(cfg, "allowedRealmHosts"),
    maxConcurrency: optionalInteger(cfg, "maxConcurrency", 1, 256),
    catalogPageSize: optionalPositiveNumber(cfg, "catalogPageSize"),
    listingCacheTtlMs: optionalDuration(cfg, "listingCacheTtl"),
    ...breakerSettings(cfg),
    logger: { warn: (msg, c) => ctx.warn(msg, c) },
  };
}
