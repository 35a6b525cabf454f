// The provider kinds regplane knows, by the `provider:` value in the config. Only main wires these in.
import type { ProviderFactory } from "../core/catalog.js";
import { byteSize } from "../core/config.js";
import { LocalProvider } from "./local/index.js";
import { OciProvider } from "./oci/index.js";
import { ionosProviderFromConfig } from "./ionos/index.js";
import { yandexProviderFromConfig } from "./yandex/index.js";
import { ibmProviderFromConfig } from "./ibm/index.js";
import { scalewayProviderFromConfig } from "./scaleway/index.js";

function requireString(cfg: Record<string, unknown>, key: string): string {
  const v = cfg[key];
  if (typeof v !== "string" || v === "") throw new Error(`registry ${String(cfg.id)}: ${key} is required`);
  return v;
}

function optionalString(cfg: Record<string, unknown>, key: string): string | undefined {
  const v = cfg[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new Error(`registry ${String(cfg.id)}: ${key} must be a string`);
  return v;
}

function optionalBoolean(cfg: Record<string, unknown>, key: string): boolean | undefined {
  const v = cfg[key];
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") throw new Error(`registry ${String(cfg.id)}: ${key} must be true or false`);
  return v;
}

function optionalNumber(cfg: Record<string, unknown>, key: string): number | undefined {
  const v = cfg[key];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new Error(`registry ${String(cfg.id)}: ${key} must be a positive number`);
  return v;
}

function optionalStrings(cfg: Record<string, unknown>, key: string): string[] | undefined {
  const v = cfg[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw new Error(`registry ${String(cfg.id)}: ${key} must be a list of strings`);
  return v as string[];
}

export const providerFactories: Record<string, ProviderFactory> = {
  local: (cfg, ctx) =>
    new LocalProvider({
      id: cfg.id,
      root: requireString(cfg, "path"),
      cacheBytes: cfg.cacheBytes === undefined ? undefined : byteSize(cfg.cacheBytes, `registry ${cfg.id}: cacheBytes`),
      onWarning: ctx.warn,
    }),
  oci: (cfg, ctx) =>
    new OciProvider({
      id: cfg.id,
      endpoint: requireString(cfg, "endpoint"),
      username: optionalString(cfg, "username"),
      password: optionalString(cfg, "password"),
      insecure: optionalBoolean(cfg, "insecure"),
      repositories: optionalStrings(cfg, "repositories"),
      allowedRealmHosts: optionalStrings(cfg, "allowedRealmHosts"),
      maxConcurrency: optionalNumber(cfg, "maxConcurrency"),
      catalogPageSize: optionalNumber(cfg, "catalogPageSize"),
      logger: { warn: (msg, c) => ctx.warn(msg, c) },
    }),
  ionos: ionosProviderFromConfig,
  yandex: yandexProviderFromConfig,
  ibm: ibmProviderFromConfig,
  scaleway: scalewayProviderFromConfig,
};
