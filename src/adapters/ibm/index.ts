// IBM Cloud Container Registry as a Provider: one region endpoint of one account. Namespaces are IBM
// namespaces; a repository is `<namespace>/<repo>`; an image is one digest in one repository.
// IbmProvider builds the client and the parts (images.ts, namespaces.ts, repositories.ts) and forwards to them.
import type { ProviderContext } from "../../core/catalog.js";
import type { RegistryConfig } from "../../core/config.js";
import { PartsProvider, type DeclaredCalls } from "../../core/provider.js";
import type { Capability } from "../../core/types.js";
import { IbmClient, type IbmStats } from "./client.js";
import { ibmOptionsFromConfig, type IbmProviderOptions } from "./config.js";
import { IbmImages } from "./images.js";
import { IbmNamespaces } from "./namespaces.js";
import { IbmRepositories } from "./repositories.js";
import { IbmTags } from "./tags.js";

export { IBM_REGION_HOSTS, type IbmProviderOptions } from "./config.js";

const CAPABILITIES = ["list_images", "delete_images", "list_namespaces", "create_namespaces", "delete_namespaces", "delete_repositories", "delete_tags"] as const satisfies readonly Capability[];

export function ibmProviderFromConfig(cfg: RegistryConfig, ctx: ProviderContext): IbmProvider {
  return new IbmProvider(ibmOptionsFromConfig(cfg, ctx.warn));
}

/** The calls CAPABILITIES names, which the parts make. */
export interface IbmProvider extends DeclaredCalls<typeof CAPABILITIES> {}
export class IbmProvider extends PartsProvider<{ images: IbmImages; namespaces: IbmNamespaces; repositories: IbmRepositories; tags: IbmTags }> {
  readonly client: IbmClient;

  constructor(options: IbmProviderOptions) {
    super("ibm", options.id, CAPABILITIES);
    this.client = new IbmClient({ ...options, registryId: options.id });
    const images = new IbmImages(this.client, this.id, options);
    const namespaces = new IbmNamespaces(this.client, this.id, options.resourceGroup, { deleted: () => images.forgetListings() });
    const repositories = new IbmRepositories(this.client, this.id, images);
    this.assemble({ images, namespaces, repositories, tags: new IbmTags(this.client, images) }, { endpoint: this.client.host, hostname: this.client.host, location: options.region });
  }

  stats(): IbmStats {
    return this.client.stats();
  }

  /** How many listings and manifests the images part keeps now, and the IAM tokens kept to be scrubbed. */
  cacheSizes(): { listings: number; manifests: number; issuedTokens: number } {
    return { ...this.parts.images.cacheSizes(), issuedTokens: this.client.issuedTokens };
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
