// The tags of the local registry: removing one takes its reference out of index.json and nothing else;
// the image's last tag leaves the image untagged (its entry stays, so its blobs stay referenced).
import { invalidField } from "../../core/errors.js";
import type { LockService } from "../../core/locks.js";
import { isTag } from "../../core/manifest.js";
import type { TagCalls } from "../../core/provider.js";
import { diskFailure } from "./disk-errors.js";
import { removeStaleTemps, untagIndexEntries } from "./mutate.js";
import { INDEX_FILE, isMissing, isValidDigest, type RepositoryTree, repositorySegments } from "./paths.js";
import type { SafeFs } from "./safe-fs.js";
import type { LayoutSnapshots } from "./snapshots.js";

export class LocalTags implements TagCalls {
  constructor(
    private readonly id: string,
    private readonly disk: SafeFs,
    private readonly tree: RepositoryTree,
    private readonly layouts: LayoutSnapshots,
    private readonly mutex: LockService,
    private readonly warn: (msg: string, ctx: object) => void,
    private readonly maxMetadataBytes: number,
  ) {}

  async deleteTag(repository: string, digest: string, tag: string): Promise<void> {
    const segments = repositorySegments(repository);
    if (segments === undefined) throw invalidField("repository", "not a repository path of the local registry");
    if (!isValidDigest(digest)) throw invalidField("digest", "not a valid digest");
    if (!isTag(tag)) throw invalidField("tag", `${JSON.stringify(tag)} is not a tag`);
    const dir = this.tree.dirOf(segments);
    await this.mutex.run(dir, async () => {
      if ((await this.layouts.layoutDir(repository)) === undefined) return;
      try {
        await removeStaleTemps(this.disk, dir, INDEX_FILE);
        await untagIndexEntries(this.disk, dir, digest, tag, repository, this.maxMetadataBytes);
      } catch (err) {
        // The layout vanished underneath (its namespace was deleted): the tag is gone with it.
        if (isMissing(err) && (await this.layouts.layoutDir(repository)) === undefined) return;
        throw diskFailure(err, this.id, `remove tag ${repository}:${tag}`, this.warn);
      } finally {
        this.layouts.forget(dir);
        this.layouts.forgetConfirmed();
      }
    });
  }
}
