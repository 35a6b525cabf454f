// The IONOS Cloud Container Registry adapter, and how a `provider: ionos` config entry becomes one.
// One configured entry is a provider account (an IONOS contract): it covers every registry of the
// contract, or the one named by `registryId`.
import type { ProviderContext } from "../../core/catalog.js";
import { ConfigError, type RegistryConfig } from "../../core/config.js";
import { PartsProvider, type AccountCalls, type DeclaredCalls } from "../../core/provider.js";
import { fieldName } from "../../core/registry-config.js";
import type { Capability } from "../../core/types.js";
import { IonosClient } from "./client.js";
import { DEFAULT_IONOS_ENDPOINT, ionosOptionsFromConfig, type IonosProviderOptions } from "./config.js";
import { IonosImages } from "./images.js";
import { IonosNamespaces } from "./namespaces.js";
import { IonosRegistries, REGISTRY_ID } from "./registries.js";
import { IonosRepositories } from "./repositories.js";
import { IonosScopes } from "./scopes.js";

export { DEFAULT_IONOS_ENDPOINT, type IonosProviderOptions, type RegistryCredentials } from "./config.js";

const CAPABILITIES = ["list_images", "delete_images", "list_namespaces", "delete_repositories", "create_registries", "update_registries", "delete_registries"] as const satisfies readonly Capability[];

export function ionosProviderFromConfig(cfg: RegistryConfig, ctx: ProviderContext): IonosProvider {
  return new IonosProvider(ionosOptionsFromConfig(cfg, ctx.warn));
}

/** The calls CAPABILITIES names and the registry reads, which the parts make. */
export interface IonosProvider extends DeclaredCalls<typeof CAPABILITIES>, AccountCalls {}
export class IonosProvider extends PartsProvider<{ images: IonosImages; namespaces: IonosNamespaces; repositories: IonosRepositories; registries: IonosRegistries }> {
  private readonly client: IonosClient;

  constructor(options: IonosProviderOptions) {
    super("ionos", options.id, CAPABILITIES);
    // Options are the entry's fields, so a bad one is a ConfigError; checked before the client opens its agent.
    if (!options.token && (options.username === undefined || options.password === undefined)) {
      throw new ConfigError(`${fieldName(options, "token")}: required (or tokenFile), unless username and password are both set`);
    }
    if (options.registryId !== undefined && !REGISTRY_ID.test(options.registryId)) throw new ConfigError(`${fieldName(options, "registryId")}: must be an IONOS registry UUID`);
    const pageSize = options.pageSize ?? 100;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) throw new ConfigError(`${fieldName(options, "pageSize")}: must be a whole number 1-1000 (got ${pageSize})`);
    this.client = new IonosClient({ ...options, registryId: options.id, endpoint: options.endpoint ?? DEFAULT_IONOS_ENDPOINT, pageSize });
    const registries = new IonosRegistries(this.client, options.createTimeoutMs ?? 10 * 60_000);
    const scopes = new IonosScopes(this.client, registries, options.registryId);
    const entry = { id: options.id, pinned: options.registryId };
    this.assemble({
      images: new IonosImages(options, this.client, scopes, registries),
      namespaces: new IonosNamespaces(entry, scopes),
      repositories: new IonosRepositories(entry, this.client, scopes),
      registries,
    }, { endpoint: this.client.host, hostname: "" });
  }

  async close(): Promise<void> {
    await Promise.all([this.client.close(), this.parts.images.close()]);
  }

  /** How many Distribution clients (one per IONOS registry deleted in) are open. */
  get ociClientCount(): number {
    return this.parts.images.ociClientCount;
  }
}
