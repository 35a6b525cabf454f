// The OCI Distribution adapter: OciProvider for the catalog of registries and the `provider: oci` config
// entry; the registry's HTTP API is core's DistributionClient.
import type { ProviderContext } from "../../core/catalog.js";
import { ConfigError, type RegistryConfig } from "../../core/config.js";
import { DEFAULT_LISTING_CACHE_TTL_MS } from "../../core/listing.js";
import { isRepositoryName } from "../../core/manifest.js";
import { PartsProvider, type DeclaredCalls } from "../../core/provider.js";
import { fieldName } from "../../core/registry-config.js";
import type { Capability } from "../../core/types.js";
import { OciCatalog } from "./catalog.js";
import { DistributionClient, connectionProblem, type DistributionStats } from "../../core/distribution/index.js";
import { ociOptionsFromConfig, type OciProviderOptions } from "./config.js";
import { OciImages } from "./images.js";
import { OciNamespaces } from "./namespaces.js";
import { OciRepositories } from "./repositories.js";
import { OciTags } from "./tags.js";

export type { OciProviderOptions } from "./config.js";

// delete_tags: whether the registry itself allows it is known only when it answers (see tags.ts).
const CAPABILITIES = ["list_images", "delete_images", "list_namespaces", "delete_repositories", "delete_tags"] as const satisfies readonly Capability[];

export function ociProviderFromConfig(cfg: RegistryConfig, ctx: ProviderContext): OciProvider {
  return new OciProvider(ociOptionsFromConfig(cfg, ctx));
}

/** The calls CAPABILITIES names, which the parts make. */
export interface OciProvider extends DeclaredCalls<typeof CAPABILITIES> {}
export class OciProvider extends PartsProvider<{ images: OciImages; namespaces: OciNamespaces; repositories: OciRepositories; tags: OciTags }> {
  readonly client: DistributionClient;
  private readonly listingCacheTtlMs: number;

  constructor(options: OciProviderOptions) {
    super("oci", options.id, CAPABILITIES);
    // Options are the entry's fields, so a bad one is a ConfigError; checked before the client opens its agent.
    const bad = connectionProblem(options);
    if (bad) throw new ConfigError(`${fieldName(options, bad.field)}: ${bad.problem}`);
    const pageSize = options.catalogPageSize ?? 100;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
      throw new ConfigError(`${fieldName(options, "catalogPageSize")}: must be a whole number 1-1000 (got ${pageSize})`);
    }
    let configuredRepositories: string[] | undefined;
    if (options.repositories !== undefined) {
      for (const r of options.repositories) {
        const name = r.endsWith("/") ? r.slice(0, -1) : r;
        if (!isRepositoryName(name)) throw new ConfigError(`${fieldName(options, "repositories")}: ${JSON.stringify(r)} is not a repository name or prefix`);
      }
      configuredRepositories = [...options.repositories];
    }
    this.listingCacheTtlMs = options.listingCacheTtlMs ?? DEFAULT_LISTING_CACHE_TTL_MS;
    this.client = new DistributionClient({ ...options, registryId: options.id, provider: "oci" });
    const catalog = new OciCatalog(this.id, this.client, configuredRepositories, pageSize, options.logger);
    const images = new OciImages(this.id, this.client, catalog, this.listingCacheTtlMs);
    this.assemble(
      {
        images,
        namespaces: new OciNamespaces(this.id, catalog),
        repositories: new OciRepositories(this.id, this.client, catalog, images),
        tags: new OciTags(this.client, images),
      },
      { endpoint: this.client.host, hostname: this.client.host },
    );
  }

  /** Requests sent to the registry so far (for benchmarks and tests). */
  stats(): DistributionStats {
    return this.client.stats();
  }

  /** Entries in the caches keyed by repository names and token scopes (for tests of their bounds). */
  cacheSizes(): { tagMaps: number; repositoriesRead: number; tokens: number; tokenFlights: number } {
    return { ...this.parts.images.cacheSizes(), ...this.client.cacheSizes() };
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
