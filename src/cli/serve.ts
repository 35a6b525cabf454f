// `regplane serve`: the server process (also run bare, and as `keys create` for the keys it trusts).
import "./threadpool.js";
import { mkdirSync } from "node:fs";
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import { configWarnings, loadConfig } from "../core/config.js";
import { runKeysCommand } from "./keys.js";
import { registrySchemas, startApp } from "../server/app.js";
import { governHeapGrowth } from "../server/heap.js";
import { createProcessLog } from "../server/logging.js";
import { prepareDataDir, reportStartupFailure, routeGrpcLogs } from "../server/startup.js";

const HELP = `regplane — one gRPC / Connect API over every container registry

Usage: regplane serve [options]   (or: regplane [options])
       regplane image list …        (the command-line client of a running server; see regplane --help)
       regplane keys create --name NAME --folders LIST [--role viewer|editor]   (see regplane keys --help)

Options:
  --config FILE        YAML config: registries, folders, tokens, operations   (env REGPLANE_CONFIG)
  --data-dir DIR       state and the embedded registry (default ./data)         (env REGPLANE_DATA_DIR)
  --host ADDR          address both ports bind (default 127.0.0.1)              (env REGPLANE_HOST)
  --grpc-port N        gRPC port, with reflection and health (default 50051)   (env REGPLANE_GRPC_PORT)
  --http-port N        Connect / gRPC-Web / healthz / metrics (default 8080)   (env REGPLANE_HTTP_PORT)
  --cors-origin LIST   comma-separated browser origins allowed, or *            (env REGPLANE_CORS_ORIGINS)
  --log-level LEVEL    trace, debug, info, warn, error (default info)          (env REGPLANE_LOG_LEVEL)
  --no-yandex-compat   don't serve the Yandex Cloud names (see below)           (env REGPLANE_YANDEX_COMPAT=false)
  --tls-cert FILE      serve TLS on both ports with this certificate chain      (env REGPLANE_TLS_CERT)
  --tls-key FILE       … and this private key                                   (env REGPLANE_TLS_KEY)
  --tls-client-ca FILE verify client certificates against this CA (mTLS)       (env REGPLANE_TLS_CLIENT_CA)
  --insecure-no-auth   allow a non-loopback --host with no credentials configured (env REGPLANE_INSECURE_NO_AUTH)
  --version            print the version
  -h, --help           show this help

With no config file regplane serves the embedded registry "local" (OCI image layouts under
<data-dir>/registry) in folder "default", without authentication, on 127.0.0.1 only. API keys
(auth.keys in the config, made by "regplane keys create") or client certificates grant folders and a
role. Put an image there with:
  mkdir -p ./data/registry/library && skopeo copy docker://alpine:3 oci:./data/registry/library/alpine:3

The gRPC port also answers as yandex.cloud.containerregistry.v1.ImageService (List, Get, Delete) and
yandex.cloud.operation.OperationService (Get, Cancel), so an existing Yandex Cloud SDK client works by
pointing its Container Registry and Operation endpoints there. --no-yandex-compat turns this off.
`;

async function main(): Promise<number> {
  if (process.argv[2] === "keys") {
    return runKeysCommand(process.argv.slice(3), (t) => process.stdout.write(t), (t) => process.stderr.write(t));
  }
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: "string" },
        "data-dir": { type: "string" },
        host: { type: "string" },
        "grpc-port": { type: "string" },
        "http-port": { type: "string" },
        "cors-origin": { type: "string" },
        "log-level": { type: "string" },
        "no-yandex-compat": { type: "boolean" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        "tls-client-ca": { type: "string" },
        "insecure-no-auth": { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`regplane: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    // package.json is one level up from both src/ and dist/.
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    process.stdout.write(`regplane ${version}\n`);
    return 0;
  }
  const requestedLevel = values["log-level"] ?? process.env.REGPLANE_LOG_LEVEL;
  let log: ReturnType<typeof createProcessLog> | undefined;
  const failed = (err: unknown) => {
    log?.close(1000);
    return reportStartupFailure(err, { debug: requestedLevel === "debug" || requestedLevel === "trace", write: (t) => process.stderr.write(t) });
  };
  let config;
  try {
    config = loadConfig({
      flags: {
        config: values.config,
        dataDir: values["data-dir"],
        host: values.host,
        grpcPort: values["grpc-port"],
        httpPort: values["http-port"],
        corsOrigins: values["cors-origin"],
        logLevel: values["log-level"],
        yandexCompat: values["no-yandex-compat"] ? false : undefined,
        tlsCert: values["tls-cert"],
        tlsKey: values["tls-key"],
        tlsClientCa: values["tls-client-ca"],
        insecureNoAuth: values["insecure-no-auth"] ? true : undefined,
      },
      env: process.env,
      registrySchemas,
    });
  } catch (err) {
    return failed(err);
  }
  // So `skopeo copy … oci:<data-dir>/registry/<repo>:<tag>` works on a fresh data dir; a folder that
  // cannot be made is reported by the embedded registry when it is listed.
  for (const reg of config.registries) {
    if (reg.provider !== "local" || typeof reg.path !== "string") continue;
    try {
      mkdirSync(reg.path, { recursive: true });
    } catch {
      continue;
    }
  }
  if (config.server.heapHeadroom > 0) governHeapGrowth(config.server.heapHeadroom);
  log = createProcessLog(config.server.logLevel);
  const { logger } = log;
  routeGrpcLogs(logger);
  for (const warning of configWarnings(config)) logger.warn(warning);
  let app;
  try {
    prepareDataDir(config.dataDir);
    app = await startApp(config, logger);
  } catch (err) {
    return failed(err);
  }
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  logger.info({ signal }, "signal received");
  // Whatever else hangs (a handler ignoring its abort, stdout), the process ends soon after shutdownGrace.
  setTimeout(() => {
    log.close(0);
    process.exit(1);
  }, config.server.shutdownGrace + 2000).unref();
  await app.stop();
  log.close(1000);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`regplane: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
