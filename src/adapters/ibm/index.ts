// IBM Cloud Container Registry: IbmProvider and the `provider: ibm` config entry.
import type { ProviderContext } from "../../core/catalog.js";
import type { RegistryConfig } from "../../core/config.js";
import { ibmOptionsFromConfig } from "./config.js";
import { IbmProvider } from "./provider.js";

export { IbmProvider, type IbmProviderOptions } from "./provider.js";
export { IBM_REGION_HOSTS } from "./config.js";

export function ibmProviderFromConfig(cfg: RegistryConfig, ctx: ProviderContext): IbmProvider {
  return new IbmProvider(ibmOptionsFromConfig(cfg, ctx.warn));
}
