// The namespaces of the local registry: the top-level folders of its root, with their metadata file
// (description, visibility) and totals over their layouts; created, updated and deleted on disk.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";

import { Code, invalidField, notFound, RegplaneError } from "../../core/errors.js";
import { WeightedLru } from "../../core/lru.js";
import { compareStrings } from "../../core/order.js";
import type { ListNamespacesQuery } from "../../core/provider.js";
import type { NamespaceRecord, Visibility } from "../../core/types.js";
import { diskFailure } from "./disk-errors.js";
import { errorMessage, forEachLimited } from "./layout.js";
import { isObject } from "./manifest.js";
import { emptyTrash, moveToTrash, removeStaleTemps, removeTrash, writeFileAtomic } from "./mutate.js";
import { BLOBS_DIR, isMissing, isOciPathComponent, isSettled, isValidNamespaceName, NAMESPACE_META_FILE, nowNs } from "./paths.js";
import { LayoutPart, type LayoutAccess } from "./layout-part.js";
import { UnsafeFileError } from "./safe-fs.js";
import { LAYOUT_CONCURRENCY } from "./snapshots.js";

const MAX_NAMESPACE_META_BYTES = 64 * 1024;

const NEW_NAMESPACE_PREFIX = ".regplane-new-";

interface NamespaceMeta {
  description: string;
  visibility: Visibility;
}

export class LocalNamespaces extends LayoutPart {
  private readonly blobTotals: WeightedLru<string, { version: string; settled: boolean; bytes: number }>;

  /** `blobTotalsBytes` bounds the per-layout blob totals. */
  constructor(access: LayoutAccess, blobTotalsBytes: number) {
    super(access);
    this.blobTotals = new WeightedLru(blobTotalsBytes);
  }

  clear(): void {
    this.blobTotals.clear();
  }

  async listNamespaces(query: ListNamespacesQuery): Promise<{ namespaces: NamespaceRecord[]; done: boolean }> {
    const limit = Math.max(1, Math.floor(query.limit) || 1);
    const listing = await this.tree.listing(this.root);
    const names: string[] = [];
    for (const item of listing?.items ?? []) {
      if (item.subtree) continue;
      if (query.nameEquals !== undefined && item.name !== query.nameEquals) continue;
      if (query.after !== undefined && compareStrings(item.name, query.after) <= 0) continue;
      names.push(item.name);
    }
    names.sort(compareStrings);
    const page = names.slice(0, limit);
    const namespaces: NamespaceRecord[] = [];
    for (const name of page) {
      query.signal.throwIfAborted();
      const ns = await this.namespaceRecord(name, query.signal);
      if (ns !== undefined) namespaces.push(ns);
    }
    return { namespaces, done: names.length <= limit };
  }

  async getNamespace(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    if (!isValidNamespaceName(name)) return undefined;
    return this.namespaceRecord(name, signal);
  }

  /**
   * Builds the folder (and its metadata) under a hidden name and renames it into place, so a failure
   * (a full disk, a read-only mount) leaves nothing behind and a retry can succeed.
   */
  async createNamespace(
    ns: { name: string; description: string; visibility: Visibility },
    signal: AbortSignal,
  ): Promise<NamespaceRecord> {
    if (!isOciPathComponent(ns.name)) {
      throw invalidField("name", "must be lowercase letters and digits, separated by single '.', '_', '__' or runs of '-'");
    }
    const dir = path.join(this.root, ns.name);
    const exists = () =>
      new RegplaneError(Code.ALREADY_EXISTS, `namespace ${JSON.stringify(ns.name)} already exists`, {
        errorInfo: { reason: "NAMESPACE_ALREADY_EXISTS", metadata: { registry_id: this.id, namespace: ns.name } },
      });
    await this.mutex.run(`namespace:${dir}`, async () => {
      const building = path.join(this.root, `${NEW_NAMESPACE_PREFIX}${randomBytes(8).toString("hex")}`);
      try {
        await this.disk.run(() => fs.mkdir(this.root, { recursive: true }));
        if (await this.exists(dir)) throw exists();
        await this.disk.run(() => fs.mkdir(building));
        const meta = { description: ns.description ?? "", visibility: normalizeVisibility(ns.visibility) };
        if (meta.description !== "" || meta.visibility !== "inherit") await this.writeNamespaceMeta(building, meta);
        // rename(2) would replace an empty folder another writer made meanwhile; the check above is ours.
        await this.disk.run(() => fs.rename(building, dir));
      } catch (err) {
        await this.disk.run(() => fs.rm(building, { recursive: true, force: true })).catch(() => {});
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EEXIST" || code === "ENOTEMPTY") throw exists();
        throw diskFailure(err, this.id, `create namespace ${ns.name}`, this.warn);
      } finally {
        this.tree.invalidate(this.root);
      }
    });
    const record = await this.namespaceRecord(ns.name, signal);
    if (record === undefined) throw notFound("namespace", ns.name);
    return record;
  }

  async updateNamespace(
    name: string,
    patch: { description?: string; visibility?: Visibility },
    signal: AbortSignal,
  ): Promise<NamespaceRecord> {
    if (!isValidNamespaceName(name)) throw notFound("namespace", name);
    const dir = path.join(this.root, name);
    await this.mutex.run(`namespace:${dir}`, async () => {
      if (!(await this.disk.isRealDirectory(dir))) throw notFound("namespace", name);
      const meta = await this.readNamespaceMeta(dir);
      if (patch.description !== undefined) meta.description = patch.description;
      if (patch.visibility !== undefined) meta.visibility = normalizeVisibility(patch.visibility);
      try {
        await this.writeNamespaceMeta(dir, meta);
      } catch (err) {
        throw diskFailure(err, this.id, `update namespace ${name}`, this.warn);
      }
    });
    const record = await this.namespaceRecord(name, signal);
    if (record === undefined) throw notFound("namespace", name);
    return record;
  }

  /**
   * Renames the folder to a hidden trash name first, so the namespace and all its images disappear
   * from listings at once (or, when the rename fails, stay as they were), then removes the files.
   * Trash a crash or a failed removal left behind is removed next time.
   */
  async deleteNamespace(name: string): Promise<void> {
    if (!isValidNamespaceName(name)) throw invalidField("name", "not a namespace of the local registry");
    const dir = path.join(this.root, name);
    const warn = (msg: string, ctx: object) => this.warn(msg, { registryId: this.id, ...ctx });
    this.layouts.forgetConfirmed();
    await this.mutex.run(`namespace:${dir}`, async () => {
      await emptyTrash(this.disk, this.root, warn);
      if (!(await this.disk.isRealDirectory(dir))) return;
      let trash: string | undefined;
      try {
        trash = await moveToTrash(this.disk, this.root, dir);
      } catch (err) {
        throw diskFailure(err, this.id, `delete namespace ${name}`, this.warn);
      } finally {
        this.tree.invalidate(this.root);
      }
      if (trash !== undefined) await removeTrash(this.disk, trash, warn);
    });
  }

  private async exists(file: string): Promise<boolean> {
    try {
      await this.disk.lstat(file);
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  private async namespaceRecord(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    const dir = path.join(this.root, name);
    let st;
    try {
      st = await this.disk.lstat(dir);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    if (!st.isDirectory()) return undefined;
    const repositories: string[] = [];
    for await (const r of this.tree.repositories({ prefix: name, signal })) repositories.push(r);
    let imageCount = 0;
    let sizeBytes = 0;
    await forEachLimited(repositories, LAYOUT_CONCURRENCY, async (repository) => {
      signal.throwIfAborted();
      const snapshot = await this.layouts.snapshotOrSkip(repository, signal);
      if (snapshot === undefined) return;
      const bytes = await this.blobBytes(snapshot.dir);
      imageCount += snapshot.images.length;
      sizeBytes += bytes;
    });
    const meta = await this.readNamespaceMeta(dir);
    return {
      registryId: this.id,
      name,
      description: meta.description,
      visibility: meta.visibility,
      imageCount,
      sizeBytes,
      createdAt: st.birthtimeMs > 0 ? st.birthtime : undefined,
      updatedAt: st.mtime,
    };
  }

  /** Sum of the blob file sizes of a layout, re-counted only when a blobs/<algorithm> folder changed; links count nothing. */
  private async blobBytes(layoutDir: string): Promise<number> {
    const blobsDir = path.join(layoutDir, BLOBS_DIR);
    if (!(await this.disk.isRealDirectory(blobsDir))) return 0;
    let algorithms: string[];
    try {
      algorithms = await this.disk.readdir(blobsDir);
    } catch (err) {
      if (isMissing(err)) return 0;
      throw err;
    }
    let total = 0;
    for (const algorithm of algorithms) {
      const algDir = path.join(blobsDir, algorithm);
      let version: string;
      let settled: boolean;
      try {
        const st = await this.disk.lstatBig(algDir);
        if (!st.isDirectory()) continue;
        version = `${st.ino}:${st.mtimeNs}:${st.ctimeNs}`;
        settled = isSettled(st, nowNs());
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      const cached = this.blobTotals.get(algDir);
      if (cached !== undefined && cached.version === version && cached.settled) {
        total += cached.bytes;
        continue;
      }
      let bytes = 0;
      let names: string[] = [];
      try {
        names = await this.disk.readdir(algDir);
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
      await forEachLimited(names, 32, async (n) => {
        try {
          const st = await this.disk.lstat(path.join(algDir, n));
          if (st.isFile()) bytes += st.size;
        } catch (err) {
          if (!isMissing(err)) throw err;
        }
      });
      this.blobTotals.set(algDir, { version, settled, bytes }, algDir.length * 2 + 96);
      total += bytes;
    }
    return total;
  }

  private async readNamespaceMeta(dir: string): Promise<NamespaceMeta> {
    const meta: NamespaceMeta = { description: "", visibility: "inherit" };
    try {
      const file = await this.disk.readRegular(path.join(dir, NAMESPACE_META_FILE), MAX_NAMESPACE_META_BYTES);
      if (file === undefined) return meta;
      const parsed: unknown = JSON.parse(file.bytes.toString("utf8"));
      if (isObject(parsed)) {
        if (typeof parsed.description === "string") meta.description = parsed.description;
        if (typeof parsed.visibility === "string") meta.visibility = normalizeVisibility(parsed.visibility as Visibility);
      }
    } catch (err) {
      if (!(err instanceof UnsafeFileError || err instanceof SyntaxError)) throw err;
      this.warn("local registry: namespace metadata unreadable, using defaults", { registryId: this.id, dir, error: errorMessage(err) });
    }
    return meta;
  }

  private async writeNamespaceMeta(dir: string, meta: NamespaceMeta): Promise<void> {
    await removeStaleTemps(this.disk, dir, NAMESPACE_META_FILE);
    await writeFileAtomic(this.disk, dir, NAMESPACE_META_FILE, `${JSON.stringify(meta)}\n`);
  }
}

function normalizeVisibility(v: Visibility | undefined): Visibility {
  return v === "public" || v === "private" ? v : "inherit";
}
