// The IONOS Cloud Container Registry adapter, and how a `provider: ionos` config entry becomes one.
// One configured entry is a provider account (an IONOS contract): it covers every registry of the
// contract, or the one named by `registryId`.
import type { ProviderContext } from "../../core/catalog.js";
import { ConfigError, type RegistryConfig } from "../../core/config.js";
import { configuredRegistry } from "../../core/listing.js";
import type { ImagePage, ListImagesQuery, ListNamespacesQuery, Provider } from "../../core/provider.js";
import { fieldName } from "../../core/registry-config.js";
import type { Capability, ImageRecord, NamespaceRecord, RegistryPatch, RegistryRecord, RegistrySpec } from "../../core/types.js";
import { IonosClient } from "./client.js";
import { DEFAULT_IONOS_ENDPOINT, ionosOptionsFromConfig, type IonosProviderOptions } from "./config.js";
import { IonosImages } from "./images.js";
import { IonosNamespaces } from "./namespaces.js";
import { IonosRegistries, REGISTRY_ID } from "./registries.js";
import { IonosScopes } from "./scopes.js";

export { DEFAULT_IONOS_ENDPOINT, type IonosProviderOptions, type RegistryCredentials } from "./config.js";

const CAPABILITIES: readonly Capability[] = ["list_images", "delete_images", "list_namespaces", "create_registries", "update_registries", "delete_registries"];

export function ionosProviderFromConfig(cfg: RegistryConfig, ctx: ProviderContext): IonosProvider {
  return new IonosProvider(ionosOptionsFromConfig(cfg, ctx.warn));
}

export class IonosProvider implements Provider {
  readonly id: string;
  readonly kind = "ionos";
  readonly capabilities: ReadonlySet<Capability> = new Set(CAPABILITIES);
  private readonly client: IonosClient;
  private readonly images: IonosImages;
  private readonly namespaces: IonosNamespaces;
  private readonly registries: IonosRegistries;

  constructor(options: IonosProviderOptions) {
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

  listImages(query: ListImagesQuery): Promise<ImagePage> {
    return this.images.listImages(query);
  }

  getImage(repository: string, digest: string, signal: AbortSignal): Promise<ImageRecord | undefined> {
    return this.images.getImage(repository, digest, signal);
  }

  deleteImage(repository: string, digest: string, signal: AbortSignal): Promise<void> {
    return this.images.deleteImage(repository, digest, signal);
  }

  listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }> {
    return this.namespaces.listNamespaces(query);
  }

  getNamespace(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    return this.namespaces.getNamespace(name, signal);
  }

  listRegistries(signal: AbortSignal): Promise<RegistryRecord[]> {
    return this.registries.listRegistries(signal);
  }

  getRegistry(registryId: string, signal: AbortSignal): Promise<RegistryRecord | undefined> {
    return this.registries.getRegistry(registryId, signal);
  }

  createRegistry(spec: RegistrySpec, signal: AbortSignal): Promise<RegistryRecord> {
    return this.registries.createRegistry(spec, signal);
  }

  updateRegistry(registryId: string, patch: RegistryPatch, signal: AbortSignal): Promise<RegistryRecord> {
    return this.registries.updateRegistry(registryId, patch, signal);
  }

  deleteRegistry(registryId: string, signal: AbortSignal): Promise<void> {
    return this.registries.deleteRegistry(registryId, signal);
  }
}
