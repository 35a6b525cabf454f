// The namespaces of a Yandex entry, listed and read: the registries over a folder, first repository
// segments in a pinned registry.
import { str } from "../../core/json.js";
import { compareStrings } from "../../core/order.js";
import type { AccountEntry, ListNamespacesQuery } from "../../core/provider.js";
import type { NamespaceRecord } from "../../core/types.js";
import type { YandexApi } from "./client.js";
import type { YandexRegistries } from "./registries.js";

export class YandexNamespaces {
  constructor(
    private readonly entry: AccountEntry,
    private readonly api: YandexApi,
    private readonly registries: YandexRegistries,
  ) {}

  async listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }> {
    const all = await this.namespaces(query.signal);
    const names = [...all.keys()]
      .filter((n) => (query.nameEquals === undefined || n === query.nameEquals) && (query.after === undefined || n > query.after))
      .sort(compareStrings);
    const limit = Math.max(1, query.limit);
    return { namespaces: names.slice(0, limit).map((n) => all.get(n)!), done: names.length <= limit };
  }

  async getNamespace(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    return (await this.namespaces(signal)).get(name);
  }

  /** Namespace name → record: registry ids over a folder, first repository segments in a pinned registry. */
  private async namespaces(signal: AbortSignal): Promise<Map<string, NamespaceRecord>> {
    const out = new Map<string, NamespaceRecord>();
    const add = (name: string, description: string, createdAt?: Date) => {
      if (name === "" || out.has(name)) return;
      const ns: NamespaceRecord = { registryId: this.entry.id, name, description, visibility: "unspecified", imageCount: 0, sizeBytes: 0 };
      if (createdAt) ns.createdAt = createdAt;
      out.set(name, ns);
    };
    if (this.entry.pinned === undefined) {
      for (const r of await this.registries.listRegistries(signal)) add(r.id, r.name, r.createdAt);
      return out;
    }
    const prefix = `${this.entry.pinned}/`;
    await this.api.pages("repositories", { registryId: this.entry.pinned }, "repositories", "listing repositories", signal, (r) => {
      const name = str(r.name);
      add((name.startsWith(prefix) ? name.slice(prefix.length) : name).split("/")[0], "");
    });
    return out;
  }
}
