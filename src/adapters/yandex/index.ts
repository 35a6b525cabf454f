// The Yandex Cloud Container Registry adapter, over its REST API, and how a `provider: yandex` config
// entry becomes one. One configured entry is a provider account (a Yandex folder): it covers every
// registry of the folder, or the one named by `registryId`.
import type { ProviderContext } from "../../core/catalog.js";
import { ConfigError, type RegistryConfig } from "../../core/config.js";
import { PartsProvider, type AccountCalls, type DeclaredCalls } from "../../core/provider.js";
import { fieldName } from "../../core/registry-config.js";
import type { Capability } from "../../core/types.js";
import { checkedEndpoint } from "../../core/url-policy.js";
import { YandexApi, YandexClient } from "./client.js";
import { DEFAULT_OPERATION_ENDPOINT, DEFAULT_YANDEX_ENDPOINT, yandexOptionsFromConfig, type YandexProviderOptions } from "./config.js";
import { DEFAULT_IAM_ENDPOINT, IamTokenSource } from "./iam.js";
import { YandexImages } from "./images.js";
import { YandexNamespaces } from "./namespaces.js";
import { YANDEX_ID, YandexRegistries } from "./registries.js";
import { YandexRepositories } from "./repositories.js";

export { DEFAULT_OPERATION_ENDPOINT, DEFAULT_YANDEX_ENDPOINT, type YandexProviderOptions } from "./config.js";
export { DEFAULT_IAM_ENDPOINT, IamTokenSource, parseAuthorizedKey, type AuthorizedKey, type IamCredentials } from "./iam.js";

const CAPABILITIES = ["list_images", "delete_images", "list_namespaces", "create_repositories", "delete_repositories", "create_registries", "update_registries", "delete_registries"] as const satisfies readonly Capability[];

export function yandexProviderFromConfig(cfg: RegistryConfig, _ctx: ProviderContext): YandexProvider {
  return new YandexProvider(yandexOptionsFromConfig(cfg));
}

/** The calls CAPABILITIES names and the registry reads, which the parts make. */
export interface YandexProvider extends DeclaredCalls<typeof CAPABILITIES>, AccountCalls {}
export class YandexProvider extends PartsProvider {
  readonly iam: IamTokenSource;
  private readonly client: YandexClient;
  /** The IAM exchange's own client: it sends no token. */
  private readonly iamClient: YandexClient;
  private readonly api: YandexApi;

  constructor(options: YandexProviderOptions) {
    super("yandex", options.id, CAPABILITIES);
    // Options are the entry's fields, so a bad one is a ConfigError naming it.
    if (!options.folderId) throw new ConfigError(`${fieldName(options, "folderId")}: required`);
    if (options.registryId !== undefined && !YANDEX_ID.test(options.registryId)) {
      throw new ConfigError(`${fieldName(options, "registryId")}: not a Yandex registry id (1-50 lowercase letters and digits)`);
    }
    const insecure = options.insecure ?? false;
    const api = baseUrl(options.endpoint ?? DEFAULT_YANDEX_ENDPOINT, options.id, "endpoint", insecure);
    const operations = baseUrl(options.operationEndpoint ?? DEFAULT_OPERATION_ENDPOINT, options.id, "operationEndpoint", insecure);
    const iamEndpoint = baseUrl(options.iamEndpoint ?? DEFAULT_IAM_ENDPOINT, options.id, "iamEndpoint", insecure);
    // The exchange carries the OAuth token or a signed JWT: the IAM endpoint's errors are scrubbed of them.
    this.iamClient = new YandexClient({ ...options, registryId: options.id, secrets: () => this.iam.secrets() });
    this.iam = new IamTokenSource(options.id, options.credentials, iamEndpoint, this.iamClient);
    this.client = new YandexClient({ ...options, registryId: options.id, auth: this.iam });
    this.api = new YandexApi({ client: this.client, api, operations, pollMs: options.operationPollMs ?? 250, operationTimeoutMs: options.operationTimeoutMs ?? 10 * 60_000 });
    const hostname = options.hostname ?? "cr.yandex";
    const registries = new YandexRegistries(this.api, options.folderId, hostname);
    const entry = { id: options.id, pinned: options.registryId };
    this.assemble({
      images: new YandexImages(entry, this.api, options.folderId),
      namespaces: new YandexNamespaces(entry, this.api, registries),
      repositories: new YandexRepositories(entry, this.api, this.client, registries, options.folderId),
      registries,
    }, { endpoint: this.api.host, hostname });
  }

  async close(): Promise<void> {
    await Promise.all([this.client.close(), this.iamClient.close()]);
  }
}

function baseUrl(value: string, id: string, field: string, insecure: boolean): URL {
  const url = checkedEndpoint(value, fieldName({ id }, field), insecure);
  if (field !== "iamEndpoint" && !url.pathname.endsWith("/")) url.pathname += "/";
  return url;
}
