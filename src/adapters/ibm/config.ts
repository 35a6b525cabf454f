// IbmProviderOptions, and the `provider: ibm` registry entry of the config file: its schema, giving them.
// Secrets (apiKey) arrive already resolved from ${ENV} or apiKeyFile and are never echoed in errors.
import { z } from "zod";
import type { RegistryConfig } from "../../core/config.js";
import { entryDuration, entryFlag, entryText, requiredText } from "../../core/config-schema.js";
import { REST_CLIENT_SHAPE, breakerTuning, checkedEndpointIn, insecureField, parseEntry, registryEntry, type EntryOptions } from "../../core/registry-config.js";
import type { IbmClientOptions } from "./client.js";

/** The entry's options, and those only code sets. */
export interface IbmProviderOptions extends EntryOptions<typeof ibmEntrySchema>, Omit<IbmClientOptions, "registryId" | keyof EntryOptions<typeof ibmEntrySchema>> {
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

export const ibmEntrySchema = registryEntry({
  region: entryText(),
  registryUrl: entryText(),
  iamUrl: entryText(),
  insecure: insecureField(),
  account: requiredText(),
  apiKey: requiredText("use ${ENV_VAR} or apiKeyFile"),
  resourceGroup: entryText(),
  listingCacheTtl: entryDuration(),
  listManifests: entryFlag(),
  ...REST_CLIENT_SHAPE,
}).transform((e, ctx) => {
  const insecure = e.insecure ?? false;
  let baseUrl: URL | undefined;
  if (e.registryUrl !== undefined) {
    baseUrl = checkedEndpointIn(ctx, "registryUrl", e.registryUrl, insecure);
  } else {
    const known = Object.keys(IBM_REGION_HOSTS).join(", ");
    const host = e.region === undefined ? undefined : IBM_REGION_HOSTS[e.region];
    if (host === undefined) {
      const problem = e.region === undefined ? `required unless registryUrl is set (known: ${known})` : `unknown region ${JSON.stringify(e.region)} (known: ${known})`;
      ctx.addIssue({ code: "custom", message: problem, path: ["region"] });
      return z.NEVER;
    }
    baseUrl = new URL(`https://${host}`);
  }
  const iamUrl = baseUrl && checkedEndpointIn(ctx, "iamUrl", e.iamUrl ?? DEFAULT_IAM_URL, insecure);
  if (baseUrl === undefined || iamUrl === undefined) return z.NEVER;
  return {
    id: e.id,
    /** The region key from the config (shown as the registry's location); undefined with registryUrl. */
    region: e.region,
    baseUrl: new URL(baseUrl.origin),
    iamUrl: new URL(iamUrl.origin),
    insecure: e.insecure,
    account: e.account,
    apiKey: e.apiKey,
    /** Resource group id sent as X-Auth-Resource-Group when creating namespaces. */
    resourceGroup: e.resourceGroup,
    /** How long a listing serves a walk's later pages. Default 30 s; 0 fetches one per page. */
    listingCacheTtlMs: e.listingCacheTtl,
    /** Fetch each listed image's manifest for config and layers. Default true. */
    listManifests: e.listManifests,
    maxAttempts: e.maxAttempts,
    maxConcurrency: e.maxConcurrency,
    requestTimeoutMs: e.requestTimeout,
    maxRetryAfterMs: e.maxRetryAfter,
    ...breakerTuning(e),
  };
});

export function ibmOptionsFromConfig(cfg: RegistryConfig, warn?: (msg: string, ctx?: object) => void): IbmProviderOptions {
  return { ...parseEntry(ibmEntrySchema, cfg), warn };
}
