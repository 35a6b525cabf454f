// Scaleway Container Registry as a Provider: one region of one project. Namespaces are Scaleway
// namespaces; images are the digests of a Scaleway image's tags (images.ts).
//
// Deletes are asynchronous at Scaleway (status `deleting`): deleteImage, deleteNamespace and
// deleteRepository return only once Scaleway no longer reports what they deleted, polling every
// pollIntervalMs up to deleteTimeoutMs (the client's deleteAndWait).
// ScalewayProvider builds the client and the parts (images.ts, namespaces.ts, repositories.ts) and
// forwards to them.
import type { ProviderContext } from "../../core/catalog.js";
import type { RegistryConfig } from "../../core/config.js";
import { configuredRegistry } from "../../core/listing.js";
import { PartsProvider, type Provider } from "../../core/provider.js";
import type { Capability, RegistryRecord } from "../../core/types.js";
import { ScalewayClient } from "./client.js";
import { scalewayOptionsFromConfig, type ScalewayProviderOptions } from "./config.js";
import { ScalewayImages } from "./images.js";
import { ScalewayNamespaces } from "./namespaces.js";
import { ScalewayRepositories } from "./repositories.js";

export { SCALEWAY_REGIONS, type ScalewayProviderOptions } from "./config.js";

const CAPABILITIES: readonly Capability[] = ["list_images", "delete_images", "list_namespaces", "create_namespaces", "update_namespaces", "delete_namespaces", "delete_repositories"];

export function scalewayProviderFromConfig(cfg: RegistryConfig, _ctx: ProviderContext): ScalewayProvider {
  return new ScalewayProvider(scalewayOptionsFromConfig(cfg));
}

export class ScalewayProvider extends PartsProvider {
  readonly id: string;
  readonly kind = "scaleway";
  readonly capabilities: ReadonlySet<Capability> = new Set(CAPABILITIES);
  readonly client: ScalewayClient;
  private readonly region: string;
  protected readonly images: ScalewayImages;
  protected readonly namespaces: ScalewayNamespaces;
  protected readonly repositories: ScalewayRepositories;
  declare createNamespace: NonNullable<Provider["createNamespace"]>;
  declare updateNamespace: NonNullable<Provider["updateNamespace"]>;
  declare deleteNamespace: NonNullable<Provider["deleteNamespace"]>;
  declare deleteRepository: NonNullable<Provider["deleteRepository"]>;

  constructor(options: ScalewayProviderOptions) {
    super();
    this.id = options.id;
    this.region = options.region;
    this.client = new ScalewayClient({ ...options, registryId: options.id });
    // The images find a repository's namespace through the namespaces; a namespace change drops what the images read.
    this.namespaces = new ScalewayNamespaces(this.client, this.id, options.projectId, {
      created: () => this.images.forgetSnapshots(),
      deleted: () => this.images.forgetSnapshotsAndTags(),
    });
    this.images = new ScalewayImages(this.client, this.id, this.namespaces, options);
    this.repositories = new ScalewayRepositories(this.client, this.id, this.images);
    this.forwardCalls();
  }

  describe(): RegistryRecord {
    const host = `rg.${this.region}.scw.cloud`;
    return configuredRegistry({ id: this.id, kind: this.kind, endpoint: host, hostname: host, location: this.region, capabilities: this.capabilities });
  }

  /** How many snapshots and tag listings the images part keeps now. */
  cacheSizes(): { snapshots: number; tags: number } {
    return this.images.cacheSizes();
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
