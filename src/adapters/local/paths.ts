// Where things live under the registry root, and the one walk that finds repositories in the
// order listings need: code-unit order of the full repository path.
import type { Dirent } from "node:fs";
import * as path from "node:path";

import { compareStrings } from "../../core/order.js";
import { WeightedLru } from "../../core/lru.js";
import type { SafeFs } from "./safe-fs.js";

export const LAYOUT_MARKER = "oci-layout";
export const INDEX_FILE = "index.json";
export const BLOBS_DIR = "blobs";
export const NAMESPACE_META_FILE = ".regplane-namespace.json";
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

const MAX_REPOSITORY_LENGTH = 1024;
const ALGORITHM = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/;
const ENCODED = /^[a-zA-Z0-9=_-]+$/;

/** The path segments of a repository, or undefined when it is not a safe relative path. */
export function repositorySegments(repository: string): string[] | undefined {
  if (typeof repository !== "string" || repository.length === 0 || repository.length > MAX_REPOSITORY_LENGTH) {
    return undefined;
  }
  const segments = repository.split("/");
  for (const s of segments) {
    // Hidden names are reserved for regplane's own files (namespace metadata, deletion trash).
    if (s.length === 0 || s.startsWith(".") || s.includes("\\") || s.includes("\0")) return undefined;
  }
  return segments;
}

/** A namespace is one repository segment. */
export function isValidNamespaceName(name: string): boolean {
  const segments = repositorySegments(name);
  return segments !== undefined && segments.length === 1;
}

const OCI_PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;

/** A name OCI clients can use as a repository path component; required for namespaces we create. */
export function isOciPathComponent(name: string): boolean {
  return name.length <= 255 && OCI_PATH_COMPONENT.test(name);
}

/** The OCI digest grammar; anything else must never become a file path. */
export function isValidDigest(digest: unknown): digest is string {
  if (typeof digest !== "string" || digest.length > 1024) return false;
  const colon = digest.indexOf(":");
  if (colon <= 0) return false;
  return ALGORITHM.test(digest.slice(0, colon)) && ENCODED.test(digest.slice(colon + 1));
}

export function isValidAlgorithm(name: string): boolean {
  return ALGORITHM.test(name);
}

export function isValidEncoded(name: string): boolean {
  return ENCODED.test(name);
}

/** blobs/<algorithm>/<encoded>; callers have checked the digest with isValidDigest. */
export function blobPath(layoutDir: string, digest: string): string {
  const colon = digest.indexOf(":");
  return path.join(layoutDir, BLOBS_DIR, digest.slice(0, colon), digest.slice(colon + 1));
}

export function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * File systems stamp changes with a coarse clock (a kernel tick, or a second on some network file
 * systems), so two changes close together can leave identical times. A cache entry is only trusted
 * on its times alone once it was read this long after the last change it saw; until then it is
 * checked again on every use.
 */
const RACY_WINDOW_NS = 1_000_000_000n;

export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Whether what was read at `readAtNs` cannot share a timestamp with a later change. */
export function isSettled(st: { mtimeNs: bigint; ctimeNs: bigint }, readAtNs: bigint): boolean {
  const changed = st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs;
  return readAtNs - changed > RACY_WINDOW_NS;
}

interface DirListing {
  version: string;
  /** False while the directory changed too recently for its times to prove it unchanged. */
  settled: boolean;
  isLayout: boolean;
  /**
   * Each visible subdirectory twice: once as the repository it may itself be (key "name") and once
   * as the subtree below it (key "name/"). Sorted by key, this is exactly the code-unit order of the
   * full paths beneath, because "a" < "a-b" < "a-b/…" < "a/…".
   */
  items: { name: string; subtree: boolean }[];
}

/**
 * Directory listings cached on the directory's inode and change times, so a walk costs one stat
 * per directory visited and re-reads only directories that changed.
 */
export class RepositoryTree {
  private readonly listings: WeightedLru<string, DirListing>;

  constructor(
    readonly root: string,
    private readonly disk: SafeFs,
    maxCacheBytes: number,
    private readonly onError: (dir: string, err: unknown) => void,
  ) {
    this.listings = new WeightedLru(maxCacheBytes);
  }

  /** The listing of a directory, or undefined when it does not exist or cannot be read. */
  async listing(dir: string): Promise<DirListing | undefined> {
    let version: string;
    let settled: boolean;
    try {
      // The root may be reached through a link set up by the operator; nothing below it is.
      const st = dir === this.root ? await this.disk.statRootBig(dir) : await this.disk.lstatBig(dir);
      if (!st.isDirectory()) return undefined;
      version = `${st.ino}:${st.mtimeNs}:${st.ctimeNs}`;
      settled = isSettled(st, nowNs());
    } catch (err) {
      if (!isMissing(err)) this.onError(dir, err);
      return undefined;
    }
    const cached = this.listings.get(dir);
    if (cached !== undefined && cached.version === version && cached.settled) return cached;
    let entries: Dirent[];
    try {
      entries = await this.disk.readdirTypes(dir);
    } catch (err) {
      if (!isMissing(err)) this.onError(dir, err);
      return undefined;
    }
    const isLayout = entries.some((e) => e.name === LAYOUT_MARKER && e.isFile());
    const items: DirListing["items"] = [];
    let weight = 64;
    for (const e of entries) {
      // Symbolic links are never followed, so a walk cannot leave the root.
      if (!e.isDirectory() || e.name.startsWith(".")) continue;
      if (isLayout && e.name === BLOBS_DIR) continue;
      items.push({ name: e.name, subtree: false }, { name: e.name, subtree: true });
      weight += 2 * (e.name.length * 2 + 48);
    }
    const key = (i: { name: string; subtree: boolean }) => (i.subtree ? `${i.name}/` : i.name);
    items.sort((a, b) => compareStrings(key(a), key(b)));
    const listing: DirListing = { version, settled, isLayout, items };
    this.listings.set(dir, listing, weight);
    return listing;
  }

  /** The directory of a repository, without checking that it exists. */
  dirOf(segments: string[]): string {
    return path.join(this.root, ...segments);
  }

  /**
   * Repository paths under `prefix` (a repository path or "" for the root), in code-unit order,
   * starting at `from` (inclusive) when given. Only the directories on the way to `from` and those
   * after it are read, so resuming deep into a listing costs as little as starting it.
   */
  async *repositories(options: { prefix?: string; from?: string; signal?: AbortSignal } = {}): AsyncGenerator<string> {
    const prefix = options.prefix ?? "";
    const start = prefix === "" ? this.root : this.dirOf(prefix.split("/"));
    if (prefix !== "") {
      const own = await this.listing(start);
      if (own === undefined) return;
      if (own.isLayout && (options.from === undefined || prefix >= options.from)) yield prefix;
    }
    yield* this.walk(start, prefix, options.from, options.signal);
  }

  private async *walk(dir: string, rel: string, from: string | undefined, signal?: AbortSignal): AsyncGenerator<string> {
    const listing = await this.listing(dir);
    if (listing === undefined) return;
    for (const item of listing.items) {
      signal?.throwIfAborted();
      const full = rel === "" ? item.name : `${rel}/${item.name}`;
      const childDir = path.join(dir, item.name);
      if (!item.subtree) {
        if (from !== undefined && full < from) continue;
        const child = await this.listing(childDir);
        if (child?.isLayout) yield full;
        continue;
      }
      const subtreeKey = `${full}/`;
      if (from === undefined || subtreeKey > from) {
        yield* this.walk(childDir, full, undefined, signal);
      } else if (from.startsWith(subtreeKey)) {
        yield* this.walk(childDir, full, from, signal);
      }
    }
  }

  invalidate(dir: string): void {
    this.listings.delete(dir);
  }

  clear(): void {
    this.listings.clear();
  }
}
