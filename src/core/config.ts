// Configuration: command-line flags > environment > config file > defaults. The file's schema and every
// default are in config-schema.ts; this reads the file, lays flags and environment over it, and checks the
// rules across sections. Secrets come from the environment (${VAR}) or files (<field>File), never inline.
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { readAccessControl, type AuthConfig, type TlsConfig } from "./access-config.js";
import { CONFIG_DEFAULTS, readConfigFile, type ConfigFile } from "./config-schema.js";
import { registryProblems, type RegistrySchemas } from "./registry-config.js";

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

/** Durations are in milliseconds and sizes in bytes once read. */
export type LimitsConfig = ConfigFile["limits"];
/** Where regplane keeps its own state: the SQLite file in dataDir, or a PostgreSQL shared by replicas. */
export type StateConfig = ConfigFile["state"];
export type ServerConfig = ConfigFile["server"];
export type OperationsConfig = ConfigFile["operations"];
export type PageTokensConfig = ConfigFile["pageTokens"];

/** The limits with nothing configured, as the schema reads them. */
export const DEFAULT_LIMITS: LimitsConfig = CONFIG_DEFAULTS.limits;

export interface Config {
  /** Absolute. */
  dataDir: string;
  server: ServerConfig;
  registries: RegistryConfig[];
  folders: FolderConfig[];
  /** `keys`: optional page-token signing keys from config (else kept in the store); older keys still verify. */
  pageTokens: PageTokensConfig;
  operations: OperationsConfig;
  /** Who may call and what they may do; no keys and no client certificates means open on loopback only. */
  auth: AuthConfig;
  /** Both ports serve TLS when set; a client CA turns on client certificates (mTLS). */
  tls?: TlsConfig;
  limits: LimitsConfig;
  state: StateConfig;
}

/** A reason regplane cannot start, said in one line naming what to fix; the process exits with `exitCode`. */
export class StartupError extends Error {
  override name = "StartupError";
  readonly exitCode: number = 2;
}

export class ConfigError extends StartupError {
  override name = "ConfigError";
}

const ID = /^[a-z][a-z0-9-]*$/;

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

/** The YAML's own message with its line and column, but not the excerpt of the file, which may hold a secret. */
function parseYamlFile(text: string, file: string): unknown {
  try {
    return parseYaml(text) as unknown;
  } catch (err) {
    if (!(err instanceof YAMLParseError)) throw err;
    const where = err.linePos ? `:${err.linePos[0].line}:${err.linePos[0].col}` : "";
    const message = err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new ConfigError(`${file}${where}: not valid YAML: ${message}`);
  }
}

/** What is configured but will likely not do what was meant; logged at start, not refused. */
export function configWarnings(config: Config): string[] {
  return config.registries
    .filter((r) => r.provider === "local" && typeof r.path === "string" && r.path !== path.join(config.dataDir, "registry") && !existsSync(r.path))
    .map((r) => `registries[${r.id}].path: ${r.path as string} does not exist, so the registry lists empty until a namespace is created (relative paths resolve against the config file)`);
}

type FlagName = "config" | "dataDir" | "host" | "grpcPort" | "httpPort" | "corsOrigins" | "logLevel" | "tlsCert" | "tlsKey" | "tlsClientCa";

export interface ConfigSources {
  flags: Partial<Record<FlagName, string>> & {
    yandexCompat?: boolean;
    insecureNoAuth?: boolean;
  };
  env: NodeJS.ProcessEnv;
  /** Each provider's entry schema by `provider:` value; given, every `registries:` entry is checked by its own before regplane starts. */
  registrySchemas?: RegistrySchemas;
}

interface Override {
  /** The setting of the file it stands in for. */
  at: readonly [string] | readonly [string, string];
  flag?: keyof ConfigSources["flags"];
  option?: string;
  env?: string;
  /** From the flag's or variable's text to what the file would hold. */
  read?: (value: string) => unknown;
}

const commaList = (value: string) => value.split(",").map((s) => s.trim()).filter(Boolean);
// A path given on the command line or in the environment is the caller's, relative to the working directory.
const fromCwd = (value: string) => path.resolve(value);

/** Flags and environment variables over settings of the file; the setting's own schema reads them. */
const OVERRIDES: readonly Override[] = [
  { at: ["dataDir"], flag: "dataDir", option: "--data-dir", env: "REGPLANE_DATA_DIR" },
  { at: ["server", "host"], flag: "host", option: "--host", env: "REGPLANE_HOST" },
  { at: ["server", "grpcPort"], flag: "grpcPort", option: "--grpc-port", env: "REGPLANE_GRPC_PORT" },
  { at: ["server", "httpPort"], flag: "httpPort", option: "--http-port", env: "REGPLANE_HTTP_PORT" },
  { at: ["server", "corsOrigins"], flag: "corsOrigins", option: "--cors-origin", env: "REGPLANE_CORS_ORIGINS", read: commaList },
  { at: ["server", "logLevel"], flag: "logLevel", option: "--log-level", env: "REGPLANE_LOG_LEVEL" },
  { at: ["server", "yandexCompat"], flag: "yandexCompat", option: "--no-yandex-compat", env: "REGPLANE_YANDEX_COMPAT" },
  { at: ["server", "heapHeadroom"], env: "REGPLANE_HEAP_HEADROOM" },
  { at: ["state", "driver"], env: "REGPLANE_STATE_DRIVER" },
  { at: ["state", "url"], env: "REGPLANE_DATABASE_URL" },
  { at: ["tls", "cert"], flag: "tlsCert", option: "--tls-cert", env: "REGPLANE_TLS_CERT", read: fromCwd },
  { at: ["tls", "key"], flag: "tlsKey", option: "--tls-key", env: "REGPLANE_TLS_KEY", read: fromCwd },
  { at: ["tls", "clientCa"], flag: "tlsClientCa", option: "--tls-client-ca", env: "REGPLANE_TLS_CLIENT_CA", read: fromCwd },
];

/** `doc` with the flags and environment laid over it, and which source each overridden setting came from. */
function withOverrides(doc: Record<string, unknown>, { flags, env }: ConfigSources): { doc: Record<string, unknown>; sources: Map<string, string> } {
  const out: Record<string, unknown> = { ...doc };
  const sources = new Map<string, string>();
  for (const o of OVERRIDES) {
    const flag = o.flag === undefined ? undefined : flags[o.flag];
    const fromEnv = o.env === undefined ? undefined : env[o.env];
    const value = flag ?? fromEnv;
    if (value === undefined) continue;
    const read = typeof value === "string" && o.read ? o.read(value) : value;
    const [first, second] = o.at;
    if (second === undefined) {
      out[first] = read;
    } else {
      const sectionValue = out[first];
      // A section that is not a mapping is left for the schema to refuse as the file wrote it.
      if (sectionValue !== undefined && sectionValue !== null && (typeof sectionValue !== "object" || Array.isArray(sectionValue))) continue;
      out[first] = { ...(sectionValue as Record<string, unknown> | undefined), [second]: read };
    }
    sources.set(o.at.join("."), flag !== undefined ? (o.option ?? String(o.flag)) : String(o.env));
  }
  return { doc: out, sources };
}

function readDocument(file: string, env: NodeJS.ProcessEnv): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  const parsed = parseYamlFile(text, file);
  if (parsed !== null && (typeof parsed !== "object" || Array.isArray(parsed))) throw new ConfigError(`${file}: expected a YAML mapping at the top`);
  const raw = (parsed ?? {}) as Record<string, unknown>;
  refuseInlineDatabasePassword(raw.state);
  return substituteEnv(raw, file, env) as Record<string, unknown>;
}

export function loadConfig(sources: ConfigSources): Config {
  const { flags, env, registrySchemas } = sources;
  const configFile = flags.config ?? env.REGPLANE_CONFIG;
  const baseDir = configFile ? path.dirname(path.resolve(configFile)) : process.cwd();
  const { doc, sources: overridden } = withOverrides(configFile ? readDocument(configFile, env) : {}, sources);
  const read = readConfigFile(doc, overridden);
  if (read.file === undefined) {
    const { problems } = read;
    throw new ConfigError(problems.length === 1 ? problems[0] : `${problems[0]} (and ${problems.length - 1} more problems)`);
  }
  const file = read.file;
  const dataDir = path.resolve(file.dataDir);
  const registries = readRegistries(file.registries, dataDir, baseDir);
  const ids = new Set(registries.map((r) => r.id));
  const folders = (file.folders ?? [{ id: "default", registries: [...ids] }]).map((f, i) => {
    const where = `folders[${i}]`;
    if (typeof f.id !== "string" || f.id.length > 50 || !ID.test(f.id)) throw new ConfigError(`${where}.id: must be 1-50 characters matching [a-z][a-z0-9-]*`);
    if (f.registries === undefined) throw new ConfigError(`${where}.registries: expected a list of registry ids`);
    for (const id of f.registries) if (!ids.has(id)) throw new ConfigError(`${where}.registries: unknown registry ${JSON.stringify(id)}`);
    return { id: f.id, registries: [...f.registries] };
  });
  const access = readAccessControl(file, { folderIds: new Set(folders.map((f) => f.id)), baseDir, flags, env });
  const config: Config = { dataDir, server: file.server, registries, folders, pageTokens: file.pageTokens, operations: file.operations, ...access, limits: file.limits, state: file.state };
  if (registrySchemas !== undefined) {
    const problems = registryProblems(config.registries, registrySchemas);
    if (problems.length > 0) throw new ConfigError(problems[0]);
  }
  return config;
}

function readRegistries(entries: ConfigFile["registries"], dataDir: string, baseDir: string): RegistryConfig[] {
  const ids = new Set<string>();
  return entries.map((r, i) => {
    const where = `registries[${i}]`;
    const reg = resolveSecretFiles(r, where, baseDir);
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
}

/** Before ${VAR} substitution: a password written into the file itself is refused (it must come from the environment). */
function refuseInlineDatabasePassword(value: unknown): void {
  const url = (value as Record<string, unknown> | undefined)?.url;
  if (typeof url !== "string") return;
  const withoutVars = url.replace(/\$\{[^}]*\}/g, "");
  let password = "";
  try {
    password = new URL(withoutVars).password;
  } catch {
    password = /:\/\/[^/@:]*:[^/@]+@/.test(withoutVars) ? "x" : "";
  }
  if (password !== "" || /[?&]password=/i.test(withoutVars)) {
    throw new ConfigError("state.url: the database password must not be written in the config file; put the URL in REGPLANE_DATABASE_URL or use ${VAR}");
  }
}
