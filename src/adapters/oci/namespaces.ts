// The namespaces of an OCI Distribution registry: the first path segments of its repository names.
import { compareStrings } from "../../core/order.js";
import type { ListNamespacesQuery } from "../../core/provider.js";
import type { NamespaceRecord } from "../../core/types.js";
import { isRepositoryName } from "../../core/manifest.js";
import type { OciCatalog } from "./catalog.js";

export class OciNamespaces {
  constructor(
    private readonly id: string,
    private readonly catalog: OciCatalog,
  ) {}

  async listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }> {
    // The catalog is sorted by repository, not by first segment ("a-b" sorts before "a/c"), so the
    // namespace list needs the whole catalog; it holds names only (one request per catalogPageSize).
    const names = new Set<string>();
    for await (const repositories of this.catalog.repositoryBatches(undefined, query.signal)) {
      for (const r of repositories) names.add(namespaceOf(r));
    }
    const sorted = [...names]
      .filter((n) => (query.nameEquals === undefined || n === query.nameEquals) && (query.after === undefined || n > query.after))
      .sort(compareStrings);
    const limit = Math.max(1, query.limit);
    return { namespaces: sorted.slice(0, limit).map((n) => this.namespaceRecord(n)), done: sorted.length <= limit };
  }

  async getNamespace(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    if (!isRepositoryName(name) || name.includes("/")) return undefined;
    // Every repository of namespace N sorts in [N, N + "0"): "/" is the code unit just below "0".
    const end = `${name}0`;
    const start = name.length > 1 ? name.slice(0, -1) : undefined;
    for await (const repositories of this.catalog.repositoryBatches(start, signal)) {
      for (const r of repositories) {
        if (namespaceOf(r) === name) return this.namespaceRecord(name);
        if (r >= end) return undefined;
      }
    }
    return undefined;
  }

  private namespaceRecord(name: string): NamespaceRecord {
    // Counting images and bytes would read every manifest of the namespace; the catalog gives names only.
    return { registryId: this.id, name, description: "", visibility: "unspecified", imageCount: 0, sizeBytes: 0 };
  }
}

/** Namespace = first path segment of the repository ("team/app" → "team"; "alpine" → "alpine"). */
function namespaceOf(repository: string): string {
  const slash = repository.indexOf("/");
  return slash < 0 ? repository : repository.slice(0, slash);
}
