// Changes to a layout on disk. Callers hold the layout's mutex. regplane replaces index.json only by
// rename, so a crash leaves the old file or the new one; other tools may write it in place (see readIndexForUpdate).
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";

import { Code, RegplaneError } from "../../core/errors.js";
import { BlobReader, errorMessage, indexVersion, type IndexSource, parseIndexJson, readIndexFile } from "./layout.js";
import { CorruptBlobError, parseManifest, type ParsedManifest } from "./manifest.js";
import { BLOBS_DIR, INDEX_FILE, isMissing, isValidAlgorithm, isValidDigest, isValidEncoded, REF_NAME_ANNOTATION } from "./paths.js";
import { CHANGED_WHILE_READ, type SafeFs, UnsafeFileError } from "./safe-fs.js";

const TMP_INFIX = ".tmp-";

/**
 * Writes `name` in `dir` by temp file + fsync + rename + directory fsync; a failure leaves no temp file.
 * With `unchangedSince`, the rename happens only while the file's version is still that one; returns
 * false (nothing written) when another writer replaced it meanwhile.
 */
export async function writeFileAtomic(
  disk: SafeFs,
  dir: string,
  name: string,
  data: string,
  mode = 0o644,
  unchangedSince?: string,
): Promise<boolean> {
  const tmpPath = path.join(dir, `${name}${TMP_INFIX}${randomBytes(8).toString("hex")}`);
  try {
    await disk.run(async () => {
      // "wx" creates a new name and never follows a link planted there.
      const handle = await fs.open(tmpPath, "wx", mode);
      try {
        await handle.writeFile(data, "utf8");
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
    if (unchangedSince !== undefined && (await fileVersion(disk, path.join(dir, name))) !== unchangedSince) {
      await disk.run(() => fs.rm(tmpPath, { force: true }));
      return false;
    }
    await disk.run(() => fs.rename(tmpPath, path.join(dir, name)));
  } catch (err) {
    await disk.run(() => fs.rm(tmpPath, { force: true })).catch(() => {});
    throw err;
  }
  await disk.run(async () => {
    const handle = await fs.open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
  return true;
}

async function fileVersion(disk: SafeFs, file: string): Promise<string> {
  try {
    return indexVersion(await disk.lstatBig(file));
  } catch (err) {
    if (isMissing(err)) return "absent";
    throw err;
  }
}

/** Temp files of writeFileAtomic that a crash left behind; readers never look at them. */
export async function removeStaleTemps(disk: SafeFs, dir: string, name: string): Promise<void> {
  let entries;
  try {
    entries = await disk.readdirTypes(dir);
  } catch (err) {
    if (isMissing(err)) return;
    throw err;
  }
  for (const e of entries) {
    if (!e.name.startsWith(`${name}${TMP_INFIX}`) || e.isDirectory()) continue;
    await disk.run(() => fs.rm(path.join(dir, e.name), { force: true }));
  }
}

/** Hidden names under the root that deletes rename folders to before removing their files. */
const TRASH_PREFIX = ".regplane-trash-";

/**
 * Renames `dir` to a hidden trash name under `root`, so the folder and every image in it disappear from
 * listings at once (or, when the rename fails, stay as they were). Returns the trash path, or undefined
 * when `dir` is already gone.
 */
export async function moveToTrash(disk: SafeFs, root: string, dir: string): Promise<string | undefined> {
  const trash = path.join(root, `${TRASH_PREFIX}${randomBytes(8).toString("hex")}`);
  try {
    await disk.run(() => fs.rename(dir, trash));
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  return trash;
}

/** fs.rm never follows links inside; a failure is logged and retried by the next delete (emptyTrash). */
export async function removeTrash(disk: SafeFs, trash: string, warn: (msg: string, ctx: object) => void): Promise<void> {
  try {
    await disk.run(() => fs.rm(trash, { recursive: true, force: true }));
  } catch (err) {
    warn("local registry: deleted folder's files not removed yet", { dir: trash, errno: (err as NodeJS.ErrnoException).code });
  }
}

/** Removes the trash a crash or a failed removal left under `root`. */
export async function emptyTrash(disk: SafeFs, root: string, warn: (msg: string, ctx: object) => void): Promise<void> {
  let names: string[];
  try {
    names = await disk.readdir(root);
  } catch (err) {
    if (isMissing(err)) return;
    throw err;
  }
  for (const n of names) if (n.startsWith(TRASH_PREFIX)) await removeTrash(disk, path.join(root, n), warn);
}

/** Reads of index.json tried while another tool is writing it in place (skopeo truncates, then writes). */
const INDEX_READ_ATTEMPTS = 5;
/** Rewrites of index.json tried while another tool keeps replacing it. */
const INDEX_REWRITE_ATTEMPTS = 5;

/**
 * index.json parsed, read again when what was read is torn (not JSON, or the file changed during the
 * read) because a tool is writing it in place; only a file that stays broken is DATA_LOSS.
 */
export async function readIndexForUpdate(
  disk: SafeFs,
  dir: string,
  maxBytes: number,
  where: string,
): Promise<{ source: IndexSource; index?: ReturnType<typeof parseIndexJson> }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { source, text } = await readIndexFile(disk, dir, maxBytes);
      return { source, index: text === undefined ? undefined : parseIndexJson(text, where) };
    } catch (err) {
      const torn = (err instanceof RegplaneError && err.code === Code.DATA_LOSS) || (err instanceof UnsafeFileError && err.problem === CHANGED_WHILE_READ);
      if (!torn || attempt === INDEX_READ_ATTEMPTS) throw err;
      // The other writer's truncate and write are a moment apart; give it that moment.
      await new Promise((resolve) => setTimeout(resolve, attempt * 5));
    }
  }
}

/**
 * Rewrites index.json's manifest list with `change` (undefined: nothing to change). Returns whether
 * index.json changed; a layout without index.json is left as it is. When another tool (skopeo, umoci)
 * replaces index.json between the read and the rename, the rewrite starts again from its version, so
 * its new entries are kept.
 */
async function rewriteIndexEntries(disk: SafeFs, dir: string, where: string, maxBytes: number, change: (manifests: unknown[]) => unknown[] | undefined): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    const { source, index } = await readIndexForUpdate(disk, dir, maxBytes, where);
    if (index === undefined) return false;
    const kept = change(index.manifests);
    if (kept === undefined) return false;
    const mode = Number((await disk.lstatBig(path.join(dir, INDEX_FILE))).mode) & 0o777;
    const guard = attempt < INDEX_REWRITE_ATTEMPTS ? source.version : undefined;
    if (await writeFileAtomic(disk, dir, INDEX_FILE, JSON.stringify({ ...index, manifests: kept }), mode, guard)) return true;
  }
}

function digestOfEntry(m: unknown): unknown {
  return typeof m === "object" && m !== null ? (m as { digest?: unknown }).digest : undefined;
}

function tagOfEntry(m: unknown): unknown {
  const annotations = typeof m === "object" && m !== null ? (m as { annotations?: unknown }).annotations : undefined;
  return typeof annotations === "object" && annotations !== null ? (annotations as Record<string, unknown>)[REF_NAME_ANNOTATION] : undefined;
}

/** Removes every index.json entry with one of `digests`, in one rewrite (see rewriteIndexEntries). */
export async function removeIndexEntries(disk: SafeFs, dir: string, digests: ReadonlySet<string>, where: string, maxBytes: number): Promise<boolean> {
  return rewriteIndexEntries(disk, dir, where, maxBytes, (manifests) => {
    const kept = manifests.filter((m) => !digests.has(digestOfEntry(m) as string));
    return kept.length === manifests.length ? undefined : kept;
  });
}

/**
 * Removes the tag from the entries of `digest` only. The image's last entry stays without its tag (an
 * untagged image, its blobs still referenced); any other entry of the digest keeps the image otherwise.
 */
export async function untagIndexEntries(disk: SafeFs, dir: string, digest: string, tag: string, where: string, maxBytes: number): Promise<boolean> {
  return rewriteIndexEntries(disk, dir, where, maxBytes, (manifests) => {
    const tagged = manifests.filter((m) => digestOfEntry(m) === digest && tagOfEntry(m) === tag);
    if (tagged.length === 0) return undefined;
    const others = manifests.some((m) => digestOfEntry(m) === digest && tagOfEntry(m) !== tag);
    const kept: unknown[] = [];
    for (const m of manifests) {
      if (!tagged.includes(m)) kept.push(m);
      else if (!others && m === tagged[0]) kept.push(withoutTag(m as { annotations: Record<string, unknown> }));
    }
    return kept;
  });
}

function withoutTag(entry: { annotations: Record<string, unknown> }): Record<string, unknown> {
  const { annotations, ...rest } = entry;
  const left = Object.fromEntries(Object.entries(annotations).filter(([key]) => key !== REF_NAME_ANNOTATION));
  return Object.keys(left).length > 0 ? { ...rest, annotations: left } : rest;
}

export interface CollectionOptions {
  /** Blobs changed less than this long ago are kept: another tool may be writing an image into the layout. */
  gracePeriodMs: number;
  maxMetadataBytes: number;
}

interface BlobFileEntry {
  digest: string;
  file: string;
  size: number;
  changedMs: number;
}

/**
 * Deletes the blobs of a layout that nothing references: only regular files named by a valid digest
 * in real (not linked) blobs/<algorithm> folders, unreachable from index.json (walking nested indexes)
 * and from every manifest written within the grace period, and unchanged for the grace period. When
 * a reachable manifest cannot be parsed, nothing is collected: a blob in use must never go.
 */
export async function collectGarbage(
  disk: SafeFs,
  dir: string,
  blobs: BlobReader,
  where: string,
  onWarning: (msg: string, ctx: object) => void,
  options: CollectionOptions,
): Promise<string[]> {
  const first = await readIndexForUpdate(disk, dir, options.maxMetadataBytes, where);
  // Without index.json a layout may be mid-copy (blobs first, index last); its blobs are not garbage yet.
  if (first.index === undefined) return [];
  const reachable = new Set<string>();
  const skipped = (digest: string, err: unknown) => {
    onWarning("local registry: garbage collection skipped, a referenced manifest is unreadable", {
      repository: where,
      digest,
      error: errorMessage(err),
    });
    return [];
  };
  const pending: string[] = [];
  const markIndex = (index: { manifests: unknown[] }) => {
    for (const m of index.manifests) {
      const digest = (m as { digest?: unknown } | null)?.digest;
      if (isValidDigest(digest) && !reachable.has(digest)) {
        reachable.add(digest);
        pending.push(digest);
      }
    }
  };
  const markManifest = (parsed: ParsedManifest | undefined) => {
    if (parsed?.kind === "image") {
      if (parsed.config) reachable.add(parsed.config.digest);
      for (const l of parsed.layers) reachable.add(l.digest);
      for (const b of parsed.otherBlobs) reachable.add(b);
    } else if (parsed?.kind === "index") {
      for (const child of parsed.manifests) {
        if (!reachable.has(child.digest)) {
          reachable.add(child.digest);
          pending.push(child.digest);
        }
      }
    }
  };
  const drain = async (): Promise<string | undefined> => {
    while (pending.length > 0) {
      const digest = pending.pop()!;
      try {
        markManifest(await blobs.manifest(dir, digest));
      } catch (err) {
        if (err instanceof CorruptBlobError) {
          skipped(digest, err);
          return digest;
        }
        throw err;
      }
    }
    return undefined;
  };
  markIndex(first.index);
  if ((await drain()) !== undefined) return [];

  const blobsDir = path.join(dir, BLOBS_DIR);
  if (!(await disk.isRealDirectory(blobsDir))) {
    if ((await disk.lstat(blobsDir).catch(() => undefined))?.isSymbolicLink()) {
      onWarning("local registry: garbage collection skipped, blobs is a symbolic link", { repository: where });
    }
    return [];
  }
  const files = await listBlobFiles(disk, blobsDir);
  const cutoff = Date.now() - options.gracePeriodMs;
  // A manifest written within the grace period belongs to an image still being copied in, or just
  // copied: whatever it references stays, even a blob the copy found already present and reused.
  for (const f of files) {
    if (f.changedMs <= cutoff || f.size > options.maxMetadataBytes || reachable.has(f.digest)) continue;
    markManifest(await youngManifest(disk, f, options.maxMetadataBytes));
  }
  if ((await drain()) !== undefined) return [];
  // index.json may have been replaced while the folders were read: what it now references stays too.
  const second = await readIndexForUpdate(disk, dir, options.maxMetadataBytes, where);
  if (second.index !== undefined && second.source.contentHash !== first.source.contentHash) {
    markIndex(second.index);
    if ((await drain()) !== undefined) return [];
  }

  const removed: string[] = [];
  for (const f of files) {
    if (reachable.has(f.digest) || f.changedMs > cutoff) continue;
    try {
      await disk.run(() => fs.unlink(f.file));
      removed.push(f.digest);
    } catch (err) {
      if (!isMissing(err)) onWarning("local registry: could not remove an unreferenced blob", { repository: where, digest: f.digest, error: errorMessage(err) });
    }
  }
  return removed;
}

/** The regular files named by a valid digest in the real blobs/<algorithm> folders; links are never entered. */
async function listBlobFiles(disk: SafeFs, blobsDir: string): Promise<BlobFileEntry[]> {
  const out: BlobFileEntry[] = [];
  for (const alg of await disk.readdirTypes(blobsDir)) {
    if (!alg.isDirectory() || !isValidAlgorithm(alg.name)) continue;
    const algDir = path.join(blobsDir, alg.name);
    let names;
    try {
      names = await disk.readdirTypes(algDir);
    } catch (err) {
      if (isMissing(err)) continue;
      throw err;
    }
    for (const e of names) {
      // Names outside the digest grammar (temp files of a tool writing into the layout) are not ours.
      if (!e.isFile() || !isValidEncoded(e.name)) continue;
      const file = path.join(algDir, e.name);
      try {
        const st = await disk.lstat(file);
        if (!st.isFile()) continue;
        out.push({ digest: `${alg.name}:${e.name}`, file, size: st.size, changedMs: st.mtimeMs });
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
    }
  }
  return out;
}

/** A recently written blob parsed as a manifest, or undefined when it is not one (a layer, a config). */
async function youngManifest(disk: SafeFs, f: BlobFileEntry, maxBytes: number): Promise<ParsedManifest | undefined> {
  try {
    const read = await disk.readRegular(f.file, maxBytes);
    if (read === undefined || read.bytes[0] !== 0x7b) return undefined;
    const parsed = parseManifest(f.digest, read.bytes);
    return parsed.kind === "other" ? undefined : parsed;
  } catch (err) {
    if (err instanceof CorruptBlobError || err instanceof UnsafeFileError || isMissing(err)) return undefined;
    throw err;
  }
}
