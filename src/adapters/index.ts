// The provider kinds regplane knows, by the `provider:` value in the config. Only src/server/app.ts wires these in.
import type { ProviderFactory } from "../core/catalog.js";
import { onlyFields, optionalByteSize, optionalDuration, optionalInteger, requiredString } from "../core/registry-config.js";
import { LocalProvider } from "./local/index.js";
import { OciClient, ociProviderFromConfig } from "./oci/index.js";
import { ionosProviderFromConfig } from "./ionos/index.js";
import { yandexProviderFromConfig } from "./yandex/index.js";
import { ibmProviderFromConfig } from "./ibm/index.js";
import { scalewayProviderFromConfig } from "./scaleway/index.js";

const LOCAL_FIELDS = new Set(["id", "provider", "path", "cacheBytes", "gcGracePeriod", "maxMetadataBytes", "maxIndexDepth"]);

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
  oci: ociProviderFromConfig,
  // IONOS deletes go to each registry's OCI API, through the OCI adapter's client.
  ionos: (cfg, ctx) => ionosProviderFromConfig(cfg, ctx, (options) => new OciClient(options)),
  yandex: yandexProviderFromConfig,
  ibm: ibmProviderFromConfig,
  scaleway: scalewayProviderFromConfig,
};
