// The provider kinds regplane knows, by the `provider:` value in the config. Only src/server/app.ts wires these in.
import type { ProviderFactory } from "../core/catalog.js";
import { BREAKER_FIELDS, breakerSettings, onlyFields, optionalBoolean, optionalByteSize, optionalDuration, optionalInteger, optionalPositiveNumber, optionalString, optionalStrings, requiredString } from "../core/registry-config.js";
import { LocalProvider } from "./local/index.js";
import { OciClient, OciProvider } from "./oci/index.js";
import { ionosProviderFromConfig } from "./ionos/index.js";
import { yandexProviderFromConfig } from "./yandex/index.js";
import { ibmProviderFromConfig } from "./ibm/index.js";
import { scalewayProviderFromConfig } from "./scaleway/index.js";

const LOCAL_FIELDS = new Set(["id", "provider", "path", "cacheBytes", "gcGracePeriod", "maxMetadataBytes", "maxIndexDepth"]);
const OCI_FIELDS = new Set([
  "id",
  "provider",
  "endpoint",
  "username",
  "password",
  "insecure",
  "repositories",
  "allowedRealmHosts",
  "maxConcurrency",
  "catalogPageSize",
  "listingCacheTtl",
  ...BREAKER_FIELDS,
]);

export const providerFactories: Record<string, ProviderFactory> = {
  local: (cfg, ctx) => {
    onlyFields(cfg, LOCAL_FIELDS);
    return new LocalProvider({
      id: cfg.id,
      root: requiredString(cfg, "path"),
      cacheBytes: optionalByteSize(cfg, "cacheBytes"),
      gcGracePeriodMs: optionalDuration(cfg, "gcGracePeriod"),
      maxMetadataBytes: optionalByteSize(cfg, "maxMetadataBytes"),
      maxIndexDepth: optionalInteger(cfg, "maxIndexDepth", 1, 64),
      onWarning: ctx.warn,
      locks: ctx.locks,
    });
  },
  oci: (cfg, ctx) => {
    onlyFields(cfg, OCI_FIELDS);
    return new OciProvider({
      id: cfg.id,
      endpoint: requiredString(cfg, "endpoint"),
      username: optionalString(cfg, "username", { keepEmpty: true }),
      password: optionalString(cfg, "password", { keepEmpty: true }),
      insecure: optionalBoolean(cfg, "insecure"),
      repositories: optionalStrings(cfg, "repositories"),
      allowedRealmHosts: optionalStrings(cfg, "allowedRealmHosts"),
      maxConcurrency: optionalInteger(cfg, "maxConcurrency", 1, 256),
      catalogPageSize: optionalPositiveNumber(cfg, "catalogPageSize"),
      listingCacheTtlMs: optionalDuration(cfg, "listingCacheTtl"),
      ...breakerSettings(cfg),
      logger: { warn: (msg, c) => ctx.warn(msg, c) },
    });
  },
  // IONOS deletes go to each registry's OCI API, through the OCI adapter's client.
  ionos: (cfg, ctx) => ionosProviderFromConfig(cfg, ctx, (options) => new OciClient(options)),
  yandex: yandexProviderFromConfig,
  ibm: ibmProviderFromConfig,
  scaleway: scalewayProviderFromConfig,
};
