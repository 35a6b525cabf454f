// Readers for the provider-specific fields of one `registries:` entry, shared by every adapter's factory.
// Each failure is a ConfigError naming the entry and the field: registries[<id>].<field>: <problem>.
import { byteSize, ConfigError, parseDuration, type RegistryConfig } from "./config.js";
import { closestKey } from "./config-schema.js";
import type { BreakerTuning } from "./resilience.js";
import { checkedEndpoint } from "./url-policy.js";

/** Takes just the id, so provider constructors checking their options can name fields the same way. */
export function entryName(cfg: Pick<RegistryConfig, "id">): string {
  return `registries[${cfg.id}]`;
}

export function fieldName(cfg: Pick<RegistryConfig, "id">, key: string): string {
  return `${entryName(cfg)}.${key}`;
}

function fail(cfg: RegistryConfig, key: string, problem: string): never {
  throw new ConfigError(`${fieldName(cfg, key)}: ${problem}`);
}

/** Refuses fields the provider does not know, so a misspelt setting is not silently ignored. */
export function onlyFields(cfg: RegistryConfig, known: ReadonlySet<string>): void {
  for (const key of Object.keys(cfg)) {
    if (known.has(key)) continue;
    const near = closestKey(key, [...known]);
    fail(cfg, key, `unknown field for provider ${cfg.provider}${near ? ` (did you mean ${near}?)` : ""}`);
  }
}

/** Missing, null and "" all read as absent; `hint` says where the value may come from (secrets). */
export function requiredString(cfg: RegistryConfig, key: string, hint?: string): string {
  const v = optionalString(cfg, key);
  if (v === undefined) fail(cfg, key, hint === undefined ? "required" : `required (${hint})`);
  return v;
}

/**
 * Missing, null and "" read as unset. With `keepEmpty`, only a missing field is unset: "" is a value
 * (an empty password is a password) and null is refused.
 */
export function optionalString(cfg: RegistryConfig, key: string, opts: { keepEmpty?: boolean } = {}): string | undefined {
  const v = cfg[key];
  if (v === undefined) return undefined;
  if (!opts.keepEmpty && (v === null || v === "")) return undefined;
  if (typeof v !== "string") fail(cfg, key, "must be a string");
  return v;
}

export function optionalBoolean(cfg: RegistryConfig, key: string): boolean | undefined {
  const v = cfg[key];
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") fail(cfg, key, "must be true or false");
  return v;
}

/** A whole number from min to max; a numeric string (as from ${ENV}) counts. */
export function optionalInteger(cfg: RegistryConfig, key: string, min: number, max: number): number | undefined {
  const v = cfg[key];
  if (v === undefined) return undefined;
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) fail(cfg, key, `must be a whole number ${min}-${max}`);
  return n;
}

export function optionalPositiveNumber(cfg: RegistryConfig, key: string): number | undefined {
  const v = cfg[key];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) fail(cfg, key, "must be a positive number");
  return v;
}

export function optionalStrings(cfg: RegistryConfig, key: string): string[] | undefined {
  const v = cfg[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) fail(cfg, key, "must be a list of strings");
  return v as string[];
}

/** In milliseconds. */
export function optionalDuration(cfg: RegistryConfig, key: string): number | undefined {
  return cfg[key] === undefined ? undefined : parseDuration(cfg[key], fieldName(cfg, key));
}

export function optionalByteSize(cfg: RegistryConfig, key: string): number | undefined {
  return cfg[key] === undefined ? undefined : byteSize(cfg[key], fieldName(cfg, key));
}

/** The entry's `insecure` field: plain http allowed to its endpoints (url-policy.ts). */
export function insecureSetting(cfg: RegistryConfig): boolean {
  return optionalBoolean(cfg, "insecure") ?? false;
}

/** An endpoint field (or its default) checked by the URL policy against the entry's `insecure`. */
export function endpointSetting(cfg: RegistryConfig, key: string, fallback: string): URL {
  return checkedEndpoint(optionalString(cfg, key) ?? fallback, fieldName(cfg, key), insecureSetting(cfg));
}

/** The fields `breakerSettings` reads, for the known-field lists of providers whose clients run a breaker. */
export const BREAKER_FIELDS = ["breakerThreshold", "breakerCooldown"] as const;

/** When a registry that keeps failing stops being called, and for how long. */
export function breakerSettings(cfg: RegistryConfig): BreakerTuning {
  const cooldown = optionalDuration(cfg, "breakerCooldown");
  if (cooldown === 0) fail(cfg, "breakerCooldown", "must be longer than 0");
  return { breakerThreshold: optionalInteger(cfg, "breakerThreshold", 1, 1000), breakerCooldownMs: cooldown };
}
