// IbmProviderOptions, and the `provider: ibm` registry entry of the config file checked and turned into them.
// Secrets (apiKey) arrive already resolved from ${ENV} or apiKeyFile and are never echoed in errors.
import { ConfigError, type RegistryConfig } from "../../core/config.js";
import { BREAKER_FIELDS, breakerSettings, endpointSetting, fieldName, insecureSetting, onlyFields, optionalBoolean, optionalDuration, optionalInteger, optionalString, requiredString } from "../../core/registry-config.js";
import type { IbmClientOptions } from "./client.js";

export interface IbmProviderOptions extends Omit<IbmClientOptions, "registryId"> {
  id: string;
  /** The region key from the config (shown as the registry's location); undefined with registryUrl. */
  region?: string;
  /** Resource group id sent as X-Auth-Resource-Group when creating namespaces. */
  resourceGroup?: string;
  /** How long a listing serves a walk's later pages. Default 30 s; 0 fetches one per page. */
  listingCacheTtlMs?: number;
  /** Fetch each listed image's manifest for config and layers. Default true. */
  listManifests?: boolean;
  warn?: (msg: string, ctx?: object) => void;
}

/** Region keys → registry API hosts, as the IBM SDK's getServiceUrlForRegion maps them. */
export const IBM_REGION_HOSTS: Readonly<Record<string, string>> = {
  global: "icr.io",
  "us-south": "us.icr.io",
  "uk-south": "uk.icr.io",
  "eu-gb": "uk.icr.io",
  "eu-central": "de.icr.io",
  "eu-de": "de.icr.io",
  "ap-north": "jp.icr.io",
  "jp-tok": "jp.icr.io",
  "ap-south": "au.icr.io",
  "au-syd": "au.icr.io",
  "jp-osa": "jp2.icr.io",
  "ca-tor": "ca.icr.io",
  "br-sao": "br.icr.io",
};

export const DEFAULT_IAM_URL = "https://iam.cloud.ibm.com";

const KNOWN_FIELDS = new Set([
  "id",
  "provider",
  "region",
  "registryUrl",
  "iamUrl",
  "insecure",
  "account",
  "apiKey",
  "resourceGroup",
  "listingCacheTtl",
  "listManifests",
  "maxAttempts",
  "maxConcurrency",
  "requestTimeout",
  "maxRetryAfter",
  ...BREAKER_FIELDS,
]);

export function ibmOptionsFromConfig(cfg: RegistryConfig, warn?: (msg: string, ctx?: object) => void): IbmProviderOptions {
  onlyFields(cfg, KNOWN_FIELDS);
  const region = optionalString(cfg, "region");
  let baseUrl: URL;
  if (optionalString(cfg, "registryUrl") !== undefined) {
    baseUrl = new URL(endpointSetting(cfg, "registryUrl", "").origin);
  } else {
    const known = Object.keys(IBM_REGION_HOSTS).join(", ");
    if (region === undefined) throw new ConfigError(`${fieldName(cfg, "region")}: required unless registryUrl is set (known: ${known})`);
    const host = IBM_REGION_HOSTS[region];
    if (host === undefined) throw new ConfigError(`${fieldName(cfg, "region")}: unknown region ${JSON.stringify(region)} (known: ${known})`);
    baseUrl = new URL(`https://${host}`);
  }
  return {
    id: cfg.id,
    region,
    baseUrl,
    iamUrl: new URL(endpointSetting(cfg, "iamUrl", DEFAULT_IAM_URL).origin),
    insecure: insecureSetting(cfg),
    account: requiredString(cfg, "account"),
    apiKey: requiredString(cfg, "apiKey", "use ${ENV_VAR} or apiKeyFile"),
    resourceGroup: optionalString(cfg, "resourceGroup"),
    listingCacheTtlMs: optionalDuration(cfg, "listingCacheTtl"),
    listManifests: optionalBoolean(cfg, "listManifests"),
    maxAttempts: optionalInteger(cfg, "maxAttempts", 1, 10),
    maxConcurrency: optionalInteger(cfg, "maxConcurrency", 1, 64),
    requestTimeoutMs: optionalDuration(cfg, "requestTimeout"),
    maxRetryAfterMs: optionalDuration(cfg, "maxRetryAfter"),
    ...breakerSettings(cfg),
    warn,
  };
}
