// Configuration: command-line flags > environment > config file > defaults. Secrets come from the
// environment (${VAR}) or files (<field>File), never inline in a committed file.
// Longer than most files: every section's reader and the rules across sections read one raw document here.
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { configProblems, LOG_LEVELS } from "./config-schema.js";
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
  /** How long a worker's claim on an operation lasts unless renewed; after a crash, its operations wait this long to run again. */
  operationLeaseMs: number;
  shutdownGraceMs: number;
  /** Share of a List call's deadline one registry may use before it is reported unreachable. */
  registryTimeoutMs: number;
  /** Also serve ImageService and OperationService under the Yandex Cloud names on the gRPC port. */
  yandexCompat: boolean;
  /** Garbage V8 may accumulate past the live heap before a full collection (see server/heap.ts); 0 leaves V8's own growth. */
  heapHeadroomBytes: number;
  /** Who may call and what they may do; no keys and no client certificates means open on loopback only. */
  auth: AuthConfig;
  /** Both ports serve TLS when set; a client CA turns on client certificates (mTLS). */
  tls?: TlsConfig;
  limits: LimitsConfig;
  /** Where regplane keeps its own state: the SQLite file in dataDir, or a PostgreSQL shared by replicas. */
  state: StateConfig;
}

/** A reason regplane cannot start, said in one line naming what to fix; the process exits with `exitCode`. */
export class StartupError extends Error {
  override name = "StartupError";
  readonly exitCode: number = 2;
}

export type StateConfig = { driver: "sqlite" } | { driver: "postgres"; url: string; maxConnections?: number };

export class ConfigError extends StartupError {
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

export interface ConfigSources {
  flags: Partial<Record<"config" | "dataDir" | "host" | "grpcPort" | "httpPort" | "corsOrigins" | "logLevel" | "tlsCert" | "tlsKey" | "tlsClientCa", string>> & {
    yandexCompat?: boolean;
    insecureNoAuth?: boolean;
  };
  env: NodeJS.ProcessEnv;
  /** Each provider's entry schema by `provider:` value; given, every `registries:` entry is checked by its own before regplane starts. */
  registrySchemas?: RegistrySchemas;
}

function bool(value: unknown, where: string): boolean {
  if (typeof value === "boolean") return value;
  const v = typeof value === "string" ? value.trim().toLowerCase() : undefined;
  if (v === "true" || v === "1" || v === "yes" || v === "on") return true;
  if (v === "false" || v === "0" || v === "no" || v === "off") return false;
  throw new ConfigError(`${where}: expected true or false (got ${JSON.stringify(value)})`);
}

export function loadConfig({ flags, env, registrySchemas }: ConfigSources): Config {
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
    const parsed = parseYamlFile(text, file);
    if (parsed !== null && (typeof parsed !== "object" || Array.isArray(parsed))) throw new ConfigError(`${file}: expected a YAML mapping at the top`);
    raw = (parsed ?? {}) as Record<string, unknown>;
    refuseInlineDatabasePassword(raw.state);
    raw = substituteEnv(raw, file, env) as Record<string, unknown>;
    const problems = configProblems(raw);
    if (problems.length > 0) throw new ConfigError(problems.length === 1 ? problems[0] : `${problems[0]} (and ${problems.length - 1} more problems)`);
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
    operationLeaseMs: parseDuration((raw.operations as Record<string, unknown> | undefined)?.lease ?? "30s", "operations.lease"),
    shutdownGraceMs: parseDuration(server.shutdownGrace ?? "10s", "server.shutdownGrace"),
    registryTimeoutMs: parseDuration(server.registryTimeout ?? "10s", "server.registryTimeout"),
    yandexCompat:
      flags.yandexCompat ??
      (env.REGPLANE_YANDEX_COMPAT !== undefined ? bool(env.REGPLANE_YANDEX_COMPAT, "REGPLANE_YANDEX_COMPAT") : bool(server.yandexCompat ?? true, "server.yandexCompat")),
    heapHeadroomBytes: byteSizeOrZero(env.REGPLANE_HEAP_HEADROOM ?? server.heapHeadroom ?? "48MiB", "server.heapHeadroom"),
    auth: { keys: [], clientCerts: [], protectReflection: false, protectHealth: false, insecureNoAuth: false },
    limits: { ...DEFAULT_LIMITS },
    state: stateConfig(raw.state, env),
  };

  if (!LOG_LEVELS.includes(config.logLevel)) throw new ConfigError(`log level: expected one of ${LOG_LEVELS.join(", ")} (got ${JSON.stringify(config.logLevel)})`);
  // Renewed every third of it, so a shorter lease would be lost to an ordinary pause of the process.
  if (config.operationLeaseMs < 1000) throw new ConfigError("operations.lease: must be at least 1s");

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
  loadAccessControl(config, raw, { flags, env }, baseDir);
  if (registrySchemas !== undefined) {
    const problems = registryProblems(config.registries, registrySchemas);
    if (problems.length > 0) throw new ConfigError(problems[0]);
  }
  return config;
}

export type Role = "viewer" | "editor";

/** What a caller may reach: folders ("*" for every registry) and a role (viewer reads; editor also changes). */
/** state.driver / REGPLANE_STATE_DRIVER, state.url / REGPLANE_DATABASE_URL, state.maxConnections. */
function stateConfig(value: unknown, env: NodeJS.ProcessEnv): StateConfig {
  const state = (value ?? {}) as Record<string, unknown>;
  if (typeof state !== "object" || Array.isArray(state)) throw new ConfigError("state: expected a mapping");
  const driver = env.REGPLANE_STATE_DRIVER ?? state.driver ?? "sqlite";
  if (driver === "sqlite") return { driver };
  if (driver !== "postgres") throw new ConfigError(`state.driver: sqlite or postgres (got ${JSON.stringify(driver)})`);
  const url = env.REGPLANE_DATABASE_URL ?? state.url;
  if (typeof url !== "string" || !/^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigError("state.url: a postgres:// URL is required with driver postgres (or set REGPLANE_DATABASE_URL)");
  }
  const max = state.maxConnections;
  if (max !== undefined && (!Number.isInteger(max) || (max as number) < 2)) throw new ConfigError("state.maxConnections: an integer of at least 2");
  return { driver, url, ...(max !== undefined ? { maxConnections: max as number } : {}) };
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

export interface Grant {
  folders: string[] | "*";
  role: Role;
}

export interface ApiKeyConfig extends Grant {
  /** The principal: operations' created_by, audit lines, and what page tokens and idempotency keys are bound to. */
  name: string;
  /** "sha256:<hex>" or "scrypt:<N>:<r>:<p>:<salt b64>:<hash b64>"; the key itself is never stored. */
  hash: string;
}

export interface ClientCertConfig extends Grant {
  /** A verified client certificate's subject, attributes in certificate order joined by commas ("O=Acme,CN=deployer"). */
  subject: string;
}

export interface AuthConfig {
  keys: ApiKeyConfig[];
  clientCerts: ClientCertConfig[];
  /** Require credentials for gRPC server reflection too. */
  protectReflection: boolean;
  /** Require credentials for grpc.health.v1, /healthz and /metrics too. */
  protectHealth: boolean;
  /** Serve without credentials on a non-loopback address (--insecure-no-auth). */
  insecureNoAuth: boolean;
}

export interface TlsConfig {
  cert: Buffer;
  key: Buffer;
  clientCa?: Buffer;
}

export interface LimitsConfig {
  /** Largest request message either port accepts. */
  maxMessageBytes: number;
  /** HTTP/2 streams one connection may have open at once, on both ports. */
  maxConcurrentStreams: number;
  /** Calls per second per principal (token bucket); 0 turns the limit off. */
  ratePerSecond: number;
  burst: number;
  /** Deadline applied to a call whose client sent none. */
  defaultDeadlineMs: number;
  /** Longest deadline a call runs under, whatever the client asked for. */
  maxDeadlineMs: number;
  /** Deepest nesting a Connect JSON request may have, checked before it is parsed. */
  maxJsonDepth: number;
  /** Failed or missing credentials per client address per second (token bucket); 0 turns the limit off. */
  authFailuresPerSecond: number;
  authFailureBurst: number;
  /** scrypt key verifications running at once; more are refused with RESOURCE_EXHAUSTED. */
  maxPendingKeyVerifications: number;
  /** A connection that has not shown its protocol (HTTP/2 preface or an HTTP/1.1 request line) by then is closed. */
  firstBytesTimeoutMs: number;
  /** An HTTP/1.1 request whose headers are incomplete, or an HTTP/2 connection without a first stream, by then is closed. */
  headersTimeoutMs: number;
  /** A connection with no traffic for this long is closed, on both ports. */
  idleTimeoutMs: number;
  /** Open connections per port; beyond it, new ones are closed at once. */
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** HTTP/2 keepalive: an idle connection is pinged this often and closed when no answer comes within keepaliveTimeout. */
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
}

export const DEFAULT_LIMITS: LimitsConfig = {
  maxMessageBytes: 4 * 1024 * 1024,
  maxConcurrentStreams: 100,
  ratePerSecond: 0,
  burst: 0,
  defaultDeadlineMs: 60_000,
  maxDeadlineMs: 300_000,
  maxJsonDepth: 64,
  authFailuresPerSecond: 10,
  authFailureBurst: 100,
  maxPendingKeyVerifications: 2,
  firstBytesTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  maxConnections: 10_000,
  maxConnectionsPerAddress: 1000,
  keepaliveTimeMs: 7_200_000,
  keepaliveTimeoutMs: 20_000,
};

/** A configured key hash: "sha256:<64 hex>" or "scrypt:<N>:<r>:<p>:<salt b64>:<hash b64>"; undefined if neither. */
export type KeyHash = { kind: "sha256"; digest: Buffer } | { kind: "scrypt"; N: number; r: number; p: number; salt: Buffer; digest: Buffer };

export function parseKeyHash(text: string): KeyHash | undefined {
  const sha = /^sha256:([0-9a-f]{64})$/i.exec(text);
  if (sha) return { kind: "sha256", digest: Buffer.from(sha[1], "hex") };
  const sc = /^scrypt:(\d+):(\d+):(\d+):([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(text);
  if (!sc) return undefined;
  const [N, r, p] = [Number(sc[1]), Number(sc[2]), Number(sc[3])];
  const digest = Buffer.from(sc[5], "base64");
  // N must be a power of two; the bounds keep one verification within a few hundred milliseconds.
  if (N < 1024 || N > 1 << 20 || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16 || digest.length < 16) return undefined;
  return { kind: "scrypt", N, r, p, salt: Buffer.from(sc[4], "base64"), digest };
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const PRINCIPAL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function positiveInt(value: unknown, where: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `${min}-${max}`;
    throw new ConfigError(`${where}: expected a whole number ${range} (got ${JSON.stringify(value)})`);
  }
  return n;
}

function byteSizeOrZero(value: unknown, where: string): number {
  return value === 0 || value === "0" ? 0 : byteSize(value, where);
}

/** A size in bytes: a whole number, or with a unit (512KiB, 256MiB, 1GiB). */
export function byteSize(value: unknown, where: string): number {
  const m = typeof value === "string" ? /^(\d+)\s*(B|KiB|MiB|GiB)?$/.exec(value.trim()) : null;
  if (m) return Number(m[1]) * { B: 1, KiB: 1024, MiB: 1024 * 1024, GiB: 1024 * 1024 * 1024 }[(m[2] ?? "B") as "B"];
  return positiveInt(value, `${where} (bytes, or like 512KiB / 256MiB / 1GiB)`);
}

function readFile(file: string, where: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${where}: cannot read ${file}: ${(err as Error).message}`);
  }
}

function grantOf(entry: Record<string, unknown>, where: string, folderIds: Set<string>): Grant {
  const role = entry.role ?? "viewer";
  if (role !== "viewer" && role !== "editor") throw new ConfigError(`${where}.role: viewer or editor (got ${JSON.stringify(role)})`);
  const folders = entry.folders;
  if (!Array.isArray(folders) || folders.length === 0) throw new ConfigError(`${where}.folders: a list of folder ids, or ["*"] for every folder`);
  if (folders.includes("*")) return { folders: "*", role };
  for (const f of folders) if (!folderIds.has(f)) throw new ConfigError(`${where}.folders: unknown folder ${JSON.stringify(f)}`);
  return { folders: folders.map(String), role };
}

/** The auth, tls and limits sections, and the rule that an open server binds loopback only. */
function loadAccessControl(config: Config, raw: Record<string, unknown>, { flags, env }: ConfigSources, baseDir: string): void {
  const auth = (raw.auth ?? {}) as Record<string, unknown>;
  const folderIds = new Set(config.folders.map((f) => f.id));
  const names = new Set<string>();
  const keys = auth.keys ?? [];
  if (!Array.isArray(keys)) throw new ConfigError("auth.keys: expected a list");
  config.auth.keys = keys.map((k: Record<string, unknown>, i) => {
    const where = `auth.keys[${i}]`;
    if (typeof k?.name !== "string" || !PRINCIPAL_NAME.test(k.name) || k.name === "anonymous") {
      throw new ConfigError(`${where}.name: 1-63 characters of letters, digits, ".", "_" or "-" (and not "anonymous")`);
    }
    if (names.has(k.name)) throw new ConfigError(`${where}.name: duplicate key name ${k.name}`);
    names.add(k.name);
    if (typeof k.hash !== "string" || !parseKeyHash(k.hash)) throw new ConfigError(`${where}.hash: expected "sha256:<64 hex digits>" or "scrypt:<N>:<r>:<p>:<salt>:<hash>" as printed by "regplane keys create"`);
    return { name: k.name, hash: k.hash, ...grantOf(k, where, folderIds) };
  });
  const certs = auth.clientCerts ?? [];
  if (!Array.isArray(certs)) throw new ConfigError("auth.clientCerts: expected a list");
  config.auth.clientCerts = certs.map((c: Record<string, unknown>, i) => {
    const where = `auth.clientCerts[${i}]`;
    if (typeof c?.subject !== "string" || !c.subject.includes("=")) throw new ConfigError(`${where}.subject: a certificate subject such as "O=Acme,CN=deployer"`);
    return { subject: c.subject, ...grantOf(c, where, folderIds) };
  });
  config.auth.protectReflection = bool(auth.protectReflection ?? false, "auth.protectReflection");
  config.auth.protectHealth = bool(auth.protectHealth ?? false, "auth.protectHealth");
  config.auth.insecureNoAuth =
    flags.insecureNoAuth ?? (env.REGPLANE_INSECURE_NO_AUTH !== undefined ? bool(env.REGPLANE_INSECURE_NO_AUTH, "REGPLANE_INSECURE_NO_AUTH") : false);

  const tls = (raw.tls ?? {}) as Record<string, unknown>;
  const fromFile = (v: unknown) => (typeof v === "string" ? path.resolve(baseDir, v) : undefined);
  const certFile = flags.tlsCert ?? env.REGPLANE_TLS_CERT ?? fromFile(tls.cert);
  const keyFile = flags.tlsKey ?? env.REGPLANE_TLS_KEY ?? fromFile(tls.key);
  const caFile = flags.tlsClientCa ?? env.REGPLANE_TLS_CLIENT_CA ?? fromFile(tls.clientCa);
  if ((certFile === undefined) !== (keyFile === undefined)) throw new ConfigError("tls: cert and key go together (--tls-cert and --tls-key)");
  if (caFile !== undefined && certFile === undefined) throw new ConfigError("tls.clientCa: client certificates need TLS: set tls.cert and tls.key too");
  if (certFile !== undefined && keyFile !== undefined) {
    config.tls = { cert: readFile(certFile, "tls.cert"), key: readFile(keyFile, "tls.key"), clientCa: caFile === undefined ? undefined : readFile(caFile, "tls.clientCa") };
  }
  if (config.auth.clientCerts.length > 0 && !config.tls?.clientCa) throw new ConfigError("auth.clientCerts: needs tls.clientCa, the CA that signs client certificates");
  if (config.tls?.clientCa && config.auth.clientCerts.length === 0) throw new ConfigError("tls.clientCa: no auth.clientCerts entry grants a certificate subject any folder");

  const limits = (raw.limits ?? {}) as Record<string, unknown>;
  config.limits = {
    maxMessageBytes: limits.maxMessageBytes === undefined ? DEFAULT_LIMITS.maxMessageBytes : byteSize(limits.maxMessageBytes, "limits.maxMessageBytes"),
    maxConcurrentStreams: positiveInt(limits.maxConcurrentStreams ?? DEFAULT_LIMITS.maxConcurrentStreams, "limits.maxConcurrentStreams"),
    ratePerSecond: Number(limits.ratePerSecond ?? DEFAULT_LIMITS.ratePerSecond),
    burst: 0,
    defaultDeadlineMs: parseDuration(limits.defaultDeadline ?? "60s", "limits.defaultDeadline"),
    maxDeadlineMs: parseDuration(limits.maxDeadline ?? "5m", "limits.maxDeadline"),
    maxJsonDepth: positiveInt(limits.maxJsonDepth ?? DEFAULT_LIMITS.maxJsonDepth, "limits.maxJsonDepth", 1, 10_000),
    authFailuresPerSecond: Number(limits.authFailuresPerSecond ?? DEFAULT_LIMITS.authFailuresPerSecond),
    authFailureBurst: positiveInt(limits.authFailureBurst ?? DEFAULT_LIMITS.authFailureBurst, "limits.authFailureBurst"),
    maxPendingKeyVerifications: positiveInt(limits.maxPendingKeyVerifications ?? DEFAULT_LIMITS.maxPendingKeyVerifications, "limits.maxPendingKeyVerifications", 1, 64),
    firstBytesTimeoutMs: parseDuration(limits.firstBytesTimeout ?? "10s", "limits.firstBytesTimeout"),
    headersTimeoutMs: parseDuration(limits.headersTimeout ?? "10s", "limits.headersTimeout"),
    idleTimeoutMs: parseDuration(limits.idleTimeout ?? "5m", "limits.idleTimeout"),
    maxConnections: positiveInt(limits.maxConnections ?? DEFAULT_LIMITS.maxConnections, "limits.maxConnections"),
    maxConnectionsPerAddress: positiveInt(limits.maxConnectionsPerAddress ?? DEFAULT_LIMITS.maxConnectionsPerAddress, "limits.maxConnectionsPerAddress"),
    keepaliveTimeMs: parseDuration(limits.keepaliveTime ?? "2h", "limits.keepaliveTime"),
    keepaliveTimeoutMs: parseDuration(limits.keepaliveTimeout ?? "20s", "limits.keepaliveTimeout"),
  };
  for (const key of ["firstBytesTimeoutMs", "headersTimeoutMs", "idleTimeoutMs", "keepaliveTimeMs", "keepaliveTimeoutMs"] as const) {
    // Node's timers hold at most 2^31-1 ms (about 24 days).
    if (config.limits[key] <= 0 || config.limits[key] > 2_147_483_647) throw new ConfigError(`limits.${key.slice(0, -2)}: must be positive and at most 24d`);
  }
  if (!Number.isFinite(config.limits.authFailuresPerSecond) || config.limits.authFailuresPerSecond < 0) {
    throw new ConfigError("limits.authFailuresPerSecond: a number ≥ 0 (0 turns the limit off)");
  }
  if (!Number.isFinite(config.limits.ratePerSecond) || config.limits.ratePerSecond < 0) throw new ConfigError("limits.ratePerSecond: a number ≥ 0 (0 turns the limit off)");
  config.limits.burst = positiveInt(limits.burst ?? Math.max(1, Math.ceil(config.limits.ratePerSecond * 2)), "limits.burst");
  if (config.limits.defaultDeadlineMs <= 0 || config.limits.maxDeadlineMs < config.limits.defaultDeadlineMs) {
    throw new ConfigError("limits: defaultDeadline must be positive and at most maxDeadline");
  }

  const open = config.auth.keys.length === 0 && config.auth.clientCerts.length === 0;
  if (open && !isLoopback(config.host) && !config.auth.insecureNoAuth) {
    throw new ConfigError(
      `no credentials are configured (auth.keys or auth.clientCerts), so regplane serves loopback addresses only; ` +
        `to bind ${config.host}, add an API key ("regplane keys create --name NAME --folders FOLDER --role editor") ` +
        `or pass --insecure-no-auth to let anyone who reaches the ports act as an editor of every folder`,
    );
  }
}
