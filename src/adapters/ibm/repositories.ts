// IBM repositories: IbmRepositories lists, gets and deletes them. IBM has no repository endpoint and no
// empty repositories (one appears with its first push), so a repository is a distinct `<namespace>/<repo>`
// of the digest listing the images part reads (POST /api/v1/images/digests), from the same cache.
import { invalidField } from "../../core/errors.js";
import { RepositoriesFromNames, unlessAborted } from "../../core/listing.js";
import { isRepositoryName } from "../../core/manifest.js";
import type { IbmClient } from "./client.js";
import type { IbmImages } from "./images.js";

/** `<namespace>/<repo>[/…]` in the Distribution grammar, at most 255 characters: the names IBM's listing yields. */
function isIbmRepository(name: string): boolean {
  return isRepositoryName(name) && name.includes("/");
}

export class IbmRepositories extends RepositoriesFromNames {
  constructor(client: IbmClient, id: string, private readonly images: IbmImages) {
    super({ registryId: id, isRepository: isIbmRepository, namesIn: (r, fresh, signal) => images.repositoriesIn(r, fresh, signal), aborted: (signal, doing) => client.aborted(signal, doing) });
  }

  /**
   * Deletes every digest IBM lists in the repository, one at a time as deleteImage does (bulkdelete by
   * digest reference); the repository disappears with its last image. A run stopped half-way leaves
   * the rest listed, so running it again finishes; nothing listed is success.
   */
  async deleteRepository(name: string, signal: AbortSignal): Promise<void> {
    if (!isIbmRepository(name)) throw invalidField("name", `${JSON.stringify(name.slice(0, 300))} is not an IBM repository (<namespace>/<name>)`);
    await unlessAborted(signal, this.source.aborted, `deleting repository ${name}`, async () => {
      for (const digest of await this.images.digestsIn(name, signal)) await this.images.deleteImage(name, digest, signal);
    });
  }
}
