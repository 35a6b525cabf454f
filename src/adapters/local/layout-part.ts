// What the namespaces and repositories parts of the local registry both work on: the root's folders,
// their tree walk and layout snapshots, the disk calls, the change locks and the warning sink.
import type { LockService } from "../../core/locks.js";
import type { RepositoryTree } from "./paths.js";
import type { SafeFs } from "./safe-fs.js";
import type { LayoutSnapshots } from "./snapshots.js";

export interface LayoutAccess {
  id: string;
  root: string;
  disk: SafeFs;
  tree: RepositoryTree;
  layouts: LayoutSnapshots;
  /** Serializes changes to one folder (the same keys as image deletes) and creates in this registry. */
  mutex: LockService;
  warn: (msg: string, ctx: object) => void;
}

/** A part of the local provider that changes folders under the root. */
export abstract class LayoutPart {
  protected readonly id: string;
  protected readonly root: string;
  protected readonly disk: SafeFs;
  protected readonly tree: RepositoryTree;
  protected readonly layouts: LayoutSnapshots;
  protected readonly mutex: LockService;
  protected readonly warn: (msg: string, ctx: object) => void;

  constructor(access: LayoutAccess) {
    ({ id: this.id, root: this.root, disk: this.disk, tree: this.tree, layouts: this.layouts, mutex: this.mutex, warn: this.warn } = access);
  }
}
