// The `provider: ibm` registry entry of the config file, checked and turned into IbmProviderOptions.
// Secrets (apiKey) arrive already resolved from ${ENV} or apiKeyFile and are never echoed in errors.
import { parseDuration, type RegistryConfig } from "../../core/config.js";
import { credentialEndpoint } from "../../core/rest.js";
import type { IbmProviderOptions } from "./provider.js";

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
  "account",
  "apiKey",
  "resourceGroup",
  "listingCacheTtl",
  "listManifests",
  "maxAttempts",
  "maxConcurrency",
  "requestTimeout",
  "maxRetryAfter",
]);

export function ibmOptionsFromConfig(cfg: RegistryConfig, warn?: (msg: string, ctx?: object) => void): IbmProviderOptions {
  const where = `registry ${cfg.id}`;
  for (const key of Object.keys(cfg)) {
    if (!KNOWN_FIELDS.has(key)) throw new Error(`${where}: unknown field ${JSON.stringify(key)} for provider ibm`);
  }
  const region = optionalString(cfg, "region");
  const registryUrl = optionalString(cfg, "registryUrl");
  let baseUrl: URL;
  if (registryUrl !== undefined) {
    baseUrl = credentialEndpoint(registryUrl, `${where}: registryUrl`);
  } else {
    if (region === undefined) throw new Error(`${where}: region (${Object.keys(IBM_REGION_HOSTS).join(", ")}) or registryUrl is required`);
    const host = IBM_REGION_HOSTS[region];
    if (host === undefined) throw new Error(`${where}: unknown region ${JSON.stringify(region)} (known: ${Object.keys(IBM_REGION_HOSTS).join(", ")})`);
    baseUrl = new URL(`https://${host}`);
  }
  return {
    id: cfg.id,
    region,
    baseUrl,
    iamUrl: credentialEndpoint(optionalString(cfg, "iamUrl") ?? DEFAULT_IAM_URL, `${where}: iamUrl`),
    account: requiredString(cfg, "account", where),
    apiKey: requiredString(cfg, "apiKey", where),
    resourceGroup: optionalString(cfg, "resourceGroup"),
    listingCacheTtlMs: cfg.listingCacheTtl === undefined ? undefined : parseDuration(cfg.listingCacheTtl, `${where}: listingCacheTtl`),
    listManifests: optionalBoolean(cfg, "listManifests", where),
    maxAttempts: optionalInteger(cfg, "maxAttempts", where, 1, 10),
    maxConcurrency: optionalInteger(cfg, "maxConcurrency", where, 1, 64),
    requestTimeoutMs: cfg.requestTimeout === undefined ? undefined : parseDuration(cfg.requestTimeout, `${where}: requestTimeout`),
    maxRetryAfterMs: cfg.maxRetryAfter === undefined ? undefined : parseDuration(cfg.maxRetryAfter, `${where}: maxRetryAfter`),
    warn,
  };
}

function requiredString(cfg: RegistryConfig, key: string, where: string): string {
  const v = cfg[key];
  if (typeof v !== "string" || v === "") throw new Error(`${where}: ${key} is required (use \${ENV_VAR} or ${key}File for secrets)`);
  return v;
}

function optionalString(cfg: RegistryConfig, key: string): string | undefined {
  const v = cfg[key];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new Error(`registry ${cfg.id}: ${key} must be a string`);
  return v;
}

function optionalBoolean(cfg: RegistryConfig, key: string, where: string): boolean | undefined {
  const v = cfg[key];
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") throw new Error(`${where}: ${key} must be true or false`);
  return v;
}

function optionalInteger(cfg: RegistryConfig, key: string, where: string, min: number, max: number): number | undefined {
  const v = cfg[key];
  if (v === undefined) return undefined;
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) throw new Error(`${where}: ${key} must be an integer ${min}..${max}`);
  return n;
}
