// The tags of IBM Cloud Container Registry: one tag removed with DELETE /api/v1/tags/{host/ns/repo:tag},
// which untags and keeps the image (its digest, and every other tag of it).
import { invalidField } from "../../core/errors.js";
import { isTag } from "../../core/manifest.js";
import type { TagCalls } from "../../core/provider.js";
import type { IbmClient } from "./client.js";
import { IBM_REPOSITORY, type IbmImages } from "./images.js";

export class IbmTags implements TagCalls {
  constructor(
    private readonly client: IbmClient,
    private readonly images: IbmImages,
  ) {}

  async deleteTag(repository: string, digest: string, tag: string, signal: AbortSignal): Promise<void> {
    if (!IBM_REPOSITORY.test(repository)) throw invalidField("repository", `${JSON.stringify(repository)} is not an IBM repository (<namespace>/<name>)`);
    if (!isTag(tag)) throw invalidField("tag", `${JSON.stringify(tag)} is not a tag`);
    // Only the tag as it points at this image: a tag moved to another image meanwhile is left alone.
    const image = await this.images.getImage(repository, digest, signal);
    if (image === undefined || !image.tags.includes(tag)) return;
    const reference = `${this.client.host}/${repository}:${tag}`;
    try {
      const reply = await this.client.call({ method: "DELETE", path: `/api/v1/tags/${encodeURIComponent(reference)}` }, signal);
      if (reply.status === 404) return;
      if (reply.status < 200 || reply.status >= 300) throw this.client.failure(reply, `removing tag ${repository}:${tag}`);
    } finally {
      this.images.forgetListings();
    }
  }
}
