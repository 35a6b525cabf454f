// The provider kinds regplane knows, by the `provider:` value in the config. Only src/server/app.ts wires these in.
import type { ProviderFactory } from "../core/catalog.js";
import { localProviderFromConfig } from "./local/index.js";
import { OciClient, ociProviderFromConfig } from "./oci/index.js";
import { ionosProviderFromConfig } from "./ionos/index.js";
import { yandexProviderFromConfig } from "./yandex/index.js";
import { ibmProviderFromConfig } from "./ibm/index.js";
import { scalewayProviderFromConfig } from "./scaleway/index.js";

export const providerFactories: Record<string, ProviderFactory> = {
  local: localProviderFromConfig,
  oci: ociProviderFromConfig,
  // IONOS deletes go to each registry's OCI API, through the OCI adapter's client.
  ionos: (cfg, ctx) => ionosProviderFromConfig(cfg, ctx, (options) => new OciClient(options)),
  yandex: yandexProviderFromConfig,
  ibm: ibmProviderFromConfig,
  scaleway: scalewayProviderFromConfig,
};
