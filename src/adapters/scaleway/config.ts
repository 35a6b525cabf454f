// The `provider: scaleway` registry entry of the config file, checked and turned into
// ScalewayProviderOptions. The secretKey arrives already resolved from ${ENV} or secretKeyFile.
import { parseDuration, type RegistryConfig } from "../../core/config.js";
import { credentialEndpoint } from "../../core/rest.js";
import type { ScalewayProviderOptions } from "./provider.js";

export const SCALEWAY_REGIONS = ["fr-par", "nl-ams", "pl-waw"] as const;
export const DEFAULT_API_URL = "https://api.scaleway.com";

const KNOWN_FIELDS = new Set([
  "id",
  "provider",
  "region",
  "projectId",
  "secretKey",
  "apiUrl",
  "listingCacheTtl",
  "pollInterval",
  "deleteTimeout",
  "maxAttempts",
  "maxConcurrency",
  "requestTimeout",
  "maxRetryAfter",
]);

export function scalewayOptionsFromConfig(cfg: RegistryConfig): ScalewayProviderOptions {
  const where = `registry ${cfg.id}`;
  for (const key of Object.keys(cfg)) {
    if (!KNOWN_FIELDS.has(key)) throw new Error(`${where}: unknown field ${JSON.stringify(key)} for provider scaleway`);
  }
  const region = requiredString(cfg, "region", where);
  if (!(SCALEWAY_REGIONS as readonly string[]).includes(region)) {
    throw new Error(`${where}: unknown region ${JSON.stringify(region)} (known: ${SCALEWAY_REGIONS.join(", ")})`);
  }
  const duration = (key: string) => (cfg[key] === undefined ? undefined : parseDuration(cfg[key], `${where}: ${key}`));
  return {
    id: cfg.id,
    region,
    projectId: requiredString(cfg, "projectId", where),
    secretKey: requiredString(cfg, "secretKey", where),
    apiUrl: credentialEndpoint(typeof cfg.apiUrl === "string" && cfg.apiUrl !== "" ? cfg.apiUrl : DEFAULT_API_URL, `${where}: apiUrl`),
    listingCacheTtlMs: duration("listingCacheTtl"),
    pollIntervalMs: duration("pollInterval"),
    deleteTimeoutMs: duration("deleteTimeout"),
    maxAttempts: optionalInteger(cfg, "maxAttempts", where, 1, 10),
    maxConcurrency: optionalInteger(cfg, "maxConcurrency", where, 1, 64),
    requestTimeoutMs: duration("requestTimeout"),
    maxRetryAfterMs: duration("maxRetryAfter"),
  };
}

function requiredString(cfg: RegistryConfig, key: string, where: string): string {
  const v = cfg[key];
  if (typeof v !== "string" || v === "") throw new Error(`${where}: ${key} is required (use \${ENV_VAR} or ${key}File for secrets)`);
  return v;
}

function optionalInteger(cfg: RegistryConfig, key: string, where: string, min: number, max: number): number | undefined {
  const v = cfg[key];
  if (v === undefined) return undefined;
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) throw new Error(`${where}: ${key} must be an integer ${min}..${max}`);
  return n;
}
