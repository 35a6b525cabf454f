// The namespaces of an IONOS entry, listed and read: the registries over a contract, first repository
// segments in a pinned registry.
import { compareStrings } from "../../core/order.js";
import type { AccountEntry, ListNamespacesQuery } from "../../core/provider.js";
import type { NamespaceRecord } from "../../core/types.js";
import type { IonosScopes } from "./scopes.js";

export class IonosNamespaces {
  constructor(
    private readonly entry: AccountEntry,
    private readonly scopes: IonosScopes,
  ) {}

  async listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }> {
    const names = [...(await this.namespaceNames(query.signal))]
      .filter((n) => (query.nameEquals === undefined || n === query.nameEquals) && (query.after === undefined || n > query.after))
      .sort(compareStrings);
    const limit = Math.max(1, query.limit);
    return { namespaces: names.slice(0, limit).map((n) => this.namespaceRecord(n)), done: names.length <= limit };
  }

  async getNamespace(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    return (await this.namespaceNames(signal)).has(name) ? this.namespaceRecord(name) : undefined;
  }

  private async namespaceNames(signal: AbortSignal): Promise<Set<string>> {
    if (this.entry.pinned === undefined) return new Set((await this.scopes.all(signal)).map((s) => s.prefix.slice(0, -1)));
    return new Set((await this.scopes.repositoryNames(this.entry.pinned, signal)).map((n) => n.split("/")[0]));
  }

  private namespaceRecord(name: string): NamespaceRecord {
    // Counting images and bytes would read every artifact; the listing gives names only.
    return { registryId: this.entry.id, name, description: "", visibility: "unspecified", imageCount: 0, sizeBytes: 0 };
  }
}
