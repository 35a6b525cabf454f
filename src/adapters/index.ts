// The provider kinds regplane knows, by the `provider:` value in the config. Only src/server/app.ts wires these in.
import type { ProviderFactory } from "../core/catalog.js";
import { localProviderFromConfig } from "./local/index.js";
import { ociProviderFromConfig } from "./oci/index.js";
import { ionosProviderFromConfig } from "./ionos/index.js";
import { yandexProviderFromConfig } from "./yandex/index.js";
import { ibmProviderFromConfig } from "./ibm/index.js";
import { scalewayProviderFromConfig } from "./scaleway/index.js";

export const providerFactories: Record<string, ProviderFactory> = {
  local: localProviderFromConfig,
  oci: ociProviderFromConfig,
  ionos: ionosProviderFromConfig,
  yandex: yandexProviderFromConfig,
  ibm: ibmProviderFromConfig,
  scaleway: scalewayProviderFromConfig,
};
