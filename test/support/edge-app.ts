// regplane started in this process (startApp, as src/cli/serve.ts wires it) over `memory` registries whose
// listings can be held at a gate, for edge tests that need a call held at a registry.
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { pino } from "pino";
import { loadConfig, type Config } from "../../src/core/config.js";
import type { ImagePage, ListImagesQuery } from "../../src/core/provider.js";
import { startApp, type RunningApp } from "../../src/server/app.js";
import { MemoryProvider, testImage } from "./memory-provider.js";
import { removeDir, tempDir } from "./server.js";

/** Holds every listing that reaches it until opened. */
export class ListingGate {
  private opened = false;
  private waiters: Array<() => void> = [];
  readonly held: ListImagesQuery[] = [];

  async pass(query: ListImagesQuery): Promise<void> {
    this.held.push(query);
    if (this.opened) return;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  open(): void {
    this.opened = true;
    for (const w of this.waiters.splice(0)) w();
  }
}

/** A memory registry whose listings pass `gate` first when one is set. */
class GatedProvider extends MemoryProvider {
  listingGate?: ListingGate;
  override async listImages(query: ListImagesQuery): Promise<ImagePage> {
    await this.listingGate?.pass(query);
    return super.listImages(query);
  }
}

export interface EdgeApp {
  app: RunningApp;
  config: Config;
  grpcAddress: string;
  httpUrl: string;
  providers: Map<string, GatedProvider>;
  stop(): Promise<void>;
}

/** Starts regplane with this YAML (registries of provider `memory` get two images each). */
export async function startEdgeApp(yaml: string): Promise<EdgeApp> {
  const dataDir = tempDir("regplane-edge-");
  const file = path.join(dataDir, "regplane.yaml");
  writeFileSync(file, yaml);
  const config = loadConfig({ flags: { config: file, dataDir, grpcPort: "0", httpPort: "0", logLevel: "silent" }, env: {} });
  const providers = new Map<string, GatedProvider>();
  const memory = (cfg: { id: string }) => {
    const p = new GatedProvider(cfg.id, [testImage(cfg.id, "app", "sha256:" + "a".repeat(64)), testImage(cfg.id, "app", "sha256:" + "b".repeat(64))]);
    providers.set(cfg.id, p);
    return p;
  };
  const app = await startApp(config, pino({ level: "silent" }), { memory });
  return {
    app,
    config,
    grpcAddress: `127.0.0.1:${app.grpcPort}`,
    httpUrl: `http://127.0.0.1:${app.httpPort}`,
    providers,
    async stop() {
      await app.stop();
      removeDir(dataDir);
    },
  };
}
