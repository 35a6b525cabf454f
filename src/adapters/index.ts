// The provider kinds regplane knows, by the `provider:` value in the config: each kind's factory and the
// schema of its entry (which the config loader dispatches to). Only src/server/app.ts wires these in.
import type { ProviderFactory } from "../core/catalog.js";
import type { RegistrySchemas } from "../core/registry-config.js";
import { localEntrySchema } from "./local/config.js";
import { localProviderFromConfig } from "./local/index.js";
import { ociEntrySchema } from "./oci/config.js";
import { ociProviderFromConfig } from "./oci/index.js";
import { ionosEntrySchema } from "./ionos/config.js";
import { ionosProviderFromConfig } from "./ionos/index.js";
import { yandexEntrySchema } from "./yandex/config.js";
import { yandexProviderFromConfig } from "./yandex/index.js";
import { ibmEntrySchema } from "./ibm/config.js";
import { ibmProviderFromConfig } from "./ibm/index.js";
import { scalewayEntrySchema } from "./scaleway/config.js";
import { scalewayProviderFromConfig } from "./scaleway/index.js";

export const providerFactories: Record<string, ProviderFactory> = {
  local: localProviderFromConfig,
  oci: ociProviderFromConfig,
  ionos: ionosProviderFromConfig,
  yandex: yandexProviderFromConfig,
  ibm: ibmProviderFromConfig,
  scaleway: scalewayProviderFromConfig,
};

export const registrySchemas: RegistrySchemas = {
  local: localEntrySchema,
  oci: ociEntrySchema,
  ionos: ionosEntrySchema,
  yandex: yandexEntrySchema,
  ibm: ibmEntrySchema,
  scaleway: scalewayEntrySchema,
};
