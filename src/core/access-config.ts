// Who may call and over what: the `auth` and `tls` sections read into keys, certificate subjects and TLS
// material, and the rule that a server without credentials binds loopback only.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { ConfigError, type ConfigSources } from "./config.js";
import { booleanWord, type ConfigFile } from "./config-schema.js";

export type Role = "viewer" | "editor";

/** What a caller may reach: folders ("*" for every registry) and a role (viewer reads; editor also changes). */
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

function readFile(file: string, where: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${where}: cannot read ${file}: ${(err as Error).message}`);
  }
}

function grantOf(entry: { folders?: string[]; role: Role }, where: string, folderIds: ReadonlySet<string>): Grant {
  const { folders, role } = entry;
  if (folders === undefined || folders.length === 0) throw new ConfigError(`${where}.folders: a list of folder ids, or ["*"] for every folder`);
  if (folders.includes("*")) return { folders: "*", role };
  for (const f of folders) if (!folderIds.has(f)) throw new ConfigError(`${where}.folders: unknown folder ${JSON.stringify(f)}`);
  return { folders: [...folders], role };
}

interface AccessSources extends Pick<ConfigSources, "flags" | "env"> {
  folderIds: ReadonlySet<string>;
  /** Where paths written in the file are relative to. */
  baseDir: string;
}

/** The auth and tls sections, and the rule that an open server binds loopback only. */
export function readAccessControl(file: ConfigFile, { folderIds, baseDir, flags, env }: AccessSources): { auth: AuthConfig; tls?: TlsConfig } {
  const names = new Set<string>();
  const keys = file.auth.keys.map((k, i) => {
    const where = `auth.keys[${i}]`;
    if (k.name === undefined || !PRINCIPAL_NAME.test(k.name) || k.name === "anonymous") {
      throw new ConfigError(`${where}.name: 1-63 characters of letters, digits, ".", "_" or "-" (and not "anonymous")`);
    }
    if (names.has(k.name)) throw new ConfigError(`${where}.name: duplicate key name ${k.name}`);
    names.add(k.name);
    if (k.hash === undefined || !parseKeyHash(k.hash)) throw new ConfigError(`${where}.hash: expected "sha256:<64 hex digits>" or "scrypt:<N>:<r>:<p>:<salt>:<hash>" as printed by "regplane keys create"`);
    return { name: k.name, hash: k.hash, ...grantOf(k, where, folderIds) };
  });
  const clientCerts = file.auth.clientCerts.map((c, i) => {
    const where = `auth.clientCerts[${i}]`;
    if (c.subject === undefined || !c.subject.includes("=")) throw new ConfigError(`${where}.subject: a certificate subject such as "O=Acme,CN=deployer"`);
    return { subject: c.subject, ...grantOf(c, where, folderIds) };
  });
  const insecureFromEnv = env.REGPLANE_INSECURE_NO_AUTH;
  const auth: AuthConfig = {
    keys,
    clientCerts,
    protectReflection: file.auth.protectReflection,
    protectHealth: file.auth.protectHealth,
    insecureNoAuth: flags.insecureNoAuth ?? (insecureFromEnv !== undefined ? envFlag(insecureFromEnv, "REGPLANE_INSECURE_NO_AUTH") : false),
  };

  // Flags and environment variables arrive already absolute (config.ts); the file's own paths are relative to it.
  const fromFile = (v: string | undefined) => (v === undefined ? undefined : path.resolve(baseDir, v));
  const [certFile, keyFile, caFile] = [fromFile(file.tls.cert), fromFile(file.tls.key), fromFile(file.tls.clientCa)];
  if ((certFile === undefined) !== (keyFile === undefined)) throw new ConfigError("tls: cert and key go together (--tls-cert and --tls-key)");
  if (caFile !== undefined && certFile === undefined) throw new ConfigError("tls.clientCa: client certificates need TLS: set tls.cert and tls.key too");
  const tls =
    certFile !== undefined && keyFile !== undefined
      ? { cert: readFile(certFile, "tls.cert"), key: readFile(keyFile, "tls.key"), clientCa: caFile === undefined ? undefined : readFile(caFile, "tls.clientCa") }
      : undefined;
  if (clientCerts.length > 0 && !tls?.clientCa) throw new ConfigError("auth.clientCerts: needs tls.clientCa, the CA that signs client certificates");
  if (tls?.clientCa && clientCerts.length === 0) throw new ConfigError("tls.clientCa: no auth.clientCerts entry grants a certificate subject any folder");

  const open = keys.length === 0 && clientCerts.length === 0;
  if (open && !isLoopback(file.server.host) && !auth.insecureNoAuth) {
    throw new ConfigError(
      `no credentials are configured (auth.keys or auth.clientCerts), so regplane serves loopback addresses only; ` +
        `to bind ${file.server.host}, add an API key ("regplane keys create --name NAME --folders FOLDER --role editor") ` +
        `or pass --insecure-no-auth to let anyone who reaches the ports act as an editor of every folder`,
    );
  }
  return tls === undefined ? { auth } : { auth, tls };
}

function envFlag(value: string, where: string): boolean {
  const flag = booleanWord(value);
  if (flag === undefined) throw new ConfigError(`${where}: expected true or false (got ${JSON.stringify(value)})`);
  return flag;
}
