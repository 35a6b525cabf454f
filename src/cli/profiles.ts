// Connection profiles in $XDG_CONFIG_HOME/regplane/config.yaml (default ~/.config), and how the settings
// of one call are chosen: flags, then REGPLANE_* environment variables, then the profile.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import * as path from "node:path";
import { CliError } from "./exit.js";

/** The YAML library, loaded when a config file is read or written rather than for every `--help`. */
const yaml = () => createRequire(import.meta.url)("yaml") as typeof import("yaml");

export const DEFAULT_ENDPOINT = "http://127.0.0.1:8080";

/** The settings a profile may hold, by the name `regplane config set` takes. */
export const PROFILE_KEYS = ["endpoint", "api-key", "ca-file", "insecure", "output"] as const;
export type ProfileKey = (typeof PROFILE_KEYS)[number];
export type Profile = Partial<Record<ProfileKey, string>>;

export interface ConfigFile {
  "current-profile"?: string;
  profiles?: Record<string, Profile>;
}

export function configPath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(homedir(), ".config");
  return path.join(base, "regplane", "config.yaml");
}

export function readConfigFile(file: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = yaml().parse(text);
  } catch (err) {
    throw new CliError(`${file} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) throw new CliError(`${file}: expected a mapping with "profiles"`);
  return doc as ConfigFile;
}

/** Writes the file readable by its owner only: a profile may hold an API key. */
export function writeConfigFile(file: string, config: ConfigFile): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, yaml().stringify(config), { mode: 0o600 });
  chmodSync(file, 0o600);
}

export function isProfileKey(key: string): key is ProfileKey {
  return (PROFILE_KEYS as readonly string[]).includes(key);
}

export interface ConnectionFlags {
  endpoint?: string;
  apiKey?: string;
  caFile?: string;
  insecure?: boolean;
  profile?: string;
  output?: string;
}

export interface Connection {
  endpoint: string;
  apiKey?: string;
  caFile?: string;
  insecure: boolean;
  /** The output format a profile asks for, used when -o is not given. */
  output?: string;
}

/** The profile a call uses: --profile, then REGPLANE_PROFILE, then the file's current-profile, then "default". */
export function profileName(flags: ConnectionFlags, env: NodeJS.ProcessEnv, config: ConfigFile): string {
  return flags.profile ?? env.REGPLANE_PROFILE ?? config["current-profile"] ?? "default";
}

function truthy(value: string | undefined, what: string): boolean | undefined {
  if (value === undefined || value === "") return undefined;
  if (/^(1|true|yes)$/i.test(value)) return true;
  if (/^(0|false|no)$/i.test(value)) return false;
  throw new CliError(`${what}: expected true or false, got "${value}"`);
}

/** Resolves each setting on its own: a flag wins over the environment, which wins over the profile. */
export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv): Connection {
  const file = configPath(env);
  const config = readConfigFile(file);
  const name = profileName(flags, env, config);
  const profile = config.profiles?.[name];
  const named = flags.profile !== undefined || env.REGPLANE_PROFILE !== undefined;
  if (profile === undefined && named) throw new CliError(`no profile "${name}" in ${file}; make one with: regplane config set endpoint URL --profile ${name}`);
  const p = profile ?? {};
  const endpoint = flags.endpoint ?? env.REGPLANE_ENDPOINT ?? p.endpoint ?? DEFAULT_ENDPOINT;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new CliError(`--endpoint: "${endpoint}" is not a URL (e.g. https://regplane.example.com:8080)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(`--endpoint: use http:// or https://, not ${url.protocol}`);
  return {
    endpoint: endpoint.replace(/\/+$/, ""),
    apiKey: flags.apiKey ?? (env.REGPLANE_API_KEY || undefined) ?? p["api-key"],
    caFile: flags.caFile ?? (env.REGPLANE_CA_FILE || undefined) ?? p["ca-file"],
    insecure: flags.insecure ?? truthy(env.REGPLANE_INSECURE, "REGPLANE_INSECURE") ?? truthy(p.insecure, `${file}: profiles.${name}.insecure`) ?? false,
    output: p.output,
  };
}
