// `regplane config set|get|list|use`: connection profiles in $XDG_CONFIG_HOME/regplane/config.yaml.
import type { Command } from "commander";
import { examples, result } from "../command.js";
import type { Io } from "../context.js";
import { CliError } from "../exit.js";
import { configPath, isProfileKey, PROFILE_KEYS, profileName, readConfigFile, writeConfigFile, type ConfigFile } from "../profiles.js";

/** An API key is never printed back: only whether one is set. */
const shown = (key: string, value: string | undefined) => (value === undefined ? "" : key === "api-key" ? "(set)" : value);

export function registerConfig(program: Command, io: Io): void {
  const config = program
    .command("config")
    .description(`connection profiles (endpoint, api-key, ca-file, insecure, output) in ${configPath(io.env).replace(io.env.HOME ?? "\0", "~")}`);
  const profileOf = (cmd: Command, file: ConfigFile) => profileName(cmd.optsWithGlobals(), io.env, file);

  const set = config
    .command("set")
    .argument("<key>", PROFILE_KEYS.join(", "))
    .argument("<value>")
    .description("set a key of the profile (--profile, or the current one); makes the file and profile when missing");
  examples(set, "regplane config set endpoint https://regplane.example.com:8080", "regplane config set api-key rpk_… --profile prod", "regplane config set ca-file /etc/regplane/ca.pem --profile prod");
  set.action((key: string, value: string, _o: unknown, cmd: Command) => {
    if (!isProfileKey(key)) throw new CliError(`config set: unknown key "${key}"; one of ${PROFILE_KEYS.join(", ")}`);
    const file = configPath(io.env);
    const doc = readConfigFile(file);
    const name = profileOf(cmd, doc);
    doc.profiles = { ...doc.profiles, [name]: { ...doc.profiles?.[name], [key]: value } };
    writeConfigFile(file, doc);
    io.out(`${name}: ${key} = ${shown(key, value)}\n`);
    result.exitCode = 0;
  });

  const unset = config.command("unset").argument("<key>").description("remove a key from the profile");
  unset.action((key: string, _o: unknown, cmd: Command) => {
    const file = configPath(io.env);
    const doc = readConfigFile(file);
    const name = profileOf(cmd, doc);
    if (isProfileKey(key) && doc.profiles?.[name]) {
      delete doc.profiles[name][key];
      writeConfigFile(file, doc);
    }
    result.exitCode = 0;
  });

  const get = config.command("get").argument("<key>").description("print a key of the profile (an api-key shows as \"(set)\")");
  get.action((key: string, _o: unknown, cmd: Command) => {
    const doc = readConfigFile(configPath(io.env));
    const value = isProfileKey(key) ? doc.profiles?.[profileOf(cmd, doc)]?.[key] : undefined;
    io.out(`${shown(key, value)}\n`);
    result.exitCode = value === undefined ? 1 : 0;
  });

  const list = config.command("list").alias("ls").description("print every profile; * marks the one in use");
  list.action((_o: unknown, cmd: Command) => {
    const doc = readConfigFile(configPath(io.env));
    const current = profileOf(cmd, doc);
    for (const [name, profile] of Object.entries(doc.profiles ?? {})) {
      io.out(`${name === current ? "*" : " "} ${name}\n`);
      for (const key of PROFILE_KEYS) if (profile[key] !== undefined) io.out(`    ${key}: ${shown(key, profile[key])}\n`);
    }
    result.exitCode = 0;
  });

  const use = config.command("use").argument("<profile>").description("make a profile the one used without --profile");
  examples(use, "regplane config use prod");
  use.action((name: string) => {
    const file = configPath(io.env);
    const doc = readConfigFile(file);
    if (doc.profiles?.[name] === undefined) throw new CliError(`no profile "${name}" in ${file}; make one with: regplane config set endpoint URL --profile ${name}`);
    doc["current-profile"] = name;
    writeConfigFile(file, doc);
    result.exitCode = 0;
  });
}
