// Wires one regplane process: store, catalog, operations engine, page tokens, the services and both ports.
import { mkdirSync } from "node:fs";
import type { Logger } from "pino";
import { providerFactories } from "../adapters/index.js";
export { registrySchemas } from "../adapters/index.js";
import { Catalog, type ProviderFactory } from "../core/catalog.js";
import { isLoopback } from "../core/access-config.js";
import type { Config } from "../core/config.js";
import { OperationEngine } from "../core/operations.js";
import { loadOrCreateTokenKeys, PageTokenCodec } from "../core/pagetoken.js";
import { Code, RegplaneError } from "../core/errors.js";
import { bulkService } from "../services/bulk.js";
import { imageService } from "../services/image.js";
import { namespaceService } from "../services/namespace.js";
import { idIndexes } from "../services/id-index.js";
import { tagService } from "../services/tag.js";
import { operationService } from "../services/operation.js";
import { registryService } from "../services/registry.js";
import { repositoryService } from "../services/repository.js";
import { lifecyclePolicyService } from "../services/lifecycle-policy.js";
import { DeferredLocks } from "../core/locks.js";
import { guardStore } from "../store/failures.js";
import { layoutLocks, openStore } from "../store/open.js";
import { StoreReadiness } from "../store/readiness.js";
import { Authenticator } from "./auth.js";
import { startGrpcServer } from "./grpc.js";
import { consoleRoutes } from "./console.js";
import { startHttpServer } from "./http.js";
import { RateLimiter } from "./limits.js";
import { Metrics } from "./metrics.js";
import { codeName, RpcPipeline } from "./rpc.js";
import { toStatusRecord } from "../services/status.js";
import { useBufferUtf8Encoding } from "./utf8.js";
import { yandexMirrors } from "./yandex.js";

export interface RunningApp {
  grpcPort: number;
  httpPort: number;
  /** Graceful: stop accepting, let in-flight calls and operations finish (bounded), close the store. */
  stop(): Promise<void>;
}

/** `extraFactories` adds provider kinds (or replaces built-in ones) for embedding, e.g. benchmarks. */
export async function startApp(config: Config, logger: Logger, extraFactories?: Record<string, ProviderFactory>): Promise<RunningApp> {
  useBufferUtf8Encoding();
  mkdirSync(config.dataDir, { recursive: true });
  // Registry entries are checked (ConfigError) before the store is opened, so a refused config leaves nothing open.
  const locks = new DeferredLocks();
  const catalog = Catalog.fromConfig(config.registries, config.folders, { ...providerFactories, ...extraFactories }, {
    dataDir: config.dataDir,
    warn: (msg, ctx) => logger.warn(ctx ?? {}, msg),
    locks,
  });
  const storeLog = logger.child({ component: "store" });
  const store = guardStore(await openStore(config.state, config.dataDir, storeLog), (err, method) => storeLog.error({ err, method }, "state store failed"));
  locks.use(layoutLocks(store, config.dataDir));
  const metrics = new Metrics();
  const engine = new OperationEngine({
    store,
    concurrency: config.operations.concurrency,
    retentionMs: config.operations.retention,
    leaseMs: config.operations.lease,
    encodeError: toStatusRecord,
    cancelledStatus: () => toStatusRecord(new RegplaneError(Code.CANCELLED, "the operation was cancelled")),
    logger: logger.child({ component: "operations" }),
    onFinished: (op) => {
      metrics.operationsFinished.inc({ kind: op.kind, result: op.error ? codeName(op.error.code) : "OK" });
      // Creation to end, as the metric's help says: the wait for a worker is part of what a caller sees.
      metrics.operationSeconds.observe({ kind: op.kind }, (op.modifiedAt.getTime() - op.createdAt.getTime()) / 1000);
    },
  });
  metrics.operationCounts = () => store.countOperations();
  const tokens = new PageTokenCodec({ keys: await loadOrCreateTokenKeys(store, config.pageTokens.keys), store, ttlMs: config.pageTokens.ttl });
  const deps = { catalog, store, engine, tokens, config, ids: idIndexes(store) };
  const bindings = [imageService(deps), operationService(deps), registryService(deps), namespaceService(deps), repositoryService(deps), tagService(deps), lifecyclePolicyService(deps), bulkService(deps)];
  const { authenticate, open } = new Authenticator(config.auth, config.limits, (result) => metrics.keyVerifications.inc({ result }));
  const pipeline = new RpcPipeline(logger.child({ component: "rpc" }), metrics, {
    authenticate,
    catalog,
    limiter: new RateLimiter(config.limits.ratePerSecond, config.limits.burst),
    limits: config.limits,
    audit: logger.child({ component: "rpc", audit: true }),
  });
  const transport = { tls: config.tls, maxMessageBytes: config.limits.maxMessageBytes, maxConcurrentStreams: config.limits.maxConcurrentStreams };
  const guardHealth = config.auth.protectHealth ? authenticate : undefined;
  // gRPC health follows the store too; set once the server exists (below).
  let setGrpcHealth = (_ready: boolean): void => {};
  const readiness = new StoreReadiness(store, (ready) => {
    logger.warn({ ready }, ready ? "state store reachable again" : "state store unreachable: not ready");
    setGrpcHealth(ready);
  });

  const mirrors = config.server.yandexCompat ? yandexMirrors(bindings) : [];
  const grpcServer = await startGrpcServer({
    host: config.server.host,
    port: config.server.grpcPort,
    bindings,
    pipeline,
    mirrors,
    ...transport,
    connectionLimits: config.limits,
    guardReflection: config.auth.protectReflection ? authenticate : undefined,
    guardHealth,
  });
  const httpServer = await startHttpServer({
    host: config.server.host,
    port: config.server.httpPort,
    bindings,
    pipeline,
    ...transport,
    maxJsonDepth: config.limits.maxJsonDepth,
    connectionLimits: config.limits,
    guardHealth,
    ready: () => readiness.ready,
    metrics,
    corsOrigins: config.server.corsOrigins,
    fallback: consoleRoutes(),
  });
  const healthNames = ["", ...bindings.map((b) => b.service.typeName), ...mirrors.map((m) => m.service.typeName)];
  setGrpcHealth = (ready) => {
    for (const name of healthNames) grpcServer.health.setStatus(name, ready ? "SERVING" : "NOT_SERVING");
  };
  readiness.start();
  engine.start();
  if (open && isLoopback(config.server.host)) {
    logger.warn("no credentials are configured (auth.keys, auth.clientCerts): every caller is an editor of every folder; serving on a loopback address only");
  } else if (open) {
    logger.warn({ host: config.server.host }, "no credentials are configured and --insecure-no-auth is set: anyone who reaches these ports is an editor of every folder");
  }
  logger.info(
    {
      grpc: `${config.server.host}:${grpcServer.port}`,
      http: `${config.server.host}:${httpServer.port}`,
      dataDir: config.dataDir,
      registries: config.registries.map((r) => `${r.id} (${r.provider})`),
      yandexCompat: mirrors.map((m) => m.service.typeName),
      tls: config.tls ? (config.tls.clientCa ? "mtls" : "tls") : "off",
      auth: open ? "open" : { keys: config.auth.keys.map((k) => k.name), clientCerts: config.auth.clientCerts.map((c) => c.subject) },
    },
    "regplane serving",
  );

  return {
    grpcPort: grpcServer.port,
    httpPort: httpServer.port,
    async stop() {
      logger.info({ graceMs: config.server.shutdownGrace }, "shutting down: no new calls; waiting for in-flight calls and operations");
      readiness.stop();
      // Calls and operations drain side by side, so the whole stop takes at most shutdownGrace.
      await Promise.all([grpcServer.shutdown(config.server.shutdownGrace), httpServer.shutdown(config.server.shutdownGrace), engine.stop(config.server.shutdownGrace)]);
      await catalog.close();
      await store.close();
      logger.info("stopped");
    },
  };
}
