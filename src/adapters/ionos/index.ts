// The IONOS Cloud Container Registry adapter, and how a `provider: ionos` config entry becomes one.
// One configured entry is a provider account (an IONOS contract): it covers every registry of the
// contract, or the one named by `registryId`.
import type { ProviderContext } from "../../core/catalog.js";
import { ConfigError, type RegistryConfig } from "../../core/config.js";
import { configuredRegistry } from "../../core/listing.js";
import { PartsProvider, type Provider } from "../../core/provider.js";
import { fieldName } from "../../core/registry-config.js";
import type { Capability, RegistryRecord } from "../../core/types.js";
import { IonosClient } from "./client.js";
import { DEFAULT_IONOS_ENDPOINT, ionosOptionsFromConfig, type IonosProviderOptions } from "./config.js";
import { IonosImages } from "./images.js";
import { IonosNamespaces } from "./namespaces.js";
import { IonosRegistries, REGISTRY_ID } from "./registries.js";
import { IonosRepositories } from "./repositories.js";
import { IonosScopes } from "./scopes.js";

export { DEFAULT_IONOS_ENDPOINT, type IonosProviderOptions, type RegistryCredentials } from "./config.js";

const CAPABILITIES: readonly Capability[] = ["list_images", "delete_images", "list_namespaces", "delete_repositories", "create_registries", "update_registries", "delete_registries"];

export function ionosProviderFromConfig(cfg: RegistryConfig, ctx: ProviderContext): IonosProvider {
  return new IonosProvider(ionosOptionsFromConfig(cfg, ctx.warn));
}

export class IonosProvider extends PartsProvider {
  readonly id: string;
  readonly kind = "ionos";
  readonly capabilities: ReadonlySet<Capability> = new Set(CAPABILITIES);
  private readonly client: IonosClient;
  protected readonly images: IonosImages;
  protected readonly namespaces: IonosNamespaces;
  protected readonly repositories: IonosRepositories;
  private readonly registries: IonosRegistries;
  declare deleteRepository: NonNullable<Provider["deleteRepository"]>;
  declare listRegistries: NonNullable<Provider["listRegistries"]>;
  declare getRegistry: NonNullable<Provider["getRegistry"]>;
  declare createRegistry: NonNullable<Provider["createRegistry"]>;
  declare updateRegistry: NonNullable<Provider["updateRegistry"]>;
  declare deleteRegistry: NonNullable<Provider["deleteRegistry"]>;

  constructor(options: IonosProviderOptions) {
    super();
    this.id = options.id;
    // Options are the entry's fields, so a bad one is a ConfigError; checked before the client opens its agent.
    if (!options.token && (options.username === undefined || options.password === undefined)) {
      throw new ConfigError(`${fieldName(options, "token")}: required (or tokenFile), unless username and password are both set`);
    }
    if (options.registryId !== undefined && !REGISTRY_ID.test(options.registryId)) throw new ConfigError(`${fieldName(options, "registryId")}: must be an IONOS registry UUID`);
    const pageSize = options.pageSize ?? 100;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) throw new ConfigError(`${fieldName(options, "pageSize")}: must be a whole number 1-1000 (got ${pageSize})`);
    this.client = new IonosClient({ ...options, registryId: options.id, endpoint: options.endpoint ?? DEFAULT_IONOS_ENDPOINT, pageSize });
    this.registries = new IonosRegistries(this.client, options.createTimeoutMs ?? 10 * 60_000);
    const scopes = new IonosScopes(this.client, this.registries, options.registryId);
    this.images = new IonosImages(options, this.client, scopes, this.registries);
    this.namespaces = new IonosNamespaces(options.id, scopes, options.registryId);
    this.repositories = new IonosRepositories(options.id, this.client, scopes, options.registryId);
    this.forwardCalls(this.registries);
  }

  describe(): RegistryRecord {
    return configuredRegistry({ id: this.id, kind: this.kind, endpoint: this.client.host, hostname: "", capabilities: this.capabilities });
  }

  async close(): Promise<void> {
    await Promise.all([this.client.close(), this.images.close()]);
  }

  /** How many Distribution clients (one per IONOS registry deleted in) are open. */
  get ociClientCount(): number {
    return this.images.ociClientCount;
  }
}
