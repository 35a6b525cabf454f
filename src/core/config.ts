// Configuration: command-line flags > environment > config file > defaults. Secrets come from the
// environment (${VAR}) or files (<field>File), never inline in a committed file.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";

export interface RegistryConfig {
  id: string;
  provider: string;
  /** Provider-specific settings (path, endpoint, username, password, …), secrets already resolved. */
  [key: string]: unknown;
}

export interface FolderConfig {
  id: string;
  registries: string[];
}

export interface Config {
  dataDir: string;
  host: string;
  grpcPort: number;
  httpPort: number;
  corsOrigins: string[];
  logLevel: string;
  registries: RegistryConfig[];
  folders: FolderConfig[];
  pageTokenTtlMs: number;
  /** Optional page-token signing key from config (else kept in the store); older keys still verify. */
  pageTokenKeys: string[];
  operationRetentionMs: number;
  operationConcurrency: number;
  shutdownGraceMs: number;
  /** Share of a List call's deadline one registry may use before it is reported unreachable. */
  registryTimeoutMs: number;
  /** Also serve ImageService and OperationService under the Yandex Cloud names on the gRPC port. */
  yandexCompat: boolean;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

const ID = /^[a-z][a-z0-9-]*$/;

export function parseDuration(value: unknown, where: string): number {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return value * 1000;
  const m = typeof value === "string" ? /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim()) : null;
  if (!m) throw new ConfigError(`${where}: expected a duration like 500ms, 30s, 5m, 24h or 7d (got ${JSON.stringify(value)})`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "ms"];
  return Number(m[1]) * unit;
}

function port(value: unknown, where: string): number {
  const n = typeof value === "string" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new ConfigError(`${where}: expected a port number 0-65535 (got ${JSON.stringify(value)})`);
  }
  return n;
}

/** Replaces ${VAR} with the environment's value; an unset variable is an error, not an empty secret. */
function substituteEnv(value: unknown, where: string, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) throw new ConfigError(`${where}: environment variable ${name} is not set`);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, `${where}[${i}]`, env));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, `${where}.${k}`, env)]));
  }
  return value;
}

/** `passwordFile: /run/secrets/x` becomes `password: <file contents, trimmed>`. */
function resolveSecretFiles(reg: Record<string, unknown>, where: string, baseDir: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(reg)) {
    if (k.endsWith("File") && k.length > 4 && typeof v === "string") {
      const file = path.resolve(baseDir, v);
      try {
        out[k.slice(0, -4)] = readFileSync(file, "utf8").trim();
      } catch (err) {
        throw new ConfigError(`${where}.${k}: cannot read ${file}: ${(err as Error).message}`);
      }
    } else {
      out[k] = v;
    }
  }
  return out;
}

export interface ConfigSources {
  flags: Partial<Record<"config" | "dataDir" | "host" | "grpcPort" | "httpPort" | "corsOrigins" | "logLevel", string>> & { yandexCompat?: boolean };
  env: NodeJS.ProcessEnv;
}

function bool(value: unknown, where: string): boolean {
  if (typeof value === "boolean") return value;
  const v = typeof value === "string" ? value.trim().toLowerCase() : undefined;
  if (v === "true" || v === "1" || v === "yes" || v === "on") return true;
  if (v === "false" || v === "0" || v === "no" || v === "off") return false;
  throw new ConfigError(`${where}: expected true or false (got ${JSON.stringify(value)})`);
}

export function loadConfig({ flags, env }: ConfigSources): Config {
  const file = flags.config ?? env.REGPLANE_CONFIG;
  let raw: Record<string, unknown> = {};
  let baseDir = process.cwd();
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    const parsed = parseYaml(text) as unknown;
    if (parsed !== null && (typeof parsed !== "object" || Array.isArray(parsed))) throw new ConfigError(`${file}: expected a YAML mapping at the top`);
    raw = (parsed ?? {}) as Record<string, unknown>;
    raw = substituteEnv(raw, file, env) as Record<string, unknown>;
    baseDir = path.dirname(path.resolve(file));
  }
  const server = (raw.server ?? {}) as Record<string, unknown>;
  const dataDir = path.resolve(flags.dataDir ?? env.REGPLANE_DATA_DIR ?? (raw.dataDir as string | undefined) ?? "./data");
  const cors = flags.corsOrigins ?? env.REGPLANE_CORS_ORIGINS;
  const config: Config = {
    dataDir,
    host: flags.host ?? env.REGPLANE_HOST ?? (server.host as string | undefined) ?? "127.0.0.1",
    grpcPort: port(flags.grpcPort ?? env.REGPLANE_GRPC_PORT ?? server.grpcPort ?? 50051, "grpc port"),
    httpPort: port(flags.httpPort ?? env.REGPLANE_HTTP_PORT ?? server.httpPort ?? 8080, "http port"),
    corsOrigins: cors !== undefined ? cors.split(",").map((s) => s.trim()).filter(Boolean) : ((server.corsOrigins as string[] | undefined) ?? []),
    logLevel: flags.logLevel ?? env.REGPLANE_LOG_LEVEL ?? (server.logLevel as string | undefined) ?? "info",
    registries: [],
    folders: [],
    pageTokenTtlMs: parseDuration((raw.pageTokens as Record<string, unknown> | undefined)?.ttl ?? "24h", "pageTokens.ttl"),
    pageTokenKeys: ((raw.pageTokens as Record<string, unknown> | undefined)?.keys as string[] | undefined) ?? [],
    operationRetentionMs: parseDuration((raw.operations as Record<string, unknown> | undefined)?.retention ?? "7d", "operations.retention"),
    operationConcurrency: Number((raw.operations as Record<string, unknown> | undefined)?.concurrency ?? 8),
    shutdownGraceMs: parseDuration(server.shutdownGrace ?? "10s", "server.shutdownGrace"),
    registryTimeoutMs: parseDuration(server.registryTimeout ?? "10s", "server.registryTimeout"),
    yandexCompat:
      flags.yandexCompat ??
      (env.REGPLANE_YANDEX_COMPAT !== undefined ? bool(env.REGPLANE_YANDEX_COMPAT, "REGPLANE_YANDEX_COMPAT") : bool(server.yandexCompat ?? true, "server.yandexCompat")),
  };

  const regs = raw.registries ?? [{ id: "local", provider: "local" }];
  if (!Array.isArray(regs)) throw new ConfigError("registries: expected a list");
  const ids = new Set<string>();
  config.registries = regs.map((r, i) => {
    const where = `registries[${i}]`;
    if (!r || typeof r !== "object") throw new ConfigError(`${where}: expected a mapping`);
    const reg = resolveSecretFiles(r as Record<string, unknown>, where, baseDir);
    if (typeof reg.id !== "string" || reg.id.length > 50 || !ID.test(reg.id)) {
      throw new ConfigError(`${where}.id: must be 1-50 characters matching [a-z][a-z0-9-]* (got ${JSON.stringify(reg.id)})`);
    }
    if (ids.has(reg.id)) throw new ConfigError(`${where}.id: duplicate registry id ${reg.id}`);
    ids.add(reg.id);
    if (typeof reg.provider !== "string") throw new ConfigError(`${where}.provider: required (local, oci, ibm, scaleway, ionos or yandex)`);
    if (reg.provider === "local" && reg.path === undefined) reg.path = path.join(dataDir, "registry");
    if (typeof reg.path === "string") reg.path = path.resolve(baseDir, reg.path);
    return reg as RegistryConfig;
  });

  const folders = raw.folders ?? [{ id: "default", registries: config.registries.map((r) => r.id) }];
  if (!Array.isArray(folders)) throw new ConfigError("folders: expected a list");
  config.folders = folders.map((f, i) => {
    const where = `folders[${i}]`;
    const folder = f as FolderConfig;
    if (typeof folder?.id !== "string" || folder.id.length > 50 || !ID.test(folder.id)) {
      throw new ConfigError(`${where}.id: must be 1-50 characters matching [a-z][a-z0-9-]*`);
    }
    if (!Array.isArray(folder.registries)) throw new ConfigError(`${where}.registries: expected a list of registry ids`);
    for (const id of folder.registries) if (!ids.has(id)) throw new ConfigError(`${where}.registries: unknown registry ${JSON.stringify(id)}`);
    return { id: folder.id, registries: [...folder.registries] };
  });
  return config;
}
