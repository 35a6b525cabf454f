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
import { PartsProvider, type DeclaredCalls } from "../../core/provider.js";
import type { Capability } from "../../core/types.js";
import { ScalewayClient } from "./client.js";
import { scalewayOptionsFromConfig, type ScalewayProviderOptions } from "./config.js";
import { ScalewayImages } from "./images.js";
import { ScalewayNamespaces } from "./namespaces.js";
import { ScalewayRepositories } from "./repositories.js";
import { ScalewayTags } from "./tags.js";

export { SCALEWAY_REGIONS, type ScalewayProviderOptions } from "./config.js";

const CAPABILITIES = ["list_images", "delete_images", "list_namespaces", "create_namespaces", "update_namespaces", "delete_namespaces", "delete_repositories", "delete_tags"] as const satisfies readonly Capability[];

export function scalewayProviderFromConfig(cfg: RegistryConfig, _ctx: ProviderContext): ScalewayProvider {
  return new ScalewayProvider(scalewayOptionsFromConfig(cfg));
}

/** The calls CAPABILITIES names, which the parts make. */
export interface ScalewayProvider extends DeclaredCalls<typeof CAPABILITIES> {}
export class ScalewayProvider extends PartsProvider<{ images: ScalewayImages; namespaces: ScalewayNamespaces; repositories: ScalewayRepositories; tags: ScalewayTags }> {
  readonly client: ScalewayClient;

  constructor(options: ScalewayProviderOptions) {
    super("scaleway", options.id, CAPABILITIES);
    this.client = new ScalewayClient({ ...options, registryId: options.id });
    // The images find a repository's namespace through the namespaces; a namespace change drops what the images read.
    const namespaces = new ScalewayNamespaces(this.client, this.id, options.projectId, {
      created: () => this.parts.images.forgetSnapshots(),
      deleted: () => this.parts.images.forgetSnapshotsAndTags(),
    });
    const images = new ScalewayImages(this.client, this.id, namespaces, options);
    const host = `rg.${options.region}.scw.cloud`;
    const repositories = new ScalewayRepositories(this.client, this.id, images);
    this.assemble({ images, namespaces, repositories, tags: new ScalewayTags(this.client, this.id, images) }, { endpoint: host, hostname: host, location: options.region });
  }

  /** How many snapshots and tag listings the images part keeps now. */
  cacheSizes(): { snapshots: number; tags: number } {
    return this.parts.images.cacheSizes();
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
