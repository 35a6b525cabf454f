// The repositories of an IONOS entry: listed, read and deleted over the REST API's repository
// endpoints. A repository is named as images name it: the IONOS repository name in a pinned registry,
// "<registry name>/<repository name>" over the contract. IONOS has no create (a repository appears
// with its first push). Its offsets are no stable order and its `orderBy=name` is not said to be
// code-unit order, so a listing reads each registry's names in full (scopes.ts) and sorts them here.
import { invalidField } from "../../core/errors.js";
import { RepositoriesByName } from "../../core/listing.js";
import { isRepositoryName } from "../../core/manifest.js";
import type { AccountEntry } from "../../core/provider.js";
import type { RepositoryRecord } from "../../core/types.js";
import type { IonosClient } from "./client.js";
import type { IonosScopes, ScopedRepository } from "./scopes.js";

/** An IONOS registry name, the first segment of a repository path over the contract. */
const REGISTRY_NAME = /^[a-z][-a-z0-9]{1,61}[a-z0-9]$/;

export class IonosRepositories extends RepositoriesByName {
  constructor(
    private readonly entry: AccountEntry,
    private readonly client: IonosClient,
    private readonly scopes: IonosScopes,
  ) {
    super();
  }

  /** Up to `limit` repositories after `after`, registry by registry in prefix order. */
  protected async walk(after: string | undefined, limit: number, signal: AbortSignal): Promise<{ repositories: RepositoryRecord[]; done: boolean }> {
    const page: RepositoryRecord[] = [];
    for (const scope of await this.scopes.all(signal)) {
      // Every path of a scope sorts below `after` when its prefix does and `after` is outside it.
      if (after !== undefined && scope.prefix < after && !after.startsWith(scope.prefix)) continue;
      for (const name of await this.scopes.repositoryNames(scope.registryId, signal)) {
        const path = scope.prefix + name;
        if (after !== undefined && path <= after) continue;
        if (page.length === limit) return { repositories: page, done: false };
        page.push({ registryId: this.entry.id, name: path });
      }
    }
    return { repositories: page, done: true };
  }

  async getRepository(name: string, signal: AbortSignal): Promise<RepositoryRecord | undefined> {
    if (signal.aborted) throw this.client.aborted(signal, "reading a repository");
    if (!this.isName(name)) return undefined;
    const target = await this.scopes.locate(name, signal);
    if (target === undefined) return undefined;
    const reply = await this.client.send({ method: "GET", path: repositoryPath(target), bearerOnly: true, accept: [404], doing: `reading repository ${name}` }, signal);
    return reply.status === 404 ? undefined : { registryId: this.entry.id, name };
  }

  /** IONOS's "delete all repository contents": the repository and every artifact in it. */
  async deleteRepository(name: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw this.client.aborted(signal, "deleting a repository");
    if (!this.isName(name)) throw invalidField("name", `${JSON.stringify(name.slice(0, 300))} is not a repository name`);
    const target = await this.scopes.locate(name, signal);
    if (target === undefined) return;
    // IONOS accepts Basic credentials here too (providers.md §3), so the call is not Bearer-only.
    await this.client.send({ method: "DELETE", path: repositoryPath(target), accept: [404], doing: `deleting repository ${name}` }, signal);
  }

  /** A path that can name an IONOS repository: the registry's name first over the contract. */
  private isName(name: string): boolean {
    if (this.entry.pinned !== undefined) return isRepositoryName(name);
    const slash = name.indexOf("/");
    return slash > 0 && REGISTRY_NAME.test(name.slice(0, slash)) && isRepositoryName(name.slice(slash + 1));
  }

  protected aborted(signal: AbortSignal, doing: string): Error {
    return this.client.aborted(signal, doing);
  }
}

function repositoryPath({ scope, name }: ScopedRepository): string {
  return `registries/${encodeURIComponent(scope.registryId)}/repositories/${encodeURIComponent(name)}`;
}
