// IBM Cloud Container Registry as a Provider: one region endpoint of one account. Namespaces are IBM
// namespaces; a repository is `<namespace>/<repo>`; an image is one digest in one repository.
// IbmProvider builds the client and the parts (images.ts, namespaces.ts) and forwards to them.
import type { ProviderContext } from "../../core/catalog.js";
import type { RegistryConfig } from "../../core/config.js";
import { configuredRegistry } from "../../core/listing.js";
import type { ImagePage, ListImagesQuery, ListNamespacesQuery, Provider } from "../../core/provider.js";
import type { Capability, ImageRecord, NamespaceRecord, RegistryRecord, Visibility } from "../../core/types.js";
import { IbmClient, type IbmStats } from "./client.js";
import { ibmOptionsFromConfig, type IbmProviderOptions } from "./config.js";
import { IbmImages } from "./images.js";
import { IbmNamespaces } from "./namespaces.js";

export { IBM_REGION_HOSTS, type IbmProviderOptions } from "./config.js";

const CAPABILITIES: readonly Capability[] = ["list_images", "delete_images", "list_namespaces", "create_namespaces", "delete_namespaces"];

export function ibmProviderFromConfig(cfg: RegistryConfig, ctx: ProviderContext): IbmProvider {
  return new IbmProvider(ibmOptionsFromConfig(cfg, ctx.warn));
}

export class IbmProvider implements Provider {
  readonly id: string;
  readonly kind = "ibm";
  readonly capabilities: ReadonlySet<Capability> = new Set(CAPABILITIES);
  readonly client: IbmClient;
  private readonly region?: string;
  private readonly images: IbmImages;
  private readonly namespaces: IbmNamespaces;

  constructor(options: IbmProviderOptions) {
    this.id = options.id;
    this.region = options.region;
    this.client = new IbmClient({ ...options, registryId: options.id });
    this.images = new IbmImages(this.client, this.id, options);
    this.namespaces = new IbmNamespaces(this.client, this.id, options.resourceGroup, { deleted: () => this.images.forgetListings() });
  }

  describe(): RegistryRecord {
    return configuredRegistry({ id: this.id, kind: this.kind, endpoint: this.client.host, hostname: this.client.host, location: this.region, capabilities: this.capabilities });
  }

  stats(): IbmStats {
    return this.client.stats();
  }

  /** How many listings and manifests the images part keeps now. */
  cacheSizes(): { listings: number; manifests: number } {
    return this.images.cacheSizes();
  }

  async close(): Promise<void> {
    await this.client.close();
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

  createNamespace(ns: { name: string; description: string; visibility: Visibility }, signal: AbortSignal): Promise<NamespaceRecord> {
    return this.namespaces.createNamespace(ns, signal);
  }

  deleteNamespace(name: string, signal: AbortSignal): Promise<void> {
    return this.namespaces.deleteNamespace(name, signal);
  }
}
