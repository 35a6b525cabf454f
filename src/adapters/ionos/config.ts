// The `provider: ionos` entry of the config file, checked and turned into IonosProviderOptions; the
// options themselves and the API's default endpoint.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { ConfigError, type RegistryConfig } from "../../core/config.js";
import type { DistributionClientOptions, ManifestDeleter } from "../../core/distribution/index.js";
import { entryName, fieldName, insecureSetting, onlyFields, optionalInteger, optionalString } from "../../core/registry-config.js";
import type { IonosClientOptions } from "./client.js";

export const DEFAULT_IONOS_ENDPOINT = "https://api.ionos.com/containerregistries";

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface IonosProviderOptions extends Omit<IonosClientOptions, "registryId" | "endpoint" | "pageSize"> {
  id: string;
  /** Makes the client of a registry's OCI API that deletes go to; core's DistributionClient unless a test hands in its own. */
  distributionClient?: (options: DistributionClientOptions) => ManifestDeleter;
  endpoint?: string;
  /** One IONOS registry (UUID); undefined covers every registry of the contract. */
  registryId?: string;
  /** Registry-token credentials for OCI deletes: the pinned registry's, or the default for the contract. */
  registryCredentials?: RegistryCredentials;
  /** Registry-token credentials by registry name or id, for an entry covering the whole contract. */
  registryTokens?: Record<string, RegistryCredentials>;
  /** Plain http to registry hostnames (test registries only). */
  registryInsecure?: boolean;
  /** `limit` of repository and artifact requests (1..1000). Default 100. */
  pageSize?: number;
  /** How long a create waits for the new registry to leave its busy state. Default 10 min. */
  createTimeoutMs?: number;
  logger?: { warn(msg: string, ctx?: object): void };
}

/**
 * Config fields (secrets through ${VAR} or a `<field>File`): endpoint, insecure, token | username + password,
 * contractNumber, registryId, registryUsername + registryPassword, registryTokens (a list of
 * {registry: <name or id>, username, password | passwordFile}), registryInsecure, pageSize.
 */
const KNOWN_FIELDS = new Set([
  "id",
  "provider",
  "endpoint",
  "insecure",
  "token",
  "username",
  "password",
  "contractNumber",
  "registryId",
  "registryUsername",
  "registryPassword",
  "registryTokens",
  "registryInsecure",
  "pageSize",
]);

export function ionosOptionsFromConfig(cfg: RegistryConfig, warn: (msg: string, ctx?: object) => void): IonosProviderOptions {
  onlyFields(cfg, KNOWN_FIELDS);
  const registryUsername = optionalString(cfg, "registryUsername");
  const registryPassword = optionalString(cfg, "registryPassword");
  if ((registryUsername === undefined) !== (registryPassword === undefined)) throw new ConfigError(`${entryName(cfg)}: registryUsername and registryPassword go together`);
  const registryTokens: Record<string, RegistryCredentials> = {};
  const tokens = cfg.registryTokens ?? [];
  if (!Array.isArray(tokens)) throw new ConfigError(`${fieldName(cfg, "registryTokens")}: must be a list of {registry, username, password}`);
  tokens.forEach((t: unknown, i) => {
    const where = `${fieldName(cfg, "registryTokens")}[${i}]`;
    const entry = (t ?? {}) as Record<string, unknown>;
    // The config loader resolves `<field>File` at the top level only, so entries read their own.
    let password = entry.password;
    if (typeof entry.passwordFile === "string") {
      if (!path.isAbsolute(entry.passwordFile)) throw new ConfigError(`${where}.passwordFile: must be an absolute path`);
      try {
        password = readFileSync(entry.passwordFile, "utf8").trim();
      } catch (err) {
        throw new ConfigError(`${where}.passwordFile: cannot read ${entry.passwordFile}: ${(err as Error).message}`);
      }
    }
    if (typeof entry.registry !== "string" || typeof entry.username !== "string" || typeof password !== "string") {
      throw new ConfigError(`${where}: needs registry, username and password (or passwordFile)`);
    }
    registryTokens[entry.registry] = { username: entry.username, password };
  });
  return {
    id: cfg.id,
    endpoint: optionalString(cfg, "endpoint"),
    insecure: insecureSetting(cfg),
    token: optionalString(cfg, "token"),
    username: optionalString(cfg, "username"),
    password: optionalString(cfg, "password"),
    contractNumber: cfg.contractNumber === undefined ? undefined : String(cfg.contractNumber),
    registryId: optionalString(cfg, "registryId"),
    registryCredentials: registryUsername !== undefined && registryPassword !== undefined ? { username: registryUsername, password: registryPassword } : undefined,
    registryTokens,
    registryInsecure: cfg.registryInsecure === true || cfg.registryInsecure === "true",
    pageSize: optionalInteger(cfg, "pageSize", 1, 1000),
    logger: { warn },
  };
}
