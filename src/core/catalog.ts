// The configured registries and folders, and scope resolution. Services reach adapters only through here.
import { notFound } from "./errors.js";
import type { FolderConfig, RegistryConfig } from "./config.js";
import type { Provider } from "./provider.js";

export interface ProviderContext {
  dataDir: string;
  warn: (msg: string, ctx?: object) => void;
}

export type ProviderFactory = (config: RegistryConfig, ctx: ProviderContext) => Provider;

export class Catalog {
  private readonly byId = new Map<string, Provider>();
  private readonly folders = new Map<string, Provider[]>();
  private readonly folderOf = new Map<string, string>();

  constructor(
    providers: Provider[],
    folders: FolderConfig[],
  ) {
    for (const p of providers) this.byId.set(p.id, p);
    for (const f of folders) {
      this.folders.set(f.id, f.registries.map((id) => this.byId.get(id)!));
      for (const id of f.registries) if (!this.folderOf.has(id)) this.folderOf.set(id, f.id);
    }
  }

  static fromConfig(registries: RegistryConfig[], folders: FolderConfig[], factories: Record<string, ProviderFactory>, ctx: ProviderContext): Catalog {
    const providers = registries.map((r) => {
      const factory = factories[r.provider];
      if (!factory) throw new Error(`registry ${r.id}: unknown provider ${JSON.stringify(r.provider)} (known: ${Object.keys(factories).join(", ")})`);
      return factory(r, ctx);
    });
    return new Catalog(providers, folders);
  }

  registry(id: string): Provider {
    const p = this.byId.get(id);
    if (!p) throw notFound("registry", id);
    return p;
  }

  hasRegistry(id: string): boolean {
    return this.byId.has(id);
  }

  folder(id: string): Provider[] {
    const f = this.folders.get(id);
    if (!f) throw notFound("folder", id);
    return f;
  }

  /** Every registry, in folder order then configuration order, each once. */
  all(): Provider[] {
    const seen = new Set<Provider>();
    for (const list of this.folders.values()) for (const p of list) seen.add(p);
    for (const p of this.byId.values()) seen.add(p);
    return [...seen];
  }

  firstFolderOf(registryId: string): string {
    return this.folderOf.get(registryId) ?? "";
  }

  async close(): Promise<void> {
    await Promise.all([...this.byId.values()].map((p) => p.close?.()));
  }
}
