// The `provider: yandex` entry of the config file, checked and turned into YandexProviderOptions; the
// options themselves and the default API and operation endpoints.
import { ConfigError, type RegistryConfig } from "../../core/config.js";
import { entryName, fieldName, insecureSetting, onlyFields, optionalString, requiredString } from "../../core/registry-config.js";
import type { YandexClientOptions } from "./client.js";
import { parseAuthorizedKey, type IamCredentials } from "./iam.js";

export const DEFAULT_YANDEX_ENDPOINT = "https://container-registry.api.cloud.yandex.net";
export const DEFAULT_OPERATION_ENDPOINT = "https://operation.api.cloud.yandex.net";

export interface YandexProviderOptions extends Omit<YandexClientOptions, "registryId" | "auth"> {
  id: string;
  folderId: string;
  /** One registry (crp…); undefined covers every registry of the folder. */
  registryId?: string;
  credentials: IamCredentials;
  /** Container Registry API base; paths go under /container-registry/v1. */
  endpoint?: string;
  /** Operation API base; operations are read at /operations/{id}. */
  operationEndpoint?: string;
  /** Where IAM tokens are exchanged (also the JWT's `aud`). */
  iamEndpoint?: string;
  /** Host images are pulled from. Default cr.yandex. */
  hostname?: string;
  /** First wait between operation polls; doubles up to 5 s. Default 250 ms. */
  operationPollMs?: number;
  /** How long an operation is polled before giving up. Default 10 min. */
  operationTimeoutMs?: number;
}

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

export function yandexOptionsFromConfig(cfg: RegistryConfig): YandexProviderOptions {
  onlyFields(cfg, KNOWN_FIELDS);
  const given = ["serviceAccountKey", "oauthToken", "iamToken"].filter((k) => cfg[k] !== undefined && cfg[k] !== "");
  if (given.length !== 1) throw new ConfigError(`${entryName(cfg)}: yandex needs exactly one of serviceAccountKey (or serviceAccountKeyFile), oauthToken or iamToken`);
  let credentials: IamCredentials;
  if (given[0] === "serviceAccountKey") credentials = { kind: "key", key: parseAuthorizedKey(cfg.serviceAccountKey, fieldName(cfg, "serviceAccountKey")) };
  else if (given[0] === "oauthToken") credentials = { kind: "oauth", oauthToken: requiredString(cfg, "oauthToken") };
  else credentials = { kind: "static", iamToken: requiredString(cfg, "iamToken") };
  return {
    id: cfg.id,
    folderId: requiredString(cfg, "folderId"),
    registryId: optionalString(cfg, "registryId"),
    credentials,
    endpoint: optionalString(cfg, "endpoint"),
    operationEndpoint: optionalString(cfg, "operationEndpoint"),
    iamEndpoint: optionalString(cfg, "iamEndpoint"),
    insecure: insecureSetting(cfg),
    hostname: optionalString(cfg, "hostname"),
  };
}
