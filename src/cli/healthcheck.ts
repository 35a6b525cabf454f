// The container's HEALTHCHECK: GET /healthz on the HTTP port the server really uses — read from the same
// flags (PID 1's command line), environment and config file — over TLS when it serves TLS.
// Exit 0 when the server answers that it is serving; with auth.protectHealth and no REGPLANE_HEALTH_API_KEY,
// a 401 also counts: the server is up and guarding the page.
import { readFileSync, readlinkSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import { loadConfig, type ConfigSources } from "../core/config.js";

const VALUE_FLAGS: Record<string, keyof ConfigSources["flags"]> = {
  "--config": "config",
  "--data-dir": "dataDir",
  "--host": "host",
  "--http-port": "httpPort",
  "--tls-cert": "tlsCert",
  "--tls-key": "tlsKey",
  "--tls-client-ca": "tlsClientCa",
};
const PATH_FLAGS = new Set(["config", "dataDir", "tlsCert", "tlsKey", "tlsClientCa"]);

/** The server flags on a command line (`--http-port 9000` or `--http-port=9000`), paths made absolute. */
export function serverFlags(argv: string[], cwd: string): ConfigSources["flags"] {
  const flags: ConfigSources["flags"] = {};
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i].split(/=(.*)/s, 2);
    const key = VALUE_FLAGS[name];
    if (key === undefined) {
      if (name === "--insecure-no-auth") flags.insecureNoAuth = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value !== undefined) (flags as Record<string, string>)[key] = PATH_FLAGS.has(key) ? path.resolve(cwd, value) : value;
  }
  return flags;
}

/** PID 1's arguments and working directory inside a container; none elsewhere. */
function pidOneCommandLine(): { argv: string[]; cwd: string } {
  try {
    const argv = readFileSync("/proc/1/cmdline", "utf8").split("\0").filter(Boolean);
    return { argv: argv.some((a) => /main\.js$/.test(a)) ? argv : [], cwd: readlinkSync("/proc/1/cwd") };
  } catch {
    return { argv: [], cwd: process.cwd() };
  }
}

export async function healthcheck(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const fromPidOne = pidOneCommandLine();
  const flags = serverFlags(argv.length > 0 ? argv : fromPidOne.argv, argv.length > 0 ? process.cwd() : fromPidOne.cwd);
  const config = loadConfig({ flags, env });
  const host = config.server.host === "0.0.0.0" ? "127.0.0.1" : config.server.host === "::" ? "::1" : config.server.host;
  const key = env.REGPLANE_HEALTH_API_KEY;
  const status = await new Promise<number | undefined>((resolve) => {
    const get = config.tls ? https.get : http.get;
    const req = get(
      { host, port: config.server.httpPort, path: "/healthz", rejectUnauthorized: false, headers: key ? { authorization: `Bearer ${key}` } : {}, timeout: 2500 },
      (res) => {
        res.resume();
        resolve(res.statusCode);
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
  if (status === 200) return 0;
  if (status === 401 && config.auth.protectHealth && !key) return 0;
  process.stderr.write(`regplane healthcheck: ${status === undefined ? "no answer" : `HTTP ${status}`} from ${host}:${config.server.httpPort}/healthz\n`);
  return 1;
}
