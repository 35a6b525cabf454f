// ScalewayProviderOptions, and the `provider: scaleway` registry entry of the config file: its schema,
// giving them. The secretKey arrives already resolved from ${ENV} or secretKeyFile.
import { z } from "zod";
import type { RegistryConfig } from "../../core/config.js";
import { entryDuration, entryText, requiredText } from "../../core/config-schema.js";
import { REST_CLIENT_SHAPE, breakerTuning, checkedEndpointIn, insecureField, parseEntry, registryEntry, type EntryOptions } from "../../core/registry-config.js";
import type { ScalewayClientOptions } from "./client.js";

/** The client's options (pollIntervalMs and deleteTimeoutMs among them) and the provider's own. */
/** The entry's options, and the client's that only code sets. */
export interface ScalewayProviderOptions extends EntryOptions<typeof scalewayEntrySchema>, Omit<ScalewayClientOptions, "registryId" | keyof EntryOptions<typeof scalewayEntrySchema>> {}

export const SCALEWAY_REGIONS = ["fr-par", "nl-ams", "pl-waw"] as const;
export const DEFAULT_API_URL = "https://api.scaleway.com";

export const scalewayEntrySchema = registryEntry({
  region: requiredText(),
  projectId: requiredText(),
  secretKey: requiredText("use ${ENV_VAR} or secretKeyFile"),
  apiUrl: entryText(),
  insecure: insecureField(),
  listingCacheTtl: entryDuration(),
  pollInterval: entryDuration(),
  deleteTimeout: entryDuration(),
  ...REST_CLIENT_SHAPE,
}).transform((e, ctx) => {
  if (!(SCALEWAY_REGIONS as readonly string[]).includes(e.region)) {
    ctx.addIssue({ code: "custom", message: `unknown region ${JSON.stringify(e.region)} (known: ${SCALEWAY_REGIONS.join(", ")})`, path: ["region"] });
    return z.NEVER;
  }
  const insecure = e.insecure ?? false;
  const apiUrl = checkedEndpointIn(ctx, "apiUrl", e.apiUrl ?? DEFAULT_API_URL, insecure);
  if (apiUrl === undefined) return z.NEVER;
  return {
    id: e.id,
    region: e.region,
    projectId: e.projectId,
    secretKey: e.secretKey,
    apiUrl: new URL(apiUrl.origin),
    insecure: e.insecure,
    /** How long a repository snapshot (and the tags read under it) serves a walk's later pages. Default 30 s. */
    listingCacheTtlMs: e.listingCacheTtl,
    pollIntervalMs: e.pollInterval,
    deleteTimeoutMs: e.deleteTimeout,
    maxAttempts: e.maxAttempts,
    maxConcurrency: e.maxConcurrency,
    requestTimeoutMs: e.requestTimeout,
    maxRetryAfterMs: e.maxRetryAfter,
    ...breakerTuning(e),
  };
});

export function scalewayOptionsFromConfig(cfg: RegistryConfig): ScalewayProviderOptions {
  return parseEntry(scalewayEntrySchema, cfg);
}
