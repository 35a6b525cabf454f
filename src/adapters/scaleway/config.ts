// ScalewayProviderOptions, and the `provider: scaleway` registry entry of the config file checked and
// turned into them. The secretKey arrives already resolved from ${ENV} or secretKeyFile.
import { ConfigError, type RegistryConfig } from "../../core/config.js";
import { BREAKER_FIELDS, breakerSettings, endpointSetting, fieldName, insecureSetting, onlyFields, optionalDuration, optionalInteger, requiredString } from "../../core/registry-config.js";
import type { ScalewayClientOptions } from "./client.js";

/** The client's options (pollIntervalMs and deleteTimeoutMs among them) and the provider's own. */
export interface ScalewayProviderOptions extends Omit<ScalewayClientOptions, "registryId"> {
  id: string;
  projectId: string;
  /** How long a repository snapshot (and the tags read under it) serves a walk's later pages. Default 30 s. */
  listingCacheTtlMs?: number;
}

export const SCALEWAY_REGIONS = ["fr-par", "nl-ams", "pl-waw"] as const;
export const DEFAULT_API_URL = "https://api.scaleway.com";

const KNOWN_FIELDS = new Set([
  "id",
  "provider",
  "region",
  "projectId",
  "secretKey",
  "apiUrl",
  "insecure",
  "listingCacheTtl",
  "pollInterval",
  "deleteTimeout",
  "maxAttempts",
  "maxConcurrency",
  "requestTimeout",
  "maxRetryAfter",
  ...BREAKER_FIELDS,
]);

export function scalewayOptionsFromConfig(cfg: RegistryConfig): ScalewayProviderOptions {
  onlyFields(cfg, KNOWN_FIELDS);
  const region = requiredString(cfg, "region");
  if (!(SCALEWAY_REGIONS as readonly string[]).includes(region)) {
    throw new ConfigError(`${fieldName(cfg, "region")}: unknown region ${JSON.stringify(region)} (known: ${SCALEWAY_REGIONS.join(", ")})`);
  }
  return {
    id: cfg.id,
    region,
    projectId: requiredString(cfg, "projectId"),
    secretKey: requiredString(cfg, "secretKey", "use ${ENV_VAR} or secretKeyFile"),
    apiUrl: new URL(endpointSetting(cfg, "apiUrl", DEFAULT_API_URL).origin),
    insecure: insecureSetting(cfg),
    listingCacheTtlMs: optionalDuration(cfg, "listingCacheTtl"),
    pollIntervalMs: optionalDuration(cfg, "pollInterval"),
    deleteTimeoutMs: optionalDuration(cfg, "deleteTimeout"),
    maxAttempts: optionalInteger(cfg, "maxAttempts", 1, 10),
    maxConcurrency: optionalInteger(cfg, "maxConcurrency", 1, 64),
    requestTimeoutMs: optionalDuration(cfg, "requestTimeout"),
    maxRetryAfterMs: optionalDuration(cfg, "maxRetryAfter"),
    ...breakerSettings(cfg),
  };
}
