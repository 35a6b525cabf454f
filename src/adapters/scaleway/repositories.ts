// Scaleway repositories: ScalewayRepositories lists, gets and deletes them. A Scaleway "image" is a
// repository, `<namespace>/<image name>`, read from the same snapshot (and cache) the images part pages
// through. Scaleway makes an image on first push only, so there is no empty repository to create.
import { invalidField } from "../../core/errors.js";
import { namesAfter, pageLimit } from "../../core/listing.js";
import { isRepositoryName } from "../../core/manifest.js";
import type { ListRepositoriesQuery } from "../../core/provider.js";
import type { RepositoryRecord } from "../../core/types.js";
import type { ScalewayClient } from "./client.js";
import type { ScalewayImages } from "./images.js";

/** `<namespace>/<image name>` in the Distribution grammar, at most 255 characters. */
function isScalewayRepository(name: string): boolean {
  return isRepositoryName(name) && name.includes("/");
}

export class ScalewayRepositories {
  constructor(
    private readonly client: ScalewayClient,
    private readonly id: string,
    private readonly images: ScalewayImages,
  ) {}

  /** A walk's first page reads a new snapshot; its later pages reuse the kept one, as listImages does. */
  async listRepositories(query: ListRepositoriesQuery): Promise<{ repositories: RepositoryRecord[]; done: boolean }> {
    const names = await this.guarded(query.signal, "listing repositories", async () => {
      if (query.nameEquals !== undefined && !isScalewayRepository(query.nameEquals)) return [];
      return this.images.repositoriesIn(query.nameEquals, query.after === undefined, query.signal);
    });
    const { names: page, done } = namesAfter(names, query.after, pageLimit(query.limit));
    return { repositories: page.map((name) => this.record(name)), done };
  }

  /** A repository Scaleway is deleting (status `deleting`) is gone already. */
  async getRepository(name: string, signal: AbortSignal): Promise<RepositoryRecord | undefined> {
    return this.guarded(signal, "getting a repository", async () => {
      if (!isScalewayRepository(name)) return undefined;
      const names = await this.images.repositoriesIn(name, true, signal);
      return names.includes(name) ? this.record(name) : undefined;
    });
  }

  /**
   * DELETE /images/{image_id}: Scaleway deletes the image with every tag in it, asynchronously, so
   * this waits until Scaleway no longer reports it. An image already being deleted (a run stopped
   * half-way) is found too and waited for; one already gone is success.
   */
  async deleteRepository(name: string, signal: AbortSignal): Promise<void> {
    if (!isScalewayRepository(name)) throw invalidField("name", `${JSON.stringify(name.slice(0, 300))} is not a Scaleway repository (<namespace>/<image>)`);
    await this.guarded(signal, `deleting repository ${name}`, async () => {
      try {
        const repo = await this.images.findRepository(name, signal, true);
        if (repo === undefined) return;
        await this.client.deleteAndWait(`/images/${encodeURIComponent(repo.imageId)}`, `repository ${name}`, signal);
      } finally {
        this.images.forgetSnapshotsAndTags();
      }
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
