// The `provider: ionos` entry of the config file: its schema, the IonosProviderOptions inferred from it,
// and the API's default endpoint.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import type { RegistryConfig } from "../../core/config.js";
import { entryText, entryWholeNumber } from "../../core/config-schema.js";
import type { DistributionClientOptions, ManifestDeleter } from "../../core/distribution/index.js";
import { insecureField, parseEntry, registryEntry, type EntryOptions } from "../../core/registry-config.js";
import type { IonosClientOptions } from "./client.js";

export const DEFAULT_IONOS_ENDPOINT = "https://api.ionos.com/containerregistries";

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** The entry's options, and those only code sets. */
export interface IonosProviderOptions extends EntryOptions<typeof ionosEntrySchema>, Omit<IonosClientOptions, "registryId" | "endpoint" | "pageSize" | keyof EntryOptions<typeof ionosEntrySchema>> {
  /** Makes the client of a registry's OCI API that deletes go to; core's DistributionClient unless a test hands in its own. */
  distributionClient?: (options: DistributionClientOptions) => ManifestDeleter;
  /** How long a create waits for the new registry to leave its busy state. Default 10 min. */
  createTimeoutMs?: number;
  logger?: { warn(msg: string, ctx?: object): void };
}

/** One `registryTokens:` item; the config loader resolves `<field>File` at the entry's top level only, so an item reads its own. */
const registryToken = z.preprocess(
  (v) => v ?? {},
  z
    .strictObject({ registry: z.unknown().optional(), username: z.unknown().optional(), password: z.unknown().optional(), passwordFile: z.unknown().optional() }, { error: "needs registry, username and password (or passwordFile)" })
    .transform((t, ctx) => {
      let password = t.password;
      if (typeof t.passwordFile === "string") {
        if (!path.isAbsolute(t.passwordFile)) {
          ctx.addIssue({ code: "custom", message: "must be an absolute path", path: ["passwordFile"] });
          return z.NEVER;
        }
        try {
          password = readFileSync(t.passwordFile, "utf8").trim();
        } catch (err) {
          ctx.addIssue({ code: "custom", message: `cannot read ${t.passwordFile}: ${(err as Error).message}`, path: ["passwordFile"] });
          return z.NEVER;
        }
      }
      if (typeof t.registry !== "string" || typeof t.username !== "string" || typeof password !== "string") {
        ctx.addIssue({ code: "custom", message: "needs registry, username and password (or passwordFile)" });
        return z.NEVER;
      }
      return [t.registry, { username: t.username, password }] as const;
    }),
);

/**
 * Secrets through ${VAR} or a `<field>File`: token | username + password, registryUsername +
 * registryPassword, and each registryTokens item's password (or its own absolute passwordFile).
 */
export const ionosEntrySchema = registryEntry({
  endpoint: entryText(),
  insecure: insecureField(),
  token: entryText(),
  username: entryText(),
  password: entryText(),
  contractNumber: z.unknown().transform(String).optional(),
  registryId: entryText(),
  registryUsername: entryText(),
  registryPassword: entryText(),
  registryTokens: z.preprocess((v) => v ?? [], z.array(registryToken, { error: "must be a list of {registry, username, password}" })).transform((items) => Object.fromEntries(items)).optional(),
  registryInsecure: z.unknown().transform((v) => v === true || v === "true").optional(),
  pageSize: entryWholeNumber(1, 1000),
}).transform((e, ctx) => {
  if ((e.registryUsername === undefined) !== (e.registryPassword === undefined)) {
    ctx.addIssue({ code: "custom", message: "registryUsername and registryPassword go together" });
    return z.NEVER;
  }
  return {
    id: e.id,
    endpoint: e.endpoint,
    insecure: e.insecure,
    token: e.token,
    username: e.username,
    password: e.password,
    contractNumber: e.contractNumber,
    /** One IONOS registry (UUID); undefined covers every registry of the contract. */
    registryId: e.registryId,
    /** Registry-token credentials for OCI deletes: the pinned registry's, or the default for the contract. */
    registryCredentials: e.registryUsername !== undefined && e.registryPassword !== undefined ? { username: e.registryUsername, password: e.registryPassword } : undefined,
    /** Registry-token credentials by registry name or id, for an entry covering the whole contract. */
    registryTokens: e.registryTokens,
    /** Plain http to registry hostnames (test registries only). */
    registryInsecure: e.registryInsecure,
    /** `limit` of repository and artifact requests (1..1000). Default 100. */
    pageSize: e.pageSize,
  };
});

export function ionosOptionsFromConfig(cfg: RegistryConfig, warn: (msg: string, ctx?: object) => void): IonosProviderOptions {
  return { ...parseEntry(ionosEntrySchema, cfg), logger: { warn } };
}
