// Builds real OCI image layouts for tests with the real tools (umoci, skopeo), plus a few writers for
// what those tools cannot make directly: hand-written image indexes and many small images fast.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";

const execFileAsync = promisify(execFile);

export const REF_NAME = "org.opencontainers.image.ref.name";
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

export interface IndexJson {
  schemaVersion: number;
  manifests: Descriptor[];
  [key: string]: unknown;
}

/** Runs a tool and returns its stdout; a failure carries the tool's stderr in the message. */
export async function run(command: string, args: string[], options: { cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, { cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`${command} ${args.join(" ")} failed: ${e.stderr?.trim() || e.message}`);
  }
}

export async function makeTempDir(prefix = "regplane-test-"): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export function blobFile(layoutDir: string, digest: string): string {
  const [algorithm, encoded] = digest.split(":");
  return path.join(layoutDir, "blobs", algorithm, encoded);
}

export async function readIndexJson(layoutDir: string): Promise<IndexJson> {
  return JSON.parse(await fs.readFile(path.join(layoutDir, "index.json"), "utf8")) as IndexJson;
}

export async function writeIndexJson(layoutDir: string, index: IndexJson): Promise<void> {
  await fs.writeFile(path.join(layoutDir, "index.json"), JSON.stringify(index));
}

/** The digest index.json gives a tag, or undefined. */
export async function digestOfTag(layoutDir: string, tag: string): Promise<string | undefined> {
  const index = await readIndexJson(layoutDir);
  return index.manifests.find((m) => m.annotations?.[REF_NAME] === tag)?.digest;
}

export async function readBlobJson<T = Record<string, unknown>>(layoutDir: string, digest: string): Promise<T> {
  return JSON.parse(await fs.readFile(blobFile(layoutDir, digest), "utf8")) as T;
}

/** Every blob digest present in a layout's blobs/ folder. */
export async function listBlobs(layoutDir: string): Promise<string[]> {
  const out: string[] = [];
  const blobsDir = path.join(layoutDir, "blobs");
  for (const algorithm of await fs.readdir(blobsDir).catch(() => [] as string[])) {
    for (const name of await fs.readdir(path.join(blobsDir, algorithm))) out.push(`${algorithm}:${name}`);
  }
  return out.sort();
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

/** `umoci init` unless the directory already holds a layout. */
export async function initLayout(layoutDir: string): Promise<void> {
  if (await exists(path.join(layoutDir, "oci-layout"))) return;
  await fs.mkdir(path.dirname(layoutDir), { recursive: true });
  await run("umoci", ["init", "--layout", layoutDir]);
}

/** A folder of files with random content, so every layer built from it has a distinct digest. */
async function randomContent(files: number): Promise<string> {
  const dir = await makeTempDir("regplane-content-");
  for (let i = 0; i < files; i++) await fs.writeFile(path.join(dir, `file-${i}.bin`), randomBytes(64 + i * 16));
  return dir;
}

/** Adds one layer of random files to the image a tag names (umoci re-points the tag). */
export async function insertRandomLayer(layoutDir: string, tag: string, files = 2): Promise<void> {
  const content = await randomContent(files);
  try {
    await run("umoci", ["insert", "--rootless", "--image", `${layoutDir}:${tag}`, content, `/data/${randomBytes(4).toString("hex")}`]);
  } finally {
    await fs.rm(content, { recursive: true, force: true });
  }
}

/** A new image with one layer of random files; returns its manifest digest. */
export async function newImage(layoutDir: string, tag: string, options: { files?: number } = {}): Promise<string> {
  await initLayout(layoutDir);
  await run("umoci", ["new", "--image", `${layoutDir}:${tag}`]);
  await insertRandomLayer(layoutDir, tag, options.files);
  return (await digestOfTag(layoutDir, tag))!;
}

/** An image that shares every layer of `fromTag` and adds one more; returns its manifest digest. */
export async function deriveImage(layoutDir: string, fromTag: string, tag: string, options: { files?: number } = {}): Promise<string> {
  await run("umoci", ["tag", "--image", `${layoutDir}:${fromTag}`, tag]);
  await insertRandomLayer(layoutDir, tag, options.files);
  return (await digestOfTag(layoutDir, tag))!;
}

/** Removes the blobs umoci left behind while building (old manifests and configs of re-pointed tags). */
export async function gcLayout(layoutDir: string): Promise<void> {
  await run("umoci", ["gc", "--layout", layoutDir]);
}

export interface BaseLayout {
  dir: string;
  /** Manifest digests by tag: `base` (one layer), `v1` and `v2` (base's layer plus one each). */
  digests: { base: string; v1: string; v2: string };
}

/**
 * A source layout with three small images built offline: `base`, and `v1`/`v2` derived from it, so
 * v1 and v2 share base's layer and each has one layer of its own.
 */
export async function buildBaseLayout(dir: string): Promise<BaseLayout> {
  const base = await newImage(dir, "base");
  const v1 = await deriveImage(dir, "base", "v1");
  const v2 = await deriveImage(dir, "base", "v2");
  await gcLayout(dir);
  return { dir, digests: { base, v1, v2 } };
}

export interface CopyOptions {
  /** "v2s2" writes a Docker schema 2 manifest into the destination layout. */
  format?: "oci" | "v2s2";
  /** Copy every instance of an image index, not just the one for this platform. */
  all?: boolean;
}

/** `skopeo copy oci:SRC:TAG oci:DEST:TAG`; returns the manifest digest the destination records. */
export async function copyToLayout(
  srcLayout: string,
  srcTag: string,
  destLayoutDir: string,
  destTag: string,
  options: CopyOptions = {},
): Promise<string> {
  await fs.mkdir(path.dirname(destLayoutDir), { recursive: true });
  const args = ["copy", "--quiet"];
  if (options.format === "v2s2") args.push("--format", "v2s2");
  if (options.all) args.push("--all");
  args.push(`oci:${srcLayout}:${srcTag}`, `oci:${destLayoutDir}:${destTag}`);
  await run("skopeo", args);
  return (await digestOfTag(destLayoutDir, destTag))!;
}

/**
 * skopeo's view of an image in a layout: `skopeo inspect` (default), `--raw` (the manifest, parsed)
 * or `--config` (the config, parsed). Only OCI media types can be read through the oci: transport.
 */
export async function skopeoInspect(
  layoutDir: string,
  tag: string,
  mode: "inspect" | "raw" | "config" = "inspect",
): Promise<Record<string, any>> {
  const args = ["inspect"];
  if (mode === "raw") args.push("--raw");
  if (mode === "config") args.push("--config");
  args.push(`oci:${layoutDir}:${tag}`);
  return JSON.parse(await run("skopeo", args)) as Record<string, any>;
}

/** The manifest exactly as skopeo reads it, with the digest of those bytes. */
export async function skopeoRawManifest(reference: string): Promise<{ digest: string; size: number; manifest: Record<string, any> }> {
  const { stdout } = await execFileAsync("skopeo", ["inspect", "--raw", reference], { encoding: "buffer", maxBuffer: 16 * 1024 * 1024 });
  return { digest: sha256Digest(stdout), size: stdout.length, manifest: JSON.parse(stdout.toString("utf8")) };
}

/**
 * Reads an image completely: skopeo copies it out of the layout, verifying every blob's digest.
 * Throws when any blob is missing or damaged.
 */
export async function verifyImageReadable(layoutDir: string, tag: string): Promise<void> {
  const out = await makeTempDir("regplane-verify-");
  try {
    await run("skopeo", ["copy", "--quiet", `oci:${layoutDir}:${tag}`, `dir:${out}`]);
  } finally {
    await fs.rm(out, { recursive: true, force: true });
  }
}

async function writeBlob(layoutDir: string, bytes: Buffer | string): Promise<{ digest: string; size: number }> {
  const buf = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
  const digest = sha256Digest(buf);
  await fs.mkdir(path.join(layoutDir, "blobs", "sha256"), { recursive: true });
  await fs.writeFile(blobFile(layoutDir, digest), buf);
  return { digest, size: buf.length };
}

/** Appends descriptors to index.json (creating the layout files if needed). */
export async function addIndexEntries(layoutDir: string, entries: Descriptor[]): Promise<void> {
  await fs.mkdir(layoutDir, { recursive: true });
  if (!(await exists(path.join(layoutDir, "oci-layout")))) {
    await fs.writeFile(path.join(layoutDir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  }
  const index = (await exists(path.join(layoutDir, "index.json")))
    ? await readIndexJson(layoutDir)
    : { schemaVersion: 2, manifests: [] };
  index.manifests.push(...entries);
  await writeIndexJson(layoutDir, index);
}

export function tagged(descriptor: Descriptor, tag: string | undefined): Descriptor {
  const { annotations: _ignored, ...rest } = descriptor;
  return tag === undefined ? rest : { ...rest, annotations: { [REF_NAME]: tag } };
}

export interface IndexOptions {
  /** Tags (in the same layout) of the images that become the index's children. */
  childTags: string[];
  /** Tag for the index; undefined leaves it untagged. */
  tag?: string;
  /** Drop the children's own index.json entries, so only the index references them. */
  removeChildEntries?: boolean;
}

/** Writes a multi-arch image index over images already in the layout; returns its digest. */
export async function writeImageIndex(layoutDir: string, options: IndexOptions): Promise<{ digest: string; size: number; children: Descriptor[] }> {
  const index = await readIndexJson(layoutDir);
  const platforms = [
    { architecture: "amd64", os: "linux" },
    { architecture: "arm64", os: "linux", variant: "v8" },
    { architecture: "s390x", os: "linux" },
  ];
  const children: Descriptor[] = options.childTags.map((tag, i) => {
    const entry = index.manifests.find((m) => m.annotations?.[REF_NAME] === tag);
    if (entry === undefined) throw new Error(`no tag ${tag} in ${layoutDir}`);
    return { mediaType: entry.mediaType, digest: entry.digest, size: entry.size, platform: platforms[i % platforms.length] };
  });
  const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children });
  const blob = await writeBlob(layoutDir, body);
  if (options.removeChildEntries) {
    const childDigests = new Set(children.map((c) => c.digest));
    index.manifests = index.manifests.filter((m) => !childDigests.has(m.digest));
  }
  index.manifests.push(tagged({ mediaType: OCI_INDEX, ...blob }, options.tag));
  await writeIndexJson(layoutDir, index);
  return { ...blob, children };
}

/** A minimal ustar archive holding one file, so synthetic layers are real tar+gzip layers. */
export function tarOneFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, "utf8");
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(content.length.toString(8).padStart(11, "0") + "\0", 124);
  header.write("00000000000\0", 136);
  header.write("        ", 148);
  header.write("0", 156);
  header.write("ustar\0", 257);
  header.write("00", 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

export interface SyntheticLayer {
  descriptor: Descriptor;
  /** Digest of the uncompressed tar, as the config's rootfs lists it. */
  diffId: string;
}

export interface SyntheticImageOptions {
  tag?: string;
  /** Config `created`; null leaves the field out. Default: now. */
  created?: string | null;
  /** Layers to reuse (descriptors of blobs already in the layout), before the new one. */
  sharedLayers?: SyntheticLayer[];
  /** Write the image's blobs without an index.json entry (to add the entry later, or never). */
  blobsOnly?: boolean;
}

export interface SyntheticImage {
  digest: string;
  size: number;
  manifest: { config: Descriptor; layers: Descriptor[] };
  descriptor: Descriptor;
  layers: SyntheticLayer[];
  /** Digests of the config and the image's own new layer. */
  ownBlobs: string[];
}

/**
 * Writes a small, valid OCI image (one random tar+gzip layer and a config) straight into a layout,
 * far faster than umoci when a test needs hundreds of images.
 */
export async function writeSyntheticImage(layoutDir: string, options: SyntheticImageOptions = {}): Promise<SyntheticImage> {
  await fs.mkdir(layoutDir, { recursive: true });
  const tar = tarOneFile(`data-${randomBytes(4).toString("hex")}.bin`, randomBytes(48));
  const layer = await writeBlob(layoutDir, gzipSync(tar));
  const own: SyntheticLayer = { descriptor: { mediaType: OCI_LAYER_GZIP, ...layer }, diffId: sha256Digest(tar) };
  const allLayers = [...(options.sharedLayers ?? []), own];
  const config: Record<string, unknown> = {
    architecture: "amd64",
    os: "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: allLayers.map((l) => l.diffId) },
  };
  const created = options.created === undefined ? new Date().toISOString() : options.created;
  if (created !== null) config.created = created;
  const configBlob = await writeBlob(layoutDir, JSON.stringify(config));
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, ...configBlob },
    layers: allLayers.map((l) => l.descriptor),
  };
  const manifestBlob = await writeBlob(layoutDir, JSON.stringify(manifest));
  const descriptor = tagged({ mediaType: OCI_MANIFEST, ...manifestBlob }, options.tag);
  if (!options.blobsOnly) await addIndexEntries(layoutDir, [descriptor]);
  else if (!(await exists(path.join(layoutDir, "oci-layout")))) await addIndexEntries(layoutDir, []);
  return { ...manifestBlob, manifest, descriptor, layers: allLayers, ownBlobs: [configBlob.digest, layer.digest] };
}

/** Dates every blob of a layout `hours` back, as for images written long before a delete runs (past gcGracePeriod). */
export async function ageBlobs(layoutDir: string, hours = 3): Promise<void> {
  const when = new Date(Date.now() - hours * 3_600_000);
  const blobsDir = path.join(layoutDir, "blobs");
  for (const algorithm of await fs.readdir(blobsDir)) {
    for (const name of await fs.readdir(path.join(blobsDir, algorithm))) {
      await fs.utimes(path.join(blobsDir, algorithm, name), when, when);
    }
  }
}
