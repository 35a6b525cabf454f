// The repositories of the local registry: the layouts the tree walk finds under the root (a layout with no
// images is one too); created as an empty layout renamed into place, deleted by renaming the layout away.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";

import { Code, invalidField, RegplaneError } from "../../core/errors.js";
import { pageLimit } from "../../core/listing.js";
import { MediaType } from "../../core/manifest.js";
import { compareStrings } from "../../core/order.js";
import type { ListRepositoriesQuery, RepositoryCalls } from "../../core/provider.js";
import type { RepositoryRecord } from "../../core/types.js";
import { diskFailure } from "./disk-errors.js";
import { emptyTrash, moveToTrash, removeTrash, writeFileAtomic } from "./mutate.js";
import { INDEX_FILE, isMissing, isOciPathComponent, LAYOUT_MARKER, repositorySegments } from "./paths.js";
import { LayoutPart } from "./layout-part.js";

const NEW_REPOSITORY_PREFIX = ".regplane-new-";
/** The Distribution spec's bound on a repository name, so OCI clients can push to what we create. */
const MAX_CREATED_NAME_LENGTH = 255;

export class LocalRepositories extends LayoutPart implements RepositoryCalls {

  async listRepositories(query: ListRepositoriesQuery): Promise<{ repositories: RepositoryRecord[]; done: boolean }> {
    const limit = pageLimit(query.limit);
    const { after, nameEquals } = query;
    if (nameEquals !== undefined) {
      if (after !== undefined && compareStrings(nameEquals, after) <= 0) return { repositories: [], done: true };
      const found = await this.getRepository(nameEquals);
      return { repositories: found === undefined ? [] : [found], done: true };
    }
    const repositories: RepositoryRecord[] = [];
    // The walk starts at `from` inclusive; the keyset is strictly after.
    for await (const name of this.tree.repositories({ from: after, signal: query.signal })) {
      if (name === after) continue;
      if (repositories.length === limit) return { repositories, done: false };
      repositories.push(this.record(name));
    }
    return { repositories, done: true };
  }

  async getRepository(name: string): Promise<RepositoryRecord | undefined> {
    if (repositorySegments(name) === undefined) return undefined;
    try {
      return (await this.layouts.layoutDir(name)) === undefined ? undefined : this.record(name);
    } catch (err) {
      throw diskFailure(err, this.id, `repository ${name}`, this.warn);
    }
  }

  /**
   * Builds `oci-layout` and an index.json without manifests under a hidden name beside the target and
   * renames it into place, so a failure leaves no half layout. Missing parent folders are made one at a
   * time (never through a link); a parent that is itself a layout, or a target that holds anything, is refused.
   */
  async createRepository(name: string): Promise<RepositoryRecord> {
    const segments = repositorySegments(name);
    if (segments === undefined || name.length > MAX_CREATED_NAME_LENGTH || !segments.every(isOciPathComponent)) {
      throw invalidField("name", "must be path components of lowercase letters and digits, separated by single '.', '_', '__' or runs of '-', joined by '/'");
    }
    const dir = this.tree.dirOf(segments);
    const parent = path.dirname(dir);
    // Creates in one registry go one at a time, so two cannot make layouts nested in each other.
    await this.mutex.run(`repositories:${this.root}`, () =>
      this.mutex.run(dir, async () => {
        const made: string[] = [];
        const building = path.join(parent, `${NEW_REPOSITORY_PREFIX}${randomBytes(8).toString("hex")}`);
        let built = false;
        try {
          await this.disk.run(() => fs.mkdir(this.root, { recursive: true }));
          await this.makeParents(name, segments, made);
          await this.refuseOccupied(name, dir);
          await this.disk.run(() => fs.mkdir(building));
          built = true;
          await writeFileAtomic(this.disk, building, INDEX_FILE, `${JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] })}\n`);
          await writeFileAtomic(this.disk, building, LAYOUT_MARKER, `${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`);
          // rename(2) replaces only an empty folder, and refuses one that filled meanwhile.
          await this.disk.run(() => fs.rename(building, dir));
        } catch (err) {
          if (built) await this.disk.run(() => fs.rm(building, { recursive: true, force: true })).catch(() => {});
          for (const d of made.reverse()) await this.disk.run(() => fs.rmdir(d)).catch(() => {});
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "EEXIST" || code === "ENOTEMPTY") throw await this.occupied(name);
          throw diskFailure(err, this.id, `create repository ${name}`, this.warn);
        } finally {
          for (let i = 0; i < segments.length; i++) this.tree.invalidate(this.tree.dirOf(segments.slice(0, i)));
          this.layouts.forgetConfirmed();
        }
      }),
    );
    return this.record(name);
  }

  /**
   * Renames the layout to a hidden trash name under the root (its images leave every listing at once),
   * then removes the files. Trash a crash left behind is removed by the next delete, so running the same
   * delete again finishes it. A layout holding other repositories below it is refused, not deleted with them.
   */
  async deleteRepository(name: string): Promise<void> {
    const segments = repositorySegments(name);
    if (segments === undefined) throw invalidField("name", "not a repository path of the local registry");
    const dir = this.tree.dirOf(segments);
    const warn = (msg: string, ctx: object) => this.warn(msg, { registryId: this.id, ...ctx });
    this.layouts.forgetConfirmed();
    await this.mutex.run(dir, async () => {
      let trash: string | undefined;
      try {
        await emptyTrash(this.disk, this.root, warn);
        // A path through a link, or without a layout, is no repository of this registry: nothing to delete.
        if ((await this.layouts.layoutDir(name)) === undefined) return;
        const inner = await this.firstBelow(name);
        if (inner !== undefined) {
          throw new RegplaneError(Code.FAILED_PRECONDITION, `repository ${JSON.stringify(name)} holds the repository ${JSON.stringify(inner)}; delete that first`, {
            errorInfo: { reason: "REPOSITORY_HOLDS_REPOSITORIES", metadata: { registry_id: this.id, repository: name } },
          });
        }
        trash = await moveToTrash(this.disk, this.root, dir);
      } catch (err) {
        throw diskFailure(err, this.id, `delete repository ${name}`, this.warn);
      } finally {
        this.tree.invalidate(path.dirname(dir));
        this.tree.invalidate(dir);
        this.layouts.forget(dir);
        this.layouts.forgetConfirmed();
      }
      if (trash !== undefined) await removeTrash(this.disk, trash, warn);
    });
  }

  private record(name: string): RepositoryRecord {
    return { registryId: this.id, name };
  }

  /** The first repository strictly inside `name`, as the walk finds them. */
  private async firstBelow(name: string): Promise<string | undefined> {
    for await (const r of this.tree.repositories({ prefix: name })) if (r !== name) return r;
    return undefined;
  }

  /** Makes the missing parent folders of a new layout; each existing one must be a real folder and no layout. */
  private async makeParents(name: string, segments: string[], made: string[]): Promise<void> {
    for (let i = 1; i < segments.length; i++) {
      const dir = this.tree.dirOf(segments.slice(0, i));
      const where = segments.slice(0, i).join("/");
      let st = await this.lstatOrMissing(dir);
      if (st === undefined) {
        try {
          await this.disk.run(() => fs.mkdir(dir));
          made.push(dir);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        }
        st = await this.lstatOrMissing(dir);
      }
      if (st === undefined || !st.isDirectory()) {
        throw refused(this.id, name, `${JSON.stringify(where)} is not a folder (a link or a file); it is never followed`, "REPOSITORY_PATH_NOT_A_FOLDER");
      }
      if ((await this.lstatOrMissing(path.join(dir, LAYOUT_MARKER)))?.isFile()) {
        throw refused(this.id, name, `it would sit inside the repository ${JSON.stringify(where)}`, "REPOSITORY_INSIDE_REPOSITORY");
      }
    }
  }

  /** Throws unless nothing, or an empty real folder, stands at the target. */
  private async refuseOccupied(name: string, dir: string): Promise<void> {
    const st = await this.lstatOrMissing(dir);
    if (st === undefined) return;
    if (st.isDirectory() && (await this.disk.readdir(dir)).length === 0) return;
    throw await this.occupied(name);
  }

  /** ALREADY_EXISTS for a layout at the target, FAILED_PRECONDITION for anything else there. */
  private async occupied(name: string): Promise<RegplaneError> {
    if ((await this.layouts.layoutDir(name).catch(() => undefined)) !== undefined) {
      return new RegplaneError(Code.ALREADY_EXISTS, `repository ${JSON.stringify(name)} already exists`, {
        errorInfo: { reason: "REPOSITORY_ALREADY_EXISTS", metadata: { registry_id: this.id, repository: name } },
      });
    }
    return refused(this.id, name, "a folder, file or link of that name already holds other content (another repository's folder, a namespace's files)", "REPOSITORY_PATH_OCCUPIED");
  }

  private async lstatOrMissing(file: string) {
    try {
      return await this.disk.lstat(file);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }
}

function refused(registryId: string, name: string, why: string, reason: string): RegplaneError {
  return new RegplaneError(Code.FAILED_PRECONDITION, `cannot create repository ${JSON.stringify(name)}: ${why}`, {
    errorInfo: { reason, metadata: { registry_id: registryId, repository: name } },
  });
}
