// A `registries:` entry checked by its provider's schema (adapters/<provider>/config.ts): the strict object
// each schema is, its first problem as a ConfigError `registries[<id>].<field>: <problem>`, and shared checks.
import { z } from "zod";
import { ConfigError, type RegistryConfig } from "./config.js";
import { closestKey, entryDuration, entryFlag, entryWholeNumber, keysAt, pathText } from "./config-schema.js";
import type { BreakerTuning } from "./resilience.js";
import { endpointProblem } from "./url-policy.js";

/** Takes just the id, so provider constructors checking their options can name fields the same way. */
export function entryName(cfg: Pick<RegistryConfig, "id">): string {
  return `registries[${cfg.id}]`;
}

export function fieldName(cfg: Pick<RegistryConfig, "id">, key: string): string {
  return `${entryName(cfg)}.${key}`;
}

/** The provider schemas by `provider:` value; the composition (adapters/index.ts) hands them in. */
export type RegistrySchemas = Readonly<Record<string, z.ZodType>>;

/** Keys whose value may be undefined become optional, as option objects written by hand leave them out. */
type OptionalWhereUndefined<T> = { [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & { [K in keyof T as undefined extends T[K] ? K : never]?: T[K] };

/** What a provider's entry schema reads an entry to: its options' type, inferred from the schema and written nowhere else. */
export type EntryOptions<S extends z.ZodType> = OptionalWhereUndefined<z.output<S>>;

/** A provider's entry: `id`, `provider` and the provider's own fields; any other key is refused. */
export function registryEntry<T extends z.ZodRawShape>(shape: T) {
  return z.strictObject({ id: z.string(), provider: z.string(), ...shape });
}

/** The `insecure` field every provider with endpoints takes: plain http allowed to them (url-policy.ts). */
export const insecureField = entryFlag;

/** The fields of a registry client that runs a breaker: when one that keeps failing stops being called, and for how long. */
export const BREAKER_SHAPE = {
  breakerThreshold: entryWholeNumber(1, 1000),
  breakerCooldown: entryDuration({ positive: true }),
};

/** The fields of a client on core/http's RestClient: attempts, concurrency, timeouts, and its breaker. */
export const REST_CLIENT_SHAPE = {
  maxAttempts: entryWholeNumber(1, 10),
  maxConcurrency: entryWholeNumber(1, 64),
  requestTimeout: entryDuration(),
  maxRetryAfter: entryDuration(),
  ...BREAKER_SHAPE,
};

export function breakerTuning(entry: { breakerThreshold?: number; breakerCooldown?: number }): BreakerTuning {
  return { breakerThreshold: entry.breakerThreshold, breakerCooldownMs: entry.breakerCooldown };
}

/**
 * An endpoint field (or its default) under the URL policy, against the entry's `insecure`, for a schema's
 * transform: a refusal becomes the field's issue, and undefined is returned.
 */
export function checkedEndpointIn(ctx: z.RefinementCtx, key: string, value: string, insecure: boolean): URL | undefined {
  const problem = endpointProblem(value, insecure);
  if (problem === undefined) return new URL(value);
  ctx.addIssue({ code: "custom", message: problem, path: [key] });
  return undefined;
}

/** One line per problem of `cfg` under `schema`, unknown fields first (as they were refused before any value was read). */
export function entryProblems(schema: z.ZodType, cfg: RegistryConfig): string[] {
  const result = schema.safeParse(cfg);
  if (result.success) return [];
  const unknownFirst = [...result.error.issues].sort((a, b) => Number(b.code === "unrecognized_keys") - Number(a.code === "unrecognized_keys"));
  const where = (path: readonly PropertyKey[]) => (path.length === 0 ? entryName(cfg) : `${entryName(cfg)}.${pathText(path)}`);
  const lines: string[] = [];
  for (const issue of unknownFirst) {
    if (issue.code === "unrecognized_keys") {
      const known = keysAt(schema, issue.path);
      for (const key of issue.keys) {
        const near = closestKey(key, known);
        lines.push(`${where([...issue.path, key])}: unknown field for provider ${cfg.provider}${near ? ` (did you mean ${near}?)` : ""}`);
      }
    } else {
      const hint = issue.code === "custom" && typeof issue.params?.hint === "string" ? ` (${issue.params.hint})` : "";
      lines.push(`${where(issue.path)}${hint}: ${issue.message}`);
    }
  }
  return lines;
}

/** `cfg` read by its provider's schema, or a ConfigError naming the first problem. */
export function parseEntry<S extends z.ZodType>(schema: S, cfg: RegistryConfig): z.output<S> {
  const result = schema.safeParse(cfg);
  if (result.success) return result.data;
  throw new ConfigError(entryProblems(schema, cfg)[0]);
}

/** Each entry dispatched by its `provider:` to that provider's schema; an unknown provider is refused as the catalog refuses it. */
export function registryProblems(entries: readonly RegistryConfig[], schemas: RegistrySchemas): string[] {
  return entries.flatMap((cfg) => {
    const schema = Object.hasOwn(schemas, cfg.provider) ? schemas[cfg.provider] : undefined;
    if (schema === undefined) return [unknownProvider(cfg, Object.keys(schemas))];
    return entryProblems(schema, cfg);
  });
}

export function unknownProvider(cfg: RegistryConfig, known: readonly string[]): string {
  return `${fieldName(cfg, "provider")}: unknown provider ${JSON.stringify(cfg.provider)} (known: ${known.join(", ")})`;
}
