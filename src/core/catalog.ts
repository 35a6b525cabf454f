// The configured registries and folders, and scope resolution. Services reach adapters only through here.
import type { LockService } from "./locks.js";
import { notFound } from "./errors.js";
import { ConfigError, type FolderConfig, type RegistryConfig } from "./config.js";
import { capabilityMismatches, type Provider } from "./provider.js";
import { unknownProvider } from "./registry-config.js";

export interface ProviderContext {
  dataDir: string;
  warn: (msg: string, ctx?: object) => void;
  /** Locks that hold across every process sharing the state store and data dir. */
  locks?: LockService;
}

export type ProviderFactory = (config: RegistryConfig, ctx: ProviderContext) => Provider;

/** The lookups an RPC makes: the whole catalog, or the part a caller's folders grant (see Catalog.viewOf). */
export interface RegistryView {
  registry(id: string): Provider;
  hasRegistry(id: string): boolean;
  folder(id: string): Provider[];
  all(): Provider[];
  firstFolderOf(registryId: string): string;
}

export class Catalog implements RegistryView {
  private readonly byId = new Map<string, Provider>();
  private readonly folders = new Map<string, Provider[]>();
  private readonly folderOf = new Map<string, string>();
  private readonly views = new Map<string, RegistryView>();

  constructor(
    providers: Provider[],
    folders: FolderConfig[],
  ) {
    for (const p of providers) {
      // A programming error in an adapter, not a configuration one: services trust the declared set.
      const mismatches = capabilityMismatches(p);
      if (mismatches.length > 0) throw new Error(`provider ${p.kind} (registry ${p.id}) ${mismatches.join("; ")}`);
      this.byId.set(p.id, p);
    }
    for (const f of folders) {
      this.folders.set(f.id, f.registries.map((id) => this.byId.get(id)!));
      for (const id of f.registries) if (!this.folderOf.has(id)) this.folderOf.set(id, f.id);
    }
  }

  static fromConfig(registries: RegistryConfig[], folders: FolderConfig[], factories: Record<string, ProviderFactory>, ctx: ProviderContext): Catalog {
    const providers = registries.map((r) => {
      const factory = factories[r.provider];
      if (!factory) throw new ConfigError(unknownProvider(r, Object.keys(factories)));
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

  /**
   * The catalog as a caller granted these folders sees it: registries and folders outside them answer
   * NOT_FOUND exactly as ones that do not exist, so a caller cannot learn what other tenants have.
   */
  viewOf(folders: string[] | "*"): RegistryView {
    if (folders === "*") return this;
    const key = [...folders].sort().join("\0");
    let view = this.views.get(key);
    if (!view) {
      // Configuration order, as all() walks it, whatever order the grant lists the folders in.
      const granted = [...this.folders.keys()].filter((f) => folders.includes(f));
      const providers = [...new Set(granted.flatMap((f) => this.folders.get(f)!))];
      const ids = new Set(providers.map((p) => p.id));
      view = {
        registry: (id) => {
          if (!ids.has(id)) throw notFound("registry", id);
          return this.registry(id);
        },
        hasRegistry: (id) => ids.has(id),
        folder: (id) => {
          if (!granted.includes(id)) throw notFound("folder", id);
          return this.folder(id);
        },
        all: () => providers,
        firstFolderOf: (registryId) => granted.find((f) => this.folders.get(f)!.some((p) => p.id === registryId)) ?? "",
      };
      this.views.set(key, view);
    }
    return view;
  }

  async close(): Promise<void> {
    await Promise.all([...this.byId.values()].map((p) => p.close?.()));
  }
}
