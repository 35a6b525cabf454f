// The `provider: yandex` entry of the config file: its schema, the YandexProviderOptions inferred from it,
// and the default API and operation endpoints.
import { z } from "zod";
import { ConfigError, type RegistryConfig } from "../../core/config.js";
import { entryText, requiredText } from "../../core/config-schema.js";
import { fieldName, insecureField, parseEntry, registryEntry, type EntryOptions } from "../../core/registry-config.js";
import type { YandexClientOptions } from "./client.js";
import { parseAuthorizedKey, type IamCredentials } from "./iam.js";

export const DEFAULT_YANDEX_ENDPOINT = "https://container-registry.api.cloud.yandex.net";
export const DEFAULT_OPERATION_ENDPOINT = "https://operation.api.cloud.yandex.net";

/** The entry's options, and those only code sets. */
export interface YandexProviderOptions extends EntryOptions<typeof yandexEntrySchema>, Omit<YandexClientOptions, "registryId" | "auth" | keyof EntryOptions<typeof yandexEntrySchema>> {
  /** First wait between operation polls; doubles up to 5 s. Default 250 ms. */
  operationPollMs?: number;
  /** How long an operation is polled before giving up. Default 10 min. */
  operationTimeoutMs?: number;
}

const CREDENTIAL_FIELDS = ["serviceAccountKey", "oauthToken", "iamToken"] as const;

/**
 * Secrets through ${VAR} or a `<field>File`: exactly one of serviceAccountKey (the key file's JSON;
 * usually serviceAccountKeyFile), oauthToken or iamToken. The endpoints are checked by the provider.
 */
export const yandexEntrySchema = registryEntry({
  folderId: requiredText(),
  registryId: entryText(),
  serviceAccountKey: z.unknown().optional(),
  oauthToken: z.unknown().optional(),
  iamToken: z.unknown().optional(),
  endpoint: entryText(),
  operationEndpoint: entryText(),
  iamEndpoint: entryText(),
  insecure: insecureField(),
  hostname: entryText(),
}).transform((e, ctx) => {
  const given = CREDENTIAL_FIELDS.filter((k) => e[k] !== undefined && e[k] !== "");
  if (given.length !== 1) {
    ctx.addIssue({ code: "custom", message: "yandex needs exactly one of serviceAccountKey (or serviceAccountKeyFile), oauthToken or iamToken" });
    return z.NEVER;
  }
  const credentials = credentialsOf(e, given[0], ctx);
  if (credentials === undefined) return z.NEVER;
  return {
    id: e.id,
    folderId: e.folderId,
    /** One registry (crp…); undefined covers every registry of the folder. */
    registryId: e.registryId,
    credentials,
    /** Container Registry API base; paths go under /container-registry/v1. */
    endpoint: e.endpoint,
    /** Operation API base; operations are read at /operations/{id}. */
    operationEndpoint: e.operationEndpoint,
    /** Where IAM tokens are exchanged (also the JWT's `aud`). */
    iamEndpoint: e.iamEndpoint,
    insecure: e.insecure,
    /** Host images are pulled from. Default cr.yandex. */
    hostname: e.hostname,
  };
});

/** The one credential field given, read; a problem becomes that field's issue. */
function credentialsOf(e: { id: string } & Partial<Record<(typeof CREDENTIAL_FIELDS)[number], unknown>>, field: (typeof CREDENTIAL_FIELDS)[number], ctx: z.RefinementCtx): IamCredentials | undefined {
  if (field === "serviceAccountKey") {
    const where = fieldName(e, field);
    try {
      return { kind: "key", key: parseAuthorizedKey(e.serviceAccountKey, where) };
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      ctx.addIssue({ code: "custom", message: err.message.slice(`${where}: `.length), path: [field] });
      return undefined;
    }
  }
  const token = requiredText().safeParse(e[field]);
  if (!token.success) {
    ctx.addIssue({ code: "custom", message: token.error.issues[0].message, path: [field] });
    return undefined;
  }
  return field === "oauthToken" ? { kind: "oauth", oauthToken: token.data } : { kind: "static", iamToken: token.data };
}

export function yandexOptionsFromConfig(cfg: RegistryConfig): YandexProviderOptions {
  return parseEntry(yandexEntrySchema, cfg);
}
