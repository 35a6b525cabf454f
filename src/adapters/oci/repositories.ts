// The repositories of an OCI Distribution registry: the catalog's names (or the configured `repositories`),
// in code-unit order. The API has no repository create (a repository appears on its first push) and no
// repository delete: deleteRepository deletes every manifest its tags reach, by digest.
import { Code, RegplaneError, invalidField } from "../../core/errors.js";
import { pageLimit } from "../../core/listing.js";
import { isDigest, isIndexMediaType, isRepositoryName, isTag, parseManifest } from "../../core/manifest.js";
import type { ListRepositoriesQuery, RepositoryCalls } from "../../core/provider.js";
import type { RepositoryRecord } from "../../core/types.js";
import type { DistributionClient } from "../../core/distribution/index.js";
import type { OciCatalog } from "./catalog.js";
import type { OciImages } from "./images.js";

/** Rounds of tags/list → deletes: a round finding nothing left ends it; pushes that keep coming stop it. */
const DELETE_ROUNDS = 3;
/** Index levels whose child manifests are deleted with the index (as images.ts sums them). */
const MAX_INDEX_DEPTH = 2;

export class OciRepositories implements RepositoryCalls {
  constructor(
    private readonly id: string,
    private readonly client: DistributionClient,
    private readonly catalog: OciCatalog,
    private readonly images: OciImages,
  ) {}

  async listRepositories(query: ListRepositoriesQuery): Promise<{ repositories: RepositoryRecord[]; done: boolean }> {
    const { after, nameEquals, signal } = query;
    if (signal.aborted) throw this.client.aborted(signal, "repository listing");
    const limit = pageLimit(query.limit);
    if (nameEquals !== undefined) {
      if (!isRepositoryName(nameEquals) || (after !== undefined && nameEquals <= after)) return { repositories: [], done: true };
      return { repositories: (await this.listed(nameEquals, signal)) ? [this.record(nameEquals)] : [], done: true };
    }
    // The catalog comes in code-unit order (catalog.ts reorders it): one name past the page proves more.
    const page: string[] = [];
    walk: for await (const batch of this.catalog.repositoryBatches(after, signal)) {
      for (const name of batch) {
        page.push(name);
        if (page.length > limit) break walk;
      }
    }
    return { repositories: page.slice(0, limit).map((n) => this.record(n)), done: page.length <= limit };
  }

  async getRepository(name: string, signal: AbortSignal): Promise<RepositoryRecord | undefined> {
    if (signal.aborted) throw this.client.aborted(signal, "repository lookup");
    if (!isRepositoryName(name)) return undefined;
    return (await this.listed(name, signal)) ? this.record(name) : undefined;
  }

  /**
   * Deletes every manifest the repository's tags point at (and the children of those that are indexes) by
   * digest, through the image delete, until tags/list names nothing left to delete; gone is success. An
   * untagged manifest cannot be found through the API and stays. The registry may keep the path in its catalog.
   */
  async deleteRepository(name: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw this.client.aborted(signal, "repository delete");
    if (!isRepositoryName(name)) throw invalidField("name", `${JSON.stringify(name)} is not a repository name`);
    for (let round = 1; round <= DELETE_ROUNDS; round++) {
      const tags = await this.client.listTags(name, signal);
      if (tags === undefined) return;
      const tagged = await Promise.all(tags.filter(isTag).map((tag) => this.client.getManifest(name, tag, signal)));
      const roots = [...new Set(tagged.flatMap((m) => (m === undefined ? [] : [m.digest])))];
      if (roots.length === 0) return;
      const children = new Set<string>();
      for (const digest of roots) await this.collectChildren(name, digest, 1, children, signal);
      // An index goes before its children, so a failure half-way never leaves an index without them.
      await Promise.all(roots.map((digest) => this.images.deleteImage(name, digest, signal)));
      await Promise.all([...children].filter((d) => !roots.includes(d)).map((digest) => this.images.deleteImage(name, digest, signal)));
    }
    throw new RegplaneError(Code.ABORTED, `repository ${JSON.stringify(name)} of registry ${JSON.stringify(this.id)}: images kept being pushed while it was deleted; delete it again`, {
      errorInfo: { reason: "REPOSITORY_CHANGED_DURING_DELETE", metadata: { registry_id: this.id, repository: name } },
    });
  }

  private record(name: string): RepositoryRecord {
    return { registryId: this.id, name };
  }

  /**
   * Whether the catalog (or the configured list) names the repository. In any lexicographic order the names
   * starting with a prefix follow that prefix together, and a name comes before its extensions; so the walk
   * starts at the name less its last character (`last` is exclusive) and ends when that block ends.
   */
  private async listed(name: string, signal: AbortSignal): Promise<boolean> {
    const start = name.length > 1 ? name.slice(0, -1) : undefined;
    for await (const batch of this.catalog.repositoryBatches(start, signal)) {
      for (const r of batch) {
        if (r === name) return true;
        if (r.startsWith(name) || (start !== undefined && !r.startsWith(start))) return false;
      }
    }
    return false;
  }

  /** The child manifests of an index digest, `depth` levels down at most. */
  private async collectChildren(name: string, digest: string, depth: number, into: Set<string>, signal: AbortSignal): Promise<void> {
    if (depth > MAX_INDEX_DEPTH) return;
    const manifest = await this.client.getManifest(name, digest, signal);
    if (manifest === undefined) return;
    let children: string[];
    try {
      const parsed = parseManifest(manifest.bytes, manifest.mediaType);
      children = isIndexMediaType(parsed.mediaType) ? parsed.manifests.map((m) => m.digest).filter(isDigest) : [];
    } catch {
      // A manifest that does not parse is deleted all the same; it names no children we could trust.
      return;
    }
    for (const child of children) {
      if (into.has(child)) continue;
      into.add(child);
      await this.collectChildren(name, child, depth + 1, into, signal);
    }
  }
}
