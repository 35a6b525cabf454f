// Scaleway Container Registry: ScalewayProvider and the `provider: scaleway` config entry.
import type { ProviderContext } from "../../core/catalog.js";
import type { RegistryConfig } from "../../core/config.js";
import { scalewayOptionsFromConfig } from "./config.js";
import { ScalewayProvider } from "./provider.js";

export { ScalewayProvider, type ScalewayProviderOptions } from "./provider.js";
export { SCALEWAY_REGIONS } from "./config.js";

export function scalewayProviderFromConfig(cfg: RegistryConfig, _ctx: ProviderContext): ScalewayProvider {
  return new ScalewayProvider(scalewayOptionsFromConfig(cfg));
}
