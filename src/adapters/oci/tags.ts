// The tags of an OCI Distribution registry: one tag removed by a DELETE of the tag reference where the
// registry allows it (distribution-spec 1.1, distribution 3.x); never by digest, which would take every
// other tag of the image with it.
import { invalidField } from "../../core/errors.js";
import { isRepositoryName, isTag } from "../../core/manifest.js";
import type { TagCalls } from "../../core/provider.js";
import type { DistributionClient } from "../../core/distribution/index.js";
import type { OciImages } from "./images.js";

export class OciTags implements TagCalls {
  constructor(
    private readonly client: DistributionClient,
    private readonly images: OciImages,
  ) {}

  async deleteTag(repository: string, digest: string, tag: string, signal: AbortSignal): Promise<void> {
    if (!isRepositoryName(repository)) throw invalidField("repository", `${JSON.stringify(repository)} is not a repository name`);
    if (!isTag(tag)) throw invalidField("tag", `${JSON.stringify(tag)} is not a tag`);
    // Only the tag as it points at this image: a tag moved to another image meanwhile is left alone.
    const head = await this.client.headManifest(repository, tag, signal);
    if (head === undefined) return;
    const current = head.digest ?? (await this.client.getManifest(repository, tag, signal))?.digest;
    if (current !== digest) return;
    try {
      await this.client.deleteTag(repository, tag, signal);
    } finally {
      this.images.forgetTags(repository);
    }
  }
}
