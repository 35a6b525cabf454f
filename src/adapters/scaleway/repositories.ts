// Scaleway repositories: ScalewayRepositories lists, gets and deletes them. A Scaleway "image" is a
// repository, `<namespace>/<image name>`, read from the same snapshot (and cache) the images part pages
// through; one Scaleway is deleting (status `deleting`) is gone already. Scaleway makes an image on
// first push only, so there is no empty repository to create.
import { invalidField } from "../../core/errors.js";
import { RepositoriesFromNames, unlessAborted } from "../../core/listing.js";
import type { ScalewayClient } from "./client.js";
import { isScalewayRepository, type ScalewayImages } from "./images.js";

export class ScalewayRepositories extends RepositoriesFromNames {
  constructor(
    private readonly client: ScalewayClient,
    id: string,
    private readonly images: ScalewayImages,
  ) {
    super({ registryId: id, isRepository: isScalewayRepository, namesIn: (r, fresh, signal) => images.repositoriesIn(r, fresh, signal), aborted: (signal, doing) => client.aborted(signal, doing) });
  }

  /**
   * DELETE /images/{image_id}: Scaleway deletes the image with every tag in it, asynchronously, so
   * this waits until Scaleway no longer reports it. An image already being deleted (a run stopped
   * half-way) is found too and waited for; one already gone is success.
   */
  async deleteRepository(name: string, signal: AbortSignal): Promise<void> {
    if (!isScalewayRepository(name)) throw invalidField("name", `${JSON.stringify(name.slice(0, 300))} is not a Scaleway repository (<namespace>/<image>)`);
    await unlessAborted(signal, this.source.aborted, `deleting repository ${name}`, async () => {
      try {
        const repo = await this.images.findRepository(name, signal, true);
        if (repo === undefined) return;
        await this.client.deleteAndWait(`/images/${encodeURIComponent(repo.imageId)}`, `repository ${name}`, signal);
      } finally {
        this.images.forgetSnapshotsAndTags();
      }
    });
  }
}
