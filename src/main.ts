#!/usr/bin/env node
// regplane: one gRPC / Connect API over every container registry.
import { parseArgs } from "node:util";
import { pino } from "pino";
import { ConfigError, loadConfig } from "./core/config.js";
import { startApp } from "./server/app.js";

const HELP = `regplane — one gRPC / Connect API over every container registry

Usage: regplane [options]

Options:
  --config FILE        YAML config: registries, folders, tokens, operations   (env REGPLANE_CONFIG)
  --data-dir DIR       state and the embedded registry (default ./data)         (env REGPLANE_DATA_DIR)
  --host ADDR          address both ports bind (default 127.0.0.1)              (env REGPLANE_HOST)
  --grpc-port N        gRPC port, with reflection and health (default 50051)   (env REGPLANE_GRPC_PORT)
  --http-port N        Connect / gRPC-Web / healthz / metrics (default 8080)   (env REGPLANE_HTTP_PORT)
  --cors-origin LIST   comma-separated browser origins allowed, or *            (env REGPLANE_CORS_ORIGINS)
  --log-level LEVEL    trace, debug, info, warn, error (default info)          (env REGPLANE_LOG_LEVEL)
  --no-yandex-compat   don't serve the Yandex Cloud names (see below)           (env REGPLANE_YANDEX_COMPAT=false)
  -h, --help           show this help

With no config file regplane serves the embedded registry "local" (OCI image layouts under
<data-dir>/registry) in folder "default". Put an image there with:
  skopeo copy docker://alpine:3 oci:./data/registry/library/alpine:3

The gRPC port also answers as yandex.cloud.containerregistry.v1.ImageService (List, Get, Delete) and
yandex.cloud.operation.OperationService (Get, Cancel), so an existing Yandex Cloud SDK client works by
pointing its Container Registry and Operation endpoints there. --no-yandex-compat turns this off.
`;

async function main(): Promise<number> {
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
        help: { type: "boolean", short: "h" },
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
      },
      env: process.env,
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`regplane: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = pino({ level: config.logLevel, base: { service: "regplane" }, redact: ["*.password", "*.token", "*.authorization"] });
  const app = await startApp(config, logger);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      logger.info({ signal }, "signal received");
      resolve();
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
  await app.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`regplane: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
