// The IONOS Cloud Container Registry adapter, and how a `provider: ionos` config entry becomes one.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type { ProviderContext } from "../../core/catalog.js";
import type { RegistryConfig } from "../../core/config.js";
import { IonosProvider, type RegistryCredentials } from "./provider.js";

export { IonosProvider, DEFAULT_IONOS_ENDPOINT, type IonosProviderOptions, type RegistryCredentials } from "./provider.js";

/**
 * Config fields (secrets through ${VAR} or a `<field>File`): endpoint, token | username + password,
 * contractNumber, registryId, registryUsername + registryPassword, registryTokens (a list of
 * {registry: <name or id>, username, password | passwordFile}), registryInsecure, pageSize.
 */
export function ionosProviderFromConfig(cfg: RegistryConfig, ctx: ProviderContext): IonosProvider {
  const where = `registry ${cfg.id}`;
  const registryUsername = optionalString(cfg, "registryUsername");
  const registryPassword = optionalString(cfg, "registryPassword");
  if ((registryUsername === undefined) !== (registryPassword === undefined)) throw new Error(`${where}: registryUsername and registryPassword go together`);
  const registryTokens: Record<string, RegistryCredentials> = {};
  const tokens = cfg.registryTokens ?? [];
  if (!Array.isArray(tokens)) throw new Error(`${where}: registryTokens must be a list of {registry, username, password}`);
  tokens.forEach((t: unknown, i) => {
    const entry = (t ?? {}) as Record<string, unknown>;
    // The config loader resolves `<field>File` at the top level only, so entries read their own.
    let password = entry.password;
    if (typeof entry.passwordFile === "string") {
      if (!path.isAbsolute(entry.passwordFile)) throw new Error(`${where}: registryTokens[${i}].passwordFile must be an absolute path`);
      password = readFileSync(entry.passwordFile, "utf8").trim();
    }
    if (typeof entry.registry !== "string" || typeof entry.username !== "string" || typeof password !== "string") {
      throw new Error(`${where}: registryTokens[${i}] needs registry, username and password (or passwordFile)`);
    }
    registryTokens[entry.registry] = { username: entry.username, password };
  });
  const pageSize = cfg.pageSize === undefined ? undefined : Number(cfg.pageSize);
  return new IonosProvider({
    id: cfg.id,
    endpoint: optionalString(cfg, "endpoint"),
    token: optionalString(cfg, "token"),
    username: optionalString(cfg, "username"),
    password: optionalString(cfg, "password"),
    contractNumber: cfg.contractNumber === undefined ? undefined : String(cfg.contractNumber),
    registryId: optionalString(cfg, "registryId"),
    registryCredentials: registryUsername !== undefined && registryPassword !== undefined ? { username: registryUsername, password: registryPassword } : undefined,
    registryTokens,
    registryInsecure: cfg.registryInsecure === true || cfg.registryInsecure === "true",
    pageSize,
    logger: { warn: ctx.warn },
  });
}

function optionalString(cfg: RegistryConfig, key: string): string | undefined {
  const v = cfg[key];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new Error(`registry ${cfg.id}: ${key} must be a string`);
  return v;
}
