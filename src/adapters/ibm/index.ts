// IBM Cloud Container Registry as a Provider: one region endpoint of one account. Namespaces are IBM
// namespaces; a repository is `<namespace>/<repo>`; an image is one digest in one repository.
// IbmProvider builds the client and the parts (images.ts, namespaces.ts, repositories.ts) and forwards to them.
import type { ProviderContext } from "../../core/catalog.js";
import type { RegistryConfig } from "../../core/config.js";
import { configuredRegistry } from "../../core/listing.js";
import { PartsProvider, type Provider } from "../../core/provider.js";
import type { Capability, RegistryRecord } from "../../core/types.js";
import { IbmClient, type IbmStats } from "./client.js";
import { ibmOptionsFromConfig, type IbmProviderOptions } from "./config.js";
import { IbmImages } from "./images.js";
import { IbmNamespaces } from "./namespaces.js";
import { IbmRepositories } from "./repositories.js";

export { IBM_REGION_HOSTS, type IbmProviderOptions } from "./config.js";

const CAPABILITIES: readonly Capability[] = ["list_images", "delete_images", "list_namespaces", "create_namespaces", "delete_namespaces", "delete_repositories"];

export function ibmProviderFromConfig(cfg: RegistryConfig, ctx: ProviderContext): IbmProvider {
  return new IbmProvider(ibmOptionsFromConfig(cfg, ctx.warn));
}

export class IbmProvider extends PartsProvider {
  readonly id: string;
  readonly kind = "ibm";
  readonly capabilities: ReadonlySet<Capability> = new Set(CAPABILITIES);
  readonly client: IbmClient;
  private readonly region?: string;
  protected readonly images: IbmImages;
  protected readonly namespaces: IbmNamespaces;
  protected readonly repositories: IbmRepositories;
  declare createNamespace: NonNullable<Provider["createNamespace"]>;
  declare deleteNamespace: NonNullable<Provider["deleteNamespace"]>;
  declare deleteRepository: NonNullable<Provider["deleteRepository"]>;

  constructor(options: IbmProviderOptions) {
    super();
    this.id = options.id;
    this.region = options.region;
    this.client = new IbmClient({ ...options, registryId: options.id });
    this.images = new IbmImages(this.client, this.id, options);
    this.namespaces = new IbmNamespaces(this.client, this.id, options.resourceGroup, { deleted: () => this.images.forgetListings() });
    this.repositories = new IbmRepositories(this.client, this.id, this.images);
    this.forwardCalls();
  }

  describe(): RegistryRecord {
    return configuredRegistry({ id: this.id, kind: this.kind, endpoint: this.client.host, hostname: this.client.host, location: this.region, capabilities: this.capabilities });
  }

  stats(): IbmStats {
    return this.client.stats();
  }

  /** How many listings and manifests the images part keeps now, and the IAM tokens kept to be scrubbed. */
  cacheSizes(): { listings: number; manifests: number; issuedTokens: number } {
    return { ...this.images.cacheSizes(), issuedTokens: this.client.issuedTokens };
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
