// regplane (startApp, the same wiring as src/main.ts) with provider kinds the benchmarks inject:
// `delayed-local`, an embedded registry that answers every listing after `delayMs`, and `oci`, the OCI
// adapter kept at hand so its request counters can be read. Started by bench/run.ts over IPC, which can
// also ask for those counters and for a record of every HTTP request the adapter sends. regplane's code
// is loaded compiled from dist/ (which the bench builds first), as `npm start` runs it, not through tsx.
import { subscribe } from "node:diagnostics_channel";
import { parseArgs } from "node:util";
import { pino } from "pino";
import type { ProviderFactory } from "../../src/core/catalog.js";
import type { ImagePage, ListImagesQuery, ListNamespacesQuery, ListRepositoriesQuery, Provider } from "../../src/core/provider.js";
import type { Capability, ImageRecord, NamespaceRecord, RegistryRecord, RepositoryRecord } from "../../src/core/types.js";

/** A module of dist/, typed as its source in src/. */
const compiled = <M>(module: string): Promise<M> => import(new URL(`../../dist/${module}`, import.meta.url).href) as Promise<M>;
const { providerFactories } = await compiled<typeof import("../../src/adapters/index.js")>("adapters/index.js");
const { LocalProvider } = await compiled<typeof import("../../src/adapters/local/index.js")>("adapters/local/index.js");
const { OciProvider } = await compiled<typeof import("../../src/adapters/oci/index.js")>("adapters/oci/index.js");
const { loadConfig } = await compiled<typeof import("../../src/core/config.js")>("core/config.js");
const { startApp } = await compiled<typeof import("../../src/server/app.js")>("server/app.js");
type OciProvider = InstanceType<typeof OciProvider>;

/** An embedded registry that waits before every listing, like a registry across a network. */
class DelayedProvider implements Provider {
  readonly kind = "delayed-local";
  constructor(
    private readonly inner: Provider,
    private readonly delayMs: number,
  ) {}
  get id() {
    return this.inner.id;
  }
  /** What it forwards: the inner registry's listing and image deletes, none of its namespace changes. */
  get capabilities(): ReadonlySet<Capability> {
    return new Set([...this.inner.capabilities].filter((c) => c === "list_images" || c === "delete_images" || c === "list_namespaces"));
  }
  describe(): RegistryRecord {
    return { ...this.inner.describe(), capabilities: [...this.capabilities] };
  }
  async listImages(query: ListImagesQuery): Promise<ImagePage> {
    await delay(this.delayMs, query.signal);
    return this.inner.listImages(query);
  }
  getImage(repository: string, digest: string, signal: AbortSignal): Promise<ImageRecord | undefined> {
    return this.inner.getImage(repository, digest, signal);
  }
  deleteImage(repository: string, digest: string, signal: AbortSignal): Promise<void> {
    return this.inner.deleteImage(repository, digest, signal);
  }
  listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }> {
    return this.inner.listNamespaces(query);
  }
  getNamespace(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    return this.inner.getNamespace(name, signal);
  }
  listRepositories(query: ListRepositoriesQuery): Promise<{ repositories: RepositoryRecord[]; done: boolean }> {
    return this.inner.listRepositories(query);
  }
  getRepository(name: string, signal: AbortSignal): Promise<RepositoryRecord | undefined> {
    return this.inner.getRepository(name, signal);
  }
  async close(): Promise<void> {
    await this.inner.close?.();
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });
}

const { values } = parseArgs({ options: { config: { type: "string" }, "data-dir": { type: "string" } } });
const config = loadConfig({ flags: { config: values.config, dataDir: values["data-dir"], grpcPort: "0", httpPort: "0", logLevel: "warn" }, env: {} });
const logger = pino({ level: config.server.logLevel, base: { service: "regplane" } });

const ociProviders = new Map<string, OciProvider>();
const builtInOci: ProviderFactory | undefined = Object.hasOwn(providerFactories, "oci") ? providerFactories.oci : undefined;
const factories: Record<string, ProviderFactory> = {
  "delayed-local": (cfg, ctx) =>
    new DelayedProvider(new LocalProvider({ id: cfg.id, root: String(cfg.path), onWarning: ctx.warn }), Number(cfg.delayMs ?? 20)),
  // The built-in factory when the adapter is registered, else the adapter wired here the same way.
  oci: (cfg, ctx) => {
    const provider = builtInOci
      ? builtInOci(cfg, ctx)
      : new OciProvider({ id: cfg.id, endpoint: String(cfg.endpoint), insecure: cfg.insecure === true, logger: { warn: ctx.warn } });
    if (provider instanceof OciProvider) ociProviders.set(cfg.id, provider);
    return provider;
  },
};

interface RecordedRequest {
  method: string;
  origin: string;
  path: string;
  headers: Record<string, string>;
}
let recording: RecordedRequest[] | undefined;
subscribe("undici:request:create", (message) => {
  if (recording === undefined) return;
  const { request } = message as { request: { method: string; origin: string; path: string; headers: string[] | string } };
  const headers: Record<string, string> = {};
  const raw = Array.isArray(request.headers) ? request.headers : [];
  for (let i = 0; i + 1 < raw.length; i += 2) headers[raw[i].toLowerCase()] = raw[i + 1];
  recording.push({ method: request.method, origin: String(request.origin), path: request.path, headers });
});

const app = await startApp(config, logger, factories);
process.on("message", (m: { id: number; cmd: string; on?: boolean }) => {
  const reply = (body: object) => process.send!({ type: "reply", id: m.id, ...body });
  if (m.cmd === "stats") {
    const stats = Object.fromEntries([...ociProviders].map(([id, p]) => [id, p.stats()]));
    reply({ stats, oci: builtInOci ? "built-in factory" : "adapter wired by bench/servers/app.ts" });
  } else if (m.cmd === "record") {
    const recorded = recording ?? [];
    recording = m.on ? [] : undefined;
    reply({ requests: recorded });
  } else {
    reply({ error: `unknown command ${m.cmd}` });
  }
});
process.on("SIGTERM", () => {
  app.stop().then(() => process.exit(0), () => process.exit(1));
});
process.send!({ type: "ready", ready: { grpcPort: app.grpcPort, httpPort: app.httpPort } });
