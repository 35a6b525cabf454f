// The Yandex Cloud Container Registry adapter, and how a `provider: yandex` config entry becomes one.
import type { ProviderContext } from "../../core/catalog.js";
import { ConfigError, type RegistryConfig } from "../../core/config.js";
import { entryName, fieldName, insecureSetting, onlyFields, optionalString, requiredString } from "../../core/registry-config.js";
import { parseAuthorizedKey, type IamCredentials } from "./iam.js";
import { YandexProvider } from "./provider.js";

export { YandexProvider, DEFAULT_OPERATION_ENDPOINT, DEFAULT_YANDEX_ENDPOINT, type YandexProviderOptions } from "./provider.js";
export { DEFAULT_IAM_ENDPOINT, IamTokenSource, parseAuthorizedKey, type AuthorizedKey, type IamCredentials } from "./iam.js";

/**
 * Config fields (secrets through ${VAR} or a `<field>File`): folderId, registryId, one of
 * serviceAccountKey (the key file's JSON; usually serviceAccountKeyFile), oauthToken or iamToken;
 * endpoint, operationEndpoint, iamEndpoint, insecure, hostname.
 */
const KNOWN_FIELDS = new Set([
  "id",
  "provider",
  "folderId",
  "registryId",
  "serviceAccountKey",
  "oauthToken",
  "iamToken",
  "endpoint",
  "operationEndpoint",
  "iamEndpoint",
  "insecure",
  "hostname",
]);

export function yandexProviderFromConfig(cfg: RegistryConfig, _ctx: ProviderContext): YandexProvider {
  onlyFields(cfg, KNOWN_FIELDS);
  const given = ["serviceAccountKey", "oauthToken", "iamToken"].filter((k) => cfg[k] !== undefined && cfg[k] !== "");
  if (given.length !== 1) throw new ConfigError(`${entryName(cfg)}: yandex needs exactly one of serviceAccountKey (or serviceAccountKeyFile), oauthToken or iamToken`);
  let credentials: IamCredentials;
  if (given[0] === "serviceAccountKey") credentials = { kind: "key", key: parseAuthorizedKey(cfg.serviceAccountKey, fieldName(cfg, "serviceAccountKey")) };
  else if (given[0] === "oauthToken") credentials = { kind: "oauth", oauthToken: requiredString(cfg, "oauthToken") };
  else credentials = { kind: "static", iamToken: requiredString(cfg, "iamToken") };
  return new YandexProvider({
    id: cfg.id,
    folderId: requiredString(cfg, "folderId"),
    registryId: optionalString(cfg, "registryId"),
    credentials,
    endpoint: optionalString(cfg, "endpoint"),
    operationEndpoint: optionalString(cfg, "operationEndpoint"),
    iamEndpoint: optionalString(cfg, "iamEndpoint"),
    insecure: insecureSetting(cfg),
    hostname: optionalString(cfg, "hostname"),
  });
}
