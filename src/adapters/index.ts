// The provider kinds regplane knows, by the `provider:` value in the config. Only main wires these in.
import type { ProviderFactory } from "../core/catalog.js";
import { LocalProvider } from "./local/index.js";

function requireString(cfg: Record<string, unknown>, key: string): string {
  const v = cfg[key];
  if (typeof v !== "string" || v === "") throw new Error(`registry ${String(cfg.id)}: ${key} is required`);
  return v;
}

export const providerFactories: Record<string, ProviderFactory> = {
  local: (cfg, ctx) => new LocalProvider({ id: cfg.id, root: requireString(cfg, "path"), onWarning: ctx.warn }),
};
