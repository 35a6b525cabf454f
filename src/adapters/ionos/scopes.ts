// Where our repository paths live on IONOS: the registries a walk covers (the pinned one, or every
// registry of the contract under a "<registry name>/" prefix), the registry and IONOS repository name
// of one path, and the repository names of a registry. Images and namespaces both read these.
import { obj, str } from "../../core/json.js";
import { compareStrings } from "../../core/order.js";
import type { IonosClient } from "./client.js";
import type { IonosRegistries } from "./registries.js";

export interface Scope {
  registryId: string;
  /** "" for a pinned registry; "<registry name>/" over the contract. */
  prefix: string;
}

/** One IONOS repository: its registry and its name there. */
export interface ScopedRepository {
  scope: Scope;
  name: string;
}

export class IonosScopes {
  constructor(
    private readonly client: IonosClient,
    private readonly registries: IonosRegistries,
    /** One IONOS registry (UUID); undefined covers every registry of the contract. */
    private readonly pinned: string | undefined,
  ) {}

  /** The registries a walk covers, ordered so that their repositories' full paths ascend. */
  async all(signal: AbortSignal): Promise<Scope[]> {
    if (this.pinned !== undefined) return [{ registryId: this.pinned, prefix: "" }];
    const registries = await this.registries.fetchRegistries(undefined, signal);
    return registries
      .map((r) => ({ registryId: str(r.id), prefix: `${str(obj(r.properties).name)}/` }))
      .filter((s) => s.registryId !== "" && s.prefix !== "/")
      .sort((a, b) => compareStrings(a.prefix, b.prefix));
  }

  /** The registry and IONOS repository name of one of our repository paths; undefined when there is none. */
  async locate(repository: string, signal: AbortSignal): Promise<ScopedRepository | undefined> {
    if (repository === "") return undefined;
    if (this.pinned !== undefined) return { scope: { registryId: this.pinned, prefix: "" }, name: repository };
    const slash = repository.indexOf("/");
    if (slash <= 0 || slash === repository.length - 1) return undefined;
    const registryName = repository.slice(0, slash);
    const match = (await this.registries.fetchRegistries(registryName, signal)).find((r) => obj(r.properties).name === registryName);
    if (match === undefined) return undefined;
    return { scope: { registryId: str(match.id), prefix: `${registryName}/` }, name: repository.slice(slash + 1) };
  }

  /**
   * Every repository name of a registry, code-unit sorted. Asked in name order: the default, -lastPush,
   * moves a repository pushed to mid-read to an offset already read, and the read would miss it.
   */
  async repositoryNames(registryId: string, signal: AbortSignal): Promise<string[]> {
    const names: string[] = [];
    const each = (item: Record<string, unknown>) => {
      const name = str(obj(item.properties).name) || str(item.id);
      if (name) names.push(name);
    };
    await this.client.offsetPages(`registries/${encodeURIComponent(registryId)}/repositories`, `listing repositories of registry ${registryId}`, signal, each, { orderBy: "name" });
    return [...new Set(names)].sort(compareStrings);
  }
}
