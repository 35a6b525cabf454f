// Wires one regplane process: store, catalog, operations engine, page tokens, the four services and both ports.
import { mkdirSync } from "node:fs";
import * as path from "node:path";
import type { Logger } from "pino";
import { providerFactories } from "../adapters/index.js";
import { Catalog } from "../core/catalog.js";
import type { Config } from "../core/config.js";
import { OperationEngine } from "../core/operations.js";
import { loadOrCreateTokenKeys, PageTokenCodec } from "../core/pagetoken.js";
import { Code, RegplaneError } from "../core/errors.js";
import { imageService } from "../services/image.js";
import { namespaceService } from "../services/namespace.js";
import { operationService } from "../services/operation.js";
import { registryService } from "../services/registry.js";
import { openSqliteStore } from "../store/sqlite.js";
import { startGrpcServer } from "./grpc.js";
import { startHttpServer } from "./http.js";
import { Metrics } from "./metrics.js";
import { codeName, RpcPipeline } from "./rpc.js";
import { toStatusRecord } from "./status.js";
import { yandexMirrors } from "./yandex.js";

export interface RunningApp {
  grpcPort: number;
  httpPort: number;
  /** Graceful: stop accepting, let in-flight calls and operations finish (bounded), close the store. */
  stop(): Promise<void>;
}

export async function startApp(config: Config, logger: Logger): Promise<RunningApp> {
  mkdirSync(config.dataDir, { recursive: true });
  const store = openSqliteStore(path.join(config.dataDir, "regplane.db"));
  const catalog = Catalog.fromConfig(config.registries, config.folders, providerFactories, {
    dataDir: config.dataDir,
    warn: (msg, ctx) => logger.warn(ctx ?? {}, msg),
  });
  const metrics = new Metrics();
  const engine = new OperationEngine({
    store,
    concurrency: config.operationConcurrency,
    retentionMs: config.operationRetentionMs,
    encodeError: toStatusRecord,
    cancelledStatus: () => toStatusRecord(new RegplaneError(Code.CANCELLED, "the operation was cancelled")),
    logger: logger.child({ component: "operations" }),
    onFinished: (op, durationMs) => {
      metrics.operationsFinished.inc({ kind: op.kind, result: op.error ? codeName(op.error.code) : "OK" });
      metrics.operationSeconds.observe({ kind: op.kind }, durationMs / 1000);
    },
  });
  metrics.operationCounts = () => store.countOperations();
  const tokens = new PageTokenCodec({ keys: await loadOrCreateTokenKeys(store, config.pageTokenKeys), store, ttlMs: config.pageTokenTtlMs });
  const deps = { catalog, store, engine, tokens, config };
  const bindings = [imageService(deps), operationService(deps), registryService(deps), namespaceService(deps)];
  const pipeline = new RpcPipeline(logger.child({ component: "rpc" }), metrics);
  const authenticate = () => "anonymous";

  const mirrors = config.yandexCompat ? yandexMirrors(bindings) : [];
  const grpcServer = await startGrpcServer({ host: config.host, port: config.grpcPort, bindings, pipeline, authenticate, mirrors });
  const httpServer = await startHttpServer({
    host: config.host,
    port: config.httpPort,
    bindings,
    pipeline,
    authenticate,
    metrics,
    corsOrigins: config.corsOrigins,
  });
  engine.start();
  logger.info(
    {
      grpc: `${config.host}:${grpcServer.port}`,
      http: `${config.host}:${httpServer.port}`,
      dataDir: config.dataDir,
      registries: config.registries.map((r) => `${r.id} (${r.provider})`),
      yandexCompat: mirrors.map((m) => m.service.typeName),
    },
    "regplane serving",
  );
  if (config.host === "127.0.0.1" || config.host === "localhost" || config.host === "::1") {
    logger.info("no authentication is configured; serving on a loopback address only");
  }

  return {
    grpcPort: grpcServer.port,
    httpPort: httpServer.port,
    async stop() {
      logger.info({ graceMs: config.shutdownGraceMs }, "shutting down: no new calls; waiting for in-flight calls and operations");
      await Promise.all([grpcServer.shutdown(config.shutdownGraceMs), httpServer.shutdown(config.shutdownGraceMs)]);
      await engine.stop(config.shutdownGraceMs);
      await catalog.close();
      await store.close();
      logger.info("stopped");
    },
  };
}
