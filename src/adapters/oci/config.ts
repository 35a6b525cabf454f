// The `provider: oci` registry entry of the config file: its schema, and the OciProviderOptions inferred from it.
import type { ProviderContext } from "../../core/catalog.js";
import type { RegistryConfig } from "../../core/config.js";
import { entryDuration, entryPositiveNumber, entryText, entryTexts, entryWholeNumber, requiredText } from "../../core/config-schema.js";
import { BREAKER_SHAPE, breakerTuning, insecureField, parseEntry, registryEntry, type EntryOptions } from "../../core/registry-config.js";
import type { DistributionClientOptions } from "../../core/distribution/index.js";

/** The entry's options, and the client's that only code sets. */
export interface OciProviderOptions extends EntryOptions<typeof ociEntrySchema>, Omit<DistributionClientOptions, "registryId" | "provider" | keyof EntryOptions<typeof ociEntrySchema>> {}

/** The endpoint is checked by the provider (with the credentials, as DistributionClient's options). */
export const ociEntrySchema = registryEntry({
  endpoint: requiredText(),
  username: entryText({ keepEmpty: true }),
  password: entryText({ keepEmpty: true }),
  insecure: insecureField(),
  repositories: entryTexts(),
  allowedRealmHosts: entryTexts(),
  maxConcurrency: entryWholeNumber(1, 256),
  catalogPageSize: entryPositiveNumber(),
  listingCacheTtl: entryDuration(),
  ...BREAKER_SHAPE,
}).transform((e) => ({
  id: e.id,
  endpoint: e.endpoint,
  username: e.username,
  password: e.password,
  insecure: e.insecure,
  /**
   * Repositories to list instead of the catalog (for registries whose _catalog is closed): exact
   * names, or prefixes ending in "/" that are expanded through the catalog when it answers and are
   * otherwise taken as one exact name (without the slash).
   */
  repositories: e.repositories,
  allowedRealmHosts: e.allowedRealmHosts,
  maxConcurrency: e.maxConcurrency,
  /** `n` of each _catalog request (distribution accepts 1..1000). Default 100. */
  catalogPageSize: e.catalogPageSize,
  /** How long a repository's tag → digest map is reused while its tags/list is unchanged. Default 30 s; 0 disables. */
  listingCacheTtlMs: e.listingCacheTtl,
  ...breakerTuning(e),
}));

export function ociOptionsFromConfig(cfg: RegistryConfig, ctx: ProviderContext): OciProviderOptions {
  return { ...parseEntry(ociEntrySchema, cfg), logger: { warn: (msg, c) => ctx.warn(msg, c) } };
}
