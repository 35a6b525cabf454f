// Changes to a layout on disk. Callers hold the layout's mutex. index.json is only ever replaced by
// rename, so a reader (or a crash) sees the old file or the new one, never a torn one.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";

import { BlobReader, CorruptBlobError, errorMessage, parseIndexJson, readIndexFile } from "./layout.js";
import {
  BLOBS_DIR,
  INDEX_FILE,
  isMissing,
  isValidAlgorithm,
  isValidDigest,
  isValidEncoded,
} from "./paths.js";

const TMP_INFIX = ".tmp-";

/** Writes `name` in `dir` by temp file + fsync + rename + directory fsync. */
export async function writeFileAtomic(dir: string, name: string, data: string, mode = 0o644): Promise<void> {
  const tmpName = `${name}${TMP_INFIX}${randomBytes(8).toString("hex")}`;
  const tmpPath = path.join(dir, tmpName);
  const handle = await fs.open(tmpPath, "wx", mode);
  try {
    await handle.writeFile(data, "utf8");
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.rm(tmpPath, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await fs.rename(tmpPath, path.join(dir, name));
  } catch (err) {
    await fs.rm(tmpPath, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Temp files of writeFileAtomic that a crash left behind; readers never look at them. */
export async function removeStaleTemps(dir: string, name: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (isMissing(err)) return;
    throw err;
  }
  await Promise.all(
    names.filter((n) => n.startsWith(`${name}${TMP_INFIX}`)).map((n) => fs.rm(path.join(dir, n), { force: true })),
  );
}

/**
 * Removes every index.json entry with `digest`. Returns whether index.json changed; a layout
 * without index.json or without the digest is left as it is.
 */
export async function removeIndexEntries(dir: string, digest: string, where: string): Promise<boolean> {
  const { text } = await readIndexFile(dir);
  if (text === undefined) return false;
  const index = parseIndexJson(text, where);
  const kept = index.manifests.filter((m) => !(typeof m === "object" && m !== null && (m as { digest?: unknown }).digest === digest));
  if (kept.length === index.manifests.length) return false;
  let mode = 0o644;
  try {
    mode = (await fs.stat(path.join(dir, INDEX_FILE))).mode & 0o777;
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  await writeFileAtomic(dir, INDEX_FILE, JSON.stringify({ ...index, manifests: kept }), mode);
  return true;
}

/**
 * Deletes the blobs of a layout that no manifest reachable from index.json references (walking
 * nested indexes). When a reachable manifest cannot be parsed, nothing is collected: what it
 * references is unknown, and a blob in use must never go. Returns the digests removed.
 */
export async function collectGarbage(
  dir: string,
  blobs: BlobReader,
  where: string,
  onWarning: (msg: string, ctx: object) => void,
): Promise<string[]> {
  const { text } = await readIndexFile(dir);
  // Without index.json a layout may be mid-copy (blobs first, index last); its blobs are not garbage yet.
  if (text === undefined) return [];
  const index = parseIndexJson(text, where);
  const reachable = new Set<string>();
  const pendingManifests: string[] = [];
  const reach = (digest: string, isManifest: boolean) => {
    if (reachable.has(digest)) return;
    reachable.add(digest);
    if (isManifest) pendingManifests.push(digest);
  };
  for (const m of index.manifests) {
    const digest = (m as { digest?: unknown } | null)?.digest;
    if (isValidDigest(digest)) reach(digest, true);
  }
  while (pendingManifests.length > 0) {
    const digest = pendingManifests.pop()!;
    let parsed;
    try {
      parsed = await blobs.manifest(dir, digest);
    } catch (err) {
      if (!(err instanceof CorruptBlobError)) throw err;
      onWarning("local registry: garbage collection skipped, a referenced manifest is unreadable", {
        repository: where,
        digest,
        error: errorMessage(err),
      });
      return [];
    }
    if (parsed === undefined) continue;
    if (parsed.kind === "image") {
      if (parsed.config) reach(parsed.config.digest, false);
      for (const l of parsed.layers) reach(l.digest, false);
      for (const b of parsed.otherBlobs) reach(b, false);
    } else if (parsed.kind === "index") {
      for (const child of parsed.manifests) reach(child.digest, true);
    }
  }

  const removed: string[] = [];
  const blobsDir = path.join(dir, BLOBS_DIR);
  let algorithms: string[];
  try {
    algorithms = await fs.readdir(blobsDir);
  } catch (err) {
    if (isMissing(err)) return removed;
    throw err;
  }
  for (const algorithm of algorithms) {
    if (!isValidAlgorithm(algorithm)) continue;
    let names: string[];
    try {
      names = await fs.readdir(path.join(blobsDir, algorithm));
    } catch (err) {
      if (isMissing(err)) continue;
      throw err;
    }
    for (const name of names) {
      // Names outside the digest grammar (temp files of a tool writing into the layout) are not ours.
      if (!isValidEncoded(name)) continue;
      const digest = `${algorithm}:${name}`;
      if (reachable.has(digest)) continue;
      try {
        await fs.unlink(path.join(blobsDir, algorithm, name));
        removed.push(digest);
      } catch (err) {
        if (!isMissing(err)) onWarning("local registry: could not remove an unreferenced blob", { repository: where, digest, error: errorMessage(err) });
      }
    }
  }
  return removed;
}
