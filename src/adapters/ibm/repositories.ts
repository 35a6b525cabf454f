// IBM repositories: IbmRepositories lists, gets and deletes them. IBM has no repository endpoint and no
// empty repositories (one appears with its first push), so a repository is a distinct `<namespace>/<repo>`
// of the digest listing the images part reads (POST /api/v1/images/digests), from the same cache.
import { invalidField } from "../../core/errors.js";
import { namesAfter, pageLimit } from "../../core/listing.js";
import { isRepositoryName } from "../../core/manifest.js";
import type { ListRepositoriesQuery } from "../../core/provider.js";
import type { RepositoryRecord } from "../../core/types.js";
import type { IbmClient } from "./client.js";
import type { IbmImages } from "./images.js";

/** `<namespace>/<repo>[/…]` in the Distribution grammar, at most 255 characters: the names IBM's listing yields. */
function isIbmRepository(name: string): boolean {
  return isRepositoryName(name) && name.includes("/");
}

export class IbmRepositories {
  constructor(
    private readonly client: IbmClient,
    private readonly id: string,
    private readonly images: IbmImages,
  ) {}

  /** A walk's first page reads a new listing; its later pages reuse the kept one, as listImages does. */
  async listRepositories(query: ListRepositoriesQuery): Promise<{ repositories: RepositoryRecord[]; done: boolean }> {
    const names = await this.guarded(query.signal, "listing repositories", async () => {
      if (query.nameEquals !== undefined && !isIbmRepository(query.nameEquals)) return [];
      return this.images.repositoriesIn(query.nameEquals, query.after === undefined, query.signal);
    });
    const { names: page, done } = namesAfter(names, query.after, pageLimit(query.limit));
    return { repositories: page.map((name) => this.record(name)), done };
  }

  async getRepository(name: string, signal: AbortSignal): Promise<RepositoryRecord | undefined> {
    return this.guarded(signal, "getting a repository", async () => {
      if (!isIbmRepository(name)) return undefined;
      const names = await this.images.repositoriesIn(name, true, signal);
      return names.includes(name) ? this.record(name) : undefined;
    });
  }

  /**
   * Deletes every digest IBM lists in the repository, one at a time as deleteImage does (bulkdelete by
   * digest reference); the repository disappears with its last image. A run stopped half-way leaves
   * the rest listed, so running it again finishes; nothing listed is success.
   */
  async deleteRepository(name: string, signal: AbortSignal): Promise<void> {
    if (!isIbmRepository(name)) throw invalidField("name", `${JSON.stringify(name.slice(0, 300))} is not an IBM repository (<namespace>/<name>)`);
    await this.guarded(signal, `deleting repository ${name}`, async () => {
      for (const digest of await this.images.digestsIn(name, signal)) await this.images.deleteImage(name, digest, signal);
    });
  }

  private record(name: string): RepositoryRecord {
    return { registryId: this.id, name };
  }

  /** Runs `work` unless the signal has aborted; an abort on the way is the client's CANCELLED or DEADLINE_EXCEEDED. */
  private async guarded<T>(signal: AbortSignal, doing: string, work: () => Promise<T>): Promise<T> {
    if (signal.aborted) throw this.client.aborted(signal, doing);
    try {
      return await work();
    } catch (e) {
      if (signal.aborted) throw this.client.aborted(signal, doing);
      throw e;
    }
  }
}
