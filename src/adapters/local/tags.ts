// The tags of the local registry: removing one takes its reference out of index.json and nothing else;
// the image's last tag leaves the image untagged (its entry stays, so its blobs stay referenced).
import { invalidField } from "../../core/errors.js";
import { isTag } from "../../core/manifest.js";
import type { TagCalls } from "../../core/provider.js";
import { diskFailure } from "./disk-errors.js";
import { removeStaleTemps, untagIndexEntries } from "./mutate.js";
import { INDEX_FILE, isMissing, isValidDigest, repositorySegments } from "./paths.js";
import type { LayoutAccess } from "./layout-part.js";

export class LocalTags implements TagCalls {
  constructor(
    private readonly access: LayoutAccess,
    private readonly maxMetadataBytes: number,
  ) {}

  async deleteTag(repository: string, digest: string, tag: string): Promise<void> {
    const segments = repositorySegments(repository);
    if (segments === undefined) throw invalidField("repository", "not a repository path of the local registry");
    if (!isValidDigest(digest)) throw invalidField("digest", "not a valid digest");
    if (!isTag(tag)) throw invalidField("tag", `${JSON.stringify(tag)} is not a tag`);
    const { id, disk, tree, layouts, mutex, warn } = this.access;
    const dir = tree.dirOf(segments);
    await mutex.run(dir, async () => {
      if ((await layouts.layoutDir(repository)) === undefined) return;
      try {
        await removeStaleTemps(disk, dir, INDEX_FILE);
        await untagIndexEntries(disk, dir, digest, tag, repository, this.maxMetadataBytes);
      } catch (err) {
        // The layout vanished underneath (its namespace was deleted): the tag is gone with it.
        if (isMissing(err) && (await layouts.layoutDir(repository)) === undefined) return;
        throw diskFailure(err, id, `remove tag ${repository}:${tag}`, warn);
      } finally {
        layouts.forget(dir);
        layouts.forgetConfirmed();
      }
    });
  }
}
