// The tags of Scaleway Container Registry: one tag removed with DELETE /tags/{tag_id}, waited on until
// Scaleway no longer lists it. Scaleway keeps no untagged image (an image is what its tags point at),
// so removing a digest's last tag would delete it: that is refused, and an image delete does it.
import { Code, invalidField, RegplaneError } from "../../core/errors.js";
import { isTag } from "../../core/manifest.js";
import type { TagCalls } from "../../core/provider.js";
import type { ScalewayClient } from "./client.js";
import { DIGEST, isScalewayRepository, type ScalewayImages } from "./images.js";

export class ScalewayTags implements TagCalls {
  constructor(
    private readonly client: ScalewayClient,
    private readonly id: string,
    private readonly images: ScalewayImages,
  ) {}

  async deleteTag(repository: string, digest: string, tag: string, signal: AbortSignal): Promise<void> {
    if (!isScalewayRepository(repository)) throw invalidField("repository", `${JSON.stringify(repository.slice(0, 300))} is not a Scaleway repository (<namespace>/<image>)`);
    if (!DIGEST.test(digest)) throw invalidField("digest", `${JSON.stringify(digest)} is not a sha256 digest`);
    if (!isTag(tag)) throw invalidField("tag", `${JSON.stringify(tag)} is not a tag`);
    try {
      const repo = await this.images.findRepository(repository, signal);
      if (repo === undefined) return;
      const tags = (await this.images.tagsOf(repo.imageId, signal)) ?? [];
      // Only the tag as it points at this image: a tag moved to another image meanwhile is left alone.
      const target = tags.find((t) => t.name === tag && t.digest === digest);
      if (target === undefined) return;
      if (!tags.some((t) => t.digest === digest && t.id !== target.id)) {
        throw new RegplaneError(
          Code.FAILED_PRECONDITION,
          `registry ${JSON.stringify(this.id)} (scaleway): ${tag} is the last tag of ${repository}@${digest}, and Scaleway keeps no untagged image; delete the image instead`,
          { errorInfo: { reason: "LAST_TAG_OF_IMAGE", metadata: { registry_id: this.id, provider: "scaleway", tag } } },
        );
      }
      await this.client.deleteAndWait(`/tags/${target.id}`, `tag ${repository}:${tag}`, signal);
    } finally {
      this.images.forgetSnapshotsAndTags();
    }
  }
}
