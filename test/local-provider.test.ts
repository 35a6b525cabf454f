// Kept as one file: every case reads the layouts beforeAll builds once with umoci and skopeo; split, each file would build them again.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { LocalProvider } from "../src/adapters/local/index.js";
import { Code, RegplaneError } from "../src/core/errors.js";
import { compareImages, imageKeyOf } from "../src/core/order.js";
import type { ImageKey, ListImagesQuery } from "../src/core/provider.js";
import type { ImageRecord, OrderTerm } from "../src/core/types.js";
import {
  addIndexEntries,
  blobFile,
  buildBaseLayout,
  copyToLayout,
  DOCKER_MANIFEST,
  listBlobs,
  makeTempDir,
  OCI_INDEX,
  OCI_MANIFEST,
  readBlobJson,
  readIndexJson,
  REF_NAME,
  run,
  sha256Digest,
  skopeoInspect,
  skopeoRawManifest,
  tagged,
  verifyImageReadable,
  writeImageIndex,
  writeIndexJson,
  writeSyntheticImage,
  type BaseLayout,
  type SyntheticImage,
} from "./support/images.js";

const signal = new AbortController().signal;

let work: string;
let base: BaseLayout;
/** A registry root built once; tests that change files work on a copy of it. */
let seedRoot: string;
let seed: LocalProvider;
let seedWarnings: { msg: string; ctx: object }[];
/** Digest of the index written into team/multi, and its children (copies of base v1 and v2). */
let multiIndexDigest: string;
let dockerDigest: string;

async function freshRoot(name: string): Promise<string> {
  const root = path.join(work, name);
  await fs.cp(seedRoot, root, { recursive: true, verbatimSymlinks: true });
  return root;
}

function provider(root: string, warnings?: { msg: string; ctx: object }[], options: { freshnessMs?: number } = {}): LocalProvider {
  return new LocalProvider({ id: "local", root, gcGracePeriodMs: 0, onWarning: (msg, ctx) => warnings?.push({ msg, ctx }), ...options });
}

function query(q: Partial<ListImagesQuery> = {}): ListImagesQuery {
  return { order: [], limit: 1000, signal, ...q };
}

async function listAll(p: LocalProvider, q: Partial<ListImagesQuery> = {}): Promise<ImageRecord[]> {
  const page = await p.listImages(query(q));
  expect(page.done).toBe(true);
  return page.images;
}

/** Pages through a listing with the native cursor, checking each page's shape. */
async function pageNative(p: LocalProvider, limit: number, q: Partial<ListImagesQuery> = {}): Promise<ImageRecord[]> {
  const out: ImageRecord[] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 10_000; guard++) {
    const page = await p.listImages(query({ ...q, limit, nativeCursor: cursor }));
    expect(page.images.length).toBeLessThanOrEqual(limit);
    out.push(...page.images);
    if (page.done) {
      expect(page.nativeCursor).toBeUndefined();
      return out;
    }
    expect(page.images.length).toBe(limit);
    expect(page.nativeCursor).toBeTypeOf("string");
    cursor = page.nativeCursor;
  }
  throw new Error("listing did not end");
}

/** Pages through an ordered listing, resuming strictly after the last key. */
async function pageOrdered(p: LocalProvider, order: OrderTerm[], limit: number, q: Partial<ListImagesQuery> = {}): Promise<ImageRecord[]> {
  const out: ImageRecord[] = [];
  let after: ImageKey | undefined;
  for (let guard = 0; guard < 10_000; guard++) {
    const page = await p.listImages(query({ ...q, order, limit, after }));
    out.push(...page.images);
    if (page.done) return out;
    expect(page.images.length).toBe(limit);
    after = imageKeyOf(page.images[page.images.length - 1]);
  }
  throw new Error("listing did not end");
}

const ids = (images: ImageRecord[]) => images.map((i) => `${i.repository}@${i.digest}`);

/** What the listing must contain, found by a plain recursive scan independent of the adapter. */
async function expectedImages(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (dir: string, rel: string) => {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    if (rel !== "" && entries.some((e) => e.name === "oci-layout")) {
      try {
        const index = await readIndexJson(dir);
        for (const d of new Set(index.manifests.map((m) => m.digest))) out.push(`${rel}@${d}`);
      } catch {
        // A corrupt layout is left out of listings.
      }
    }
    for (const e of entries) {
      if (!e.isDirectory() || e.name === "blobs" || e.name.startsWith(".")) continue;
      await visit(path.join(dir, e.name), rel === "" ? e.name : `${rel}/${e.name}`);
    }
  };
  await visit(root, "");
  return out.sort((a, b) => {
    const [ra, da] = a.split("@");
    const [rb, db] = b.split("@");
    return ra < rb ? -1 : ra > rb ? 1 : da < db ? -1 : da > db ? 1 : 0;
  });
}

async function untag(layoutDir: string, tag: string): Promise<void> {
  const index = await readIndexJson(layoutDir);
  index.manifests = index.manifests.map((m) => (m.annotations?.[REF_NAME] === tag ? tagged(m, undefined) : m));
  await writeIndexJson(layoutDir, index);
}

async function blobFilesSize(dir: string): Promise<number> {
  let total = 0;
  const visit = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await visit(p);
      else if (e.isFile() && path.basename(path.dirname(path.dirname(p))) === "blobs") total += (await fs.stat(p)).size;
    }
  };
  await visit(dir);
  return total;
}

beforeAll(async () => {
  work = await makeTempDir("regplane-local-");
  base = await buildBaseLayout(path.join(work, "base"));
  seedRoot = path.join(work, "seed");
  const app = path.join(seedRoot, "team/app");
  await copyToLayout(base.dir, "v1", app, "v1");
  await copyToLayout(base.dir, "v2", app, "v2");
  await copyToLayout(base.dir, "v2", app, "latest");
  await copyToLayout(base.dir, "base", app, "untagged");
  await untag(app, "untagged");

  const frontend = path.join(seedRoot, "team/web/frontend");
  await copyToLayout(base.dir, "v1", frontend, "v1");
  dockerDigest = await copyToLayout(base.dir, "v2", frontend, "docker", { format: "v2s2" });

  const multi = path.join(seedRoot, "team/multi");
  await copyToLayout(base.dir, "v1", multi, "amd64");
  await copyToLayout(base.dir, "v2", multi, "arm64");
  multiIndexDigest = (await writeImageIndex(multi, { childTags: ["amd64", "arm64"], tag: "multi", removeChildEntries: true })).digest;

  // Names chosen so that per-directory order and full-path order differ ("team-x/…" < "team/…").
  await copyToLayout(base.dir, "base", path.join(seedRoot, "team-x/app"), "base");
  await copyToLayout(base.dir, "v1", path.join(seedRoot, "solo"), "v1");
  await copyToLayout(base.dir, "v2", path.join(seedRoot, "solo/inner"), "v2");
  await copyToLayout(base.dir, "base", path.join(seedRoot, "solo-a/x"), "base");

  const broken = path.join(seedRoot, "broken/layout");
  await fs.mkdir(broken, { recursive: true });
  await fs.writeFile(path.join(broken, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await fs.writeFile(path.join(broken, "index.json"), "{ not json");
  // A link to a layout outside the root must be invisible.
  await fs.symlink(base.dir, path.join(seedRoot, "linked"));

  seedWarnings = [];
  seed = provider(seedRoot, seedWarnings);
});

afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

describe("order", () => {
  const img = (repository: string, digest: string, createdAt?: number): ImageKey => ({ repository, digest, createdAt });

  it("breaks ties by repository then digest, ascending unless a term names them", () => {
    const a = img("a", "sha256:2", 5);
    const b = img("b", "sha256:1", 5);
    expect(compareImages(a, b, [])).toBeLessThan(0);
    expect(compareImages(a, b, [{ field: "created_at", desc: true }])).toBeLessThan(0);
    expect(compareImages(a, b, [{ field: "name", desc: true }])).toBeGreaterThan(0);
    expect(compareImages(a, b, [{ field: "digest", desc: false }])).toBeGreaterThan(0);
    expect(compareImages(a, img("a", "sha256:2", 5), [{ field: "created_at", desc: true }])).toBe(0);
  });

  it("puts images without a creation time first ascending and last descending", () => {
    const none = img("z", "sha256:9");
    const some = img("a", "sha256:1", 0);
    expect(compareImages(none, some, [{ field: "created_at", desc: false }])).toBeLessThan(0);
    expect(compareImages(none, some, [{ field: "created_at", desc: true }])).toBeGreaterThan(0);
  });

  it("compares records and keys alike", () => {
    const record: ImageRecord = {
      registryId: "r",
      repository: "a/b",
      digest: "sha256:1",
      mediaType: OCI_MANIFEST,
      tags: [],
      layers: [],
      manifests: [],
      compressedSize: 0,
      createdAtMs: 1000,
    };
    expect(imageKeyOf(record)).toEqual({ repository: "a/b", digest: "sha256:1", createdAt: 1000 });
    expect(compareImages(record, imageKeyOf(record), [{ field: "created_at", desc: true }])).toBe(0);
    expect(imageKeyOf({ ...record, createdAtMs: undefined })).toEqual({ repository: "a/b", digest: "sha256:1" });
  });
});

describe("LocalProvider: cancellation", () => {
  it("fails a request whose signal has fired with CANCELLED", async () => {
    const aborted = AbortSignal.abort();
    await expect(seed.listImages(query({ signal: aborted }))).rejects.toMatchObject({ code: Code.CANCELLED });
    await expect(seed.listImages(query({ signal: aborted, order: [{ field: "name", desc: false }] }))).rejects.toMatchObject({ code: Code.CANCELLED });
    await expect(seed.getImage("team/app", base.digests.v1, aborted)).rejects.toMatchObject({ code: Code.CANCELLED });
    await expect(seed.deleteImage("team/app", base.digests.v1, aborted)).rejects.toMatchObject({ code: Code.CANCELLED });
    await expect(seed.listNamespaces({ limit: 10, signal: aborted })).rejects.toMatchObject({ code: Code.CANCELLED });
    expect(await seed.getImage("team/app", base.digests.v1, signal)).toBeDefined();
  });
});

describe("LocalProvider: describe", () => {
  it("describes a local registry with its capabilities", () => {
    const r = seed.describe();
    expect(r).toMatchObject({ id: "local", name: "local", provider: "local", endpoint: "", location: "", hostname: "", status: "active", labels: {} });
    expect([...seed.capabilities].sort()).toEqual(
      ["create_namespaces", "create_repositories", "delete_images", "delete_namespaces", "delete_repositories", "delete_tags", "list_images", "list_namespaces", "update_namespaces"].sort(),
    );
    expect([...r.capabilities].sort()).toEqual([...seed.capabilities].sort());
    expect(seed.kind).toBe("local");
  });
});

describe("LocalProvider: listing", () => {
  it("lists every image of every layout in repository, digest order", async () => {
    const images = await listAll(seed);
    expect(ids(images)).toEqual(await expectedImages(seedRoot));
    expect(new Set(images.map((i) => i.repository))).toEqual(
      new Set(["solo", "solo-a/x", "solo/inner", "team-x/app", "team/app", "team/multi", "team/web/frontend"]),
    );
    for (const i of images) expect(i.registryId).toBe("local");
  });

  it("skips a corrupt layout with a warning and never follows links out of the root", async () => {
    const images = await listAll(seed);
    expect(images.some((i) => i.repository.startsWith("broken"))).toBe(false);
    expect(images.some((i) => i.repository.startsWith("linked"))).toBe(false);
    expect(seedWarnings.some((w) => JSON.stringify(w.ctx).includes("broken/layout"))).toBe(true);
    await expect(seed.getImage("broken/layout", base.digests.v1, signal)).rejects.toMatchObject({ code: Code.DATA_LOSS });
  });

  it("merges the tags of one digest and keeps untagged entries as images", async () => {
    const images = await listAll(seed, { repository: "team/app" });
    expect(images.map((i) => i.digest).sort()).toEqual([base.digests.base, base.digests.v1, base.digests.v2].sort());
    const byDigest = new Map(images.map((i) => [i.digest, i]));
    expect(byDigest.get(base.digests.v2)!.tags).toEqual(["latest", "v2"]);
    expect(byDigest.get(base.digests.v1)!.tags).toEqual(["v1"]);
    expect(byDigest.get(base.digests.base)!.tags).toEqual([]);
  });

  it("reports the digests, sizes, blobs and creation times skopeo sees", async () => {
    const layout = path.join(seedRoot, "team/app");
    for (const tag of ["v1", "v2", "latest"]) {
      const raw = await skopeoRawManifest(`oci:${layout}:${tag}`);
      const inspect = await skopeoInspect(layout, tag);
      const config = await skopeoInspect(layout, tag, "config");
      const image = (await seed.getImage("team/app", raw.digest, signal))!;
      expect(image).toBeDefined();
      expect(image.digest).toBe(inspect.Digest);
      expect(image.mediaType).toBe(OCI_MANIFEST);
      expect(image.config).toEqual({ digest: raw.manifest.config.digest, size: raw.manifest.config.size, mediaType: raw.manifest.config.mediaType });
      expect(image.layers).toEqual(raw.manifest.layers.map((l: any) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })));
      expect(image.layers.map((l) => l.digest)).toEqual(inspect.Layers);
      expect(image.compressedSize).toBe(raw.manifest.config.size + raw.manifest.layers.reduce((s: number, l: any) => s + l.size, 0));
      expect(image.manifests).toEqual([]);
      expect(image.createdAtMs).toBe(Date.parse(config.created));
      expect(image.createdAtMs).toBe(Date.parse(inspect.Created));
    }
  });

  it("reads Docker schema 2 manifests", async () => {
    const out = await makeTempDir("regplane-docker-");
    await run("skopeo", ["copy", "--quiet", "--format", "v2s2", `oci:${base.dir}:v2`, `dir:${out}`]);
    const raw = await skopeoRawManifest(`dir:${out}`);
    await fs.rm(out, { recursive: true, force: true });
    expect(raw.digest).toBe(dockerDigest);
    const image = (await seed.getImage("team/web/frontend", dockerDigest, signal))!;
    expect(image.mediaType).toBe(DOCKER_MANIFEST);
    expect(image.tags).toEqual(["docker"]);
    expect(image.config).toEqual({ digest: raw.manifest.config.digest, size: raw.manifest.config.size, mediaType: raw.manifest.config.mediaType });
    expect(image.layers.map((l) => [l.digest, l.size, l.mediaType])).toEqual(raw.manifest.layers.map((l: any) => [l.digest, l.size, l.mediaType]));
    expect(image.compressedSize).toBe(raw.manifest.config.size + raw.manifest.layers.reduce((s: number, l: any) => s + l.size, 0));
    expect(Number.isFinite(image.createdAtMs)).toBe(true);
  });

  it("lists an image index once, with its children, their total size and newest creation time", async () => {
    const images = await listAll(seed, { repository: "team/multi" });
    expect(images.map((i) => i.digest)).toEqual([multiIndexDigest]);
    const index = images[0];
    const raw = await skopeoRawManifest(`oci:${path.join(seedRoot, "team/multi")}:multi`);
    expect(index.digest).toBe(raw.digest);
    expect(index.mediaType).toBe(OCI_INDEX);
    expect(index.tags).toEqual(["multi"]);
    expect(index.config).toBeUndefined();
    expect(index.layers).toEqual([]);
    expect(index.manifests).toEqual(raw.manifest.manifests.map((m: any) => ({ digest: m.digest, size: m.size, mediaType: m.mediaType })));
    let total = 0;
    let newest = 0;
    for (const tag of ["v1", "v2"]) {
      const child = await skopeoRawManifest(`oci:${base.dir}:${tag}`);
      total += child.manifest.config.size + child.manifest.layers.reduce((s: number, l: any) => s + l.size, 0);
      newest = Math.max(newest, Date.parse((await skopeoInspect(base.dir, tag)).Created));
    }
    expect(index.compressedSize).toBe(total);
    expect(index.createdAtMs).toBe(newest);
    expect(await seed.getImage("team/multi", base.digests.v1, signal)).toBeUndefined();
  });

  it("sums only the children present in a partial copy of a multi-arch image", async () => {
    const root = await freshRoot("partial");
    const layout = path.join(root, "team/multi");
    await fs.rm(blobFile(layout, base.digests.v2));
    const child = await skopeoRawManifest(`oci:${base.dir}:v1`);
    const image = (await provider(root).getImage("team/multi", multiIndexDigest, signal))!;
    expect(image.manifests).toHaveLength(2);
    expect(image.compressedSize).toBe(child.manifest.config.size + child.manifest.layers.reduce((s: number, l: any) => s + l.size, 0));
  });

  it("narrows to one repository by repository or nameEquals", async () => {
    const all = await listAll(seed);
    for (const repository of ["team/app", "solo", "solo/inner", "team/web/frontend"]) {
      const expected = ids(all.filter((i) => i.repository === repository));
      expect(ids(await listAll(seed, { repository }))).toEqual(expected);
      expect(ids(await listAll(seed, { nameEquals: repository }))).toEqual(expected);
      expect(ids(await listAll(seed, { repository, nameEquals: repository }))).toEqual(expected);
      expect(ids(await listAll(seed, { repository, order: [{ field: "digest", desc: true }] }))).toEqual(
        ids(all.filter((i) => i.repository === repository).sort((a, b) => (a.digest < b.digest ? 1 : -1))),
      );
    }
    expect(await listAll(seed, { repository: "team/app", nameEquals: "solo" })).toEqual([]);
    expect(await listAll(seed, { repository: "team" })).toEqual([]);
    expect(await listAll(seed, { repository: "nope/nothing" })).toEqual([]);
    expect(await listAll(seed, { repository: "../seed/team/app" })).toEqual([]);
    expect(await listAll(seed, { nameEquals: "linked" })).toEqual([]);
  });

  it("pages in native order with a cursor and any page size", async () => {
    const all = await listAll(seed);
    for (const limit of [1, 2, 3, 7]) expect(ids(await pageNative(seed, limit))).toEqual(ids(all));
    expect(ids(await pageNative(seed, 1, { repository: "team/app" }))).toEqual(ids(all.filter((i) => i.repository === "team/app")));
    await expect(seed.listImages(query({ nativeCursor: "garbage" }))).rejects.toMatchObject({ code: Code.INVALID_ARGUMENT });
  });

  const orders: OrderTerm[][] = [
    [{ field: "name", desc: false }],
    [{ field: "name", desc: true }],
    [{ field: "digest", desc: false }],
    [{ field: "digest", desc: true }],
    [{ field: "created_at", desc: false }],
    [{ field: "created_at", desc: true }],
    [
      { field: "created_at", desc: true },
      { field: "name", desc: true },
    ],
  ];

  it.each(orders.map((o) => [o.map((t) => `${t.field} ${t.desc ? "desc" : "asc"}`).join(", "), o] as const))(
    "pages ordered by %s, resuming after a key",
    async (_label, order) => {
      const native = await listAll(seed);
      const full = await listAll(seed, { order });
      expect(new Set(ids(full))).toEqual(new Set(ids(native)));
      expect(full).toHaveLength(native.length);
      for (let i = 1; i < full.length; i++) {
        const [a, b] = [full[i - 1], full[i]];
        const first = order[0];
        const key = (x: ImageRecord) => (first.field === "name" ? x.repository : first.field === "digest" ? x.digest : (x.createdAtMs ?? -Infinity));
        const ka = key(a);
        const kb = key(b);
        if (first.desc) expect(ka >= kb).toBe(true);
        else expect(ka <= kb).toBe(true);
        if (ka === kb && order.length === 1) {
          // Ties on the first term fall back to repository then digest, both ascending.
          expect(a.repository < b.repository || (a.repository === b.repository && a.digest < b.digest)).toBe(true);
        }
        expect(compareImages(a, b, order)).toBeLessThan(0);
      }
      for (const limit of [1, 2, 5]) expect(ids(await pageOrdered(seed, order, limit))).toEqual(ids(full));
    },
  );

  it("sees layouts changed by other tools on the next page", async () => {
    const root = await freshRoot("external");
    const p = provider(root, undefined, { freshnessMs: 0 });
    const before = await p.getImage("team/app", base.digests.base, signal);
    expect(before!.tags).toEqual([]);
    await copyToLayout(base.dir, "base", path.join(root, "team/app"), "now-tagged");
    expect((await p.getImage("team/app", base.digests.base, signal))!.tags).toEqual(["now-tagged"]);
    await copyToLayout(base.dir, "v1", path.join(root, "team/new"), "v1");
    expect(ids(await listAll(p, { repository: "team/new" }))).toEqual([`team/new@${base.digests.v1}`]);
    expect(ids(await listAll(p))).toEqual(await expectedImages(root));
  });

  it("answers Gets from a layout confirmed within freshnessMs, and sees outside writers after it", async () => {
    const root = await freshRoot("freshness");
    const p = provider(root, undefined, { freshnessMs: 300 });
    expect((await p.getImage("team/app", base.digests.base, signal))!.tags).toEqual([]);
    await copyToLayout(base.dir, "base", path.join(root, "team/app"), "now-tagged");
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await p.getImage("team/app", base.digests.base, signal))!.tags).toEqual(["now-tagged"]);
  });

  it("keeps the records of unchanged images when index.json changes, and completes one whose manifest arrives", async () => {
    const root = await freshRoot("reuse");
    const p = provider(root, [], { freshnessMs: 0 });
    const layout = path.join(root, "team/app");
    const v1 = (await p.getImage("team/app", base.digests.v1, signal))!;
    expect(v1.layers.length).toBeGreaterThan(0);
    // Manifests never change under their digest, so a changed index.json must not re-read v1's:
    // with its blob now unreadable, v1 still lists as it was while v2's new tag shows.
    await fs.chmod(blobFile(layout, base.digests.v1), 0o644);
    const v1Manifest = await fs.readFile(blobFile(layout, base.digests.v1));
    await fs.writeFile(blobFile(layout, base.digests.v1), "garbage");
    const index = await readIndexJson(layout);
    await writeIndexJson(layout, { ...index, manifests: index.manifests.map((m) => (m.digest === base.digests.v2 ? tagged(m, "moved") : m)) });
    expect((await p.getImage("team/app", base.digests.v2, signal))!.tags).toEqual(["moved"]);
    expect(await p.getImage("team/app", base.digests.v1, signal)).toEqual(v1);

    // An image listed from index.json alone (its manifest missing) is read again once the blob is there.
    await fs.rm(blobFile(layout, base.digests.v1));
    const fresh = provider(root, [], { freshnessMs: 0 });
    expect((await fresh.getImage("team/app", base.digests.v1, signal))!.layers).toEqual([]);
    await fs.writeFile(blobFile(layout, base.digests.v1), v1Manifest);
    const again = await readIndexJson(layout);
    await writeIndexJson(layout, { ...again, manifests: again.manifests.map((m) => (m.digest === base.digests.v2 ? tagged(m, "again") : m)) });
    expect(await fresh.getImage("team/app", base.digests.v1, signal)).toEqual(v1);
  });

  it("notices in-place rewrites of index.json that leave its size and times unchanged", async () => {
    const root = await freshRoot("racy");
    const p = provider(root, undefined, { freshnessMs: 0 });
    const layout = path.join(root, "team/app");
    const index = await readIndexJson(layout);
    for (let i = 0; i < 30; i++) {
      // Same length every time, written straight after the previous read: on a file system with a
      // coarse clock the file's size and times can be identical to what the cache saw.
      const tag = `tag-${String(i).padStart(3, "0")}`;
      const rewritten = { ...index, manifests: index.manifests.map((m) => (m.digest === base.digests.v1 ? tagged(m, tag) : m)) };
      await fs.writeFile(path.join(layout, "index.json"), JSON.stringify(rewritten));
      expect((await p.getImage("team/app", base.digests.v1, signal))!.tags).toEqual([tag]);
    }
  });
});

describe("LocalProvider: getImage", () => {
  it("returns an image by repository and digest, as a shared record nobody can change", async () => {
    const image = (await seed.getImage("team/app", base.digests.v1, signal))!;
    expect(image).toMatchObject({ registryId: "local", repository: "team/app", digest: base.digests.v1, tags: ["v1"] });
    expect(() => image.tags.push("mutated")).toThrow(TypeError);
    expect(() => (image.layers.length = 0)).toThrow(TypeError);
    expect(() => ((image.layers[0] as { size: number }).size = 1)).toThrow(TypeError);
    expect(() => ((image as { digest: string }).digest = "sha256:x")).toThrow(TypeError);
    const again = (await seed.getImage("team/app", base.digests.v1, signal))!;
    expect(again.tags).toEqual(["v1"]);
    expect(again.layers.length).toBeGreaterThan(0);
    const listed = (await listAll(seed, { repository: "team/app" })).find((i) => i.digest === base.digests.v1)!;
    expect(Object.isFrozen(listed) && Object.isFrozen(listed.tags) && Object.isFrozen(listed.layers)).toBe(true);
  });

  it("returns undefined for unknown digests and repositories", async () => {
    expect(await seed.getImage("team/app", sha256Digest("nothing"), signal)).toBeUndefined();
    expect(await seed.getImage("team/nothing", base.digests.v1, signal)).toBeUndefined();
    expect(await seed.getImage("team", base.digests.v1, signal)).toBeUndefined();
    expect(await seed.getImage("team/app", "not-a-digest", signal)).toBeUndefined();
    expect(await seed.getImage("team/app", "sha256:../../../index.json", signal)).toBeUndefined();
  });

  it("never resolves a path outside the root", async () => {
    const escapes = [
      "../base",
      `..${path.sep}base`,
      "team/../../base",
      "team/app/..",
      "team/./app",
      "team//app",
      "/team/app",
      path.join(seedRoot, "team/app"),
      "team/app/",
      "",
      "linked",
      ".",
      "team\\app",
    ];
    for (const repository of escapes) {
      expect(await seed.getImage(repository, base.digests.v1, signal), repository).toBeUndefined();
      expect(await listAll(seed, { repository })).toEqual([]);
    }
    await expect(seed.deleteImage("../base", base.digests.v1, signal)).rejects.toMatchObject({ code: Code.INVALID_ARGUMENT });
    await verifyImageReadable(base.dir, "v1");
  });
});

describe("LocalProvider: deleteImage", () => {
  it("removes the entries, collects the blobs only it used and keeps shared ones", async () => {
    const root = await freshRoot("delete");
    const p = provider(root);
    const layout = path.join(root, "team/app");
    const v1 = await readBlobJson<{ config: { digest: string }; layers: { digest: string }[] }>(layout, base.digests.v1);
    const v2 = await readBlobJson<{ config: { digest: string }; layers: { digest: string }[] }>(layout, base.digests.v2);
    const shared = v1.layers.filter((l) => v2.layers.some((m) => m.digest === l.digest)).map((l) => l.digest);
    expect(shared).toHaveLength(1);
    const onlyV1 = [base.digests.v1, v1.config.digest, ...v1.layers.map((l) => l.digest).filter((d) => !shared.includes(d))];
    expect(await p.getImage("team/app", base.digests.v1, signal)).toBeDefined();

    await p.deleteImage("team/app", base.digests.v1, signal);

    const index = await readIndexJson(layout);
    expect(index.manifests.some((m) => m.digest === base.digests.v1)).toBe(false);
    expect(index.manifests).toHaveLength(3);
    const blobs = await listBlobs(layout);
    for (const d of onlyV1) expect(blobs).not.toContain(d);
    for (const d of shared) expect(blobs).toContain(d);
    await verifyImageReadable(layout, "v2");
    await verifyImageReadable(layout, "latest");
    expect((await skopeoInspect(layout, "v2")).Digest).toBe(base.digests.v2);
    expect(await p.getImage("team/app", base.digests.v1, signal)).toBeUndefined();
    expect(ids(await listAll(p, { repository: "team/app" }))).not.toContain(`team/app@${base.digests.v1}`);

    await p.deleteImage("team/app", base.digests.v1, signal);
    await p.deleteImage("team/nothing", base.digests.v1, signal);
    expect(await listBlobs(layout)).toEqual(blobs);

    await p.deleteImage("team/app", base.digests.v2, signal);
    expect((await readIndexJson(layout)).manifests.map((m) => m.digest)).toEqual([base.digests.base]);
    expect(await listBlobs(layout)).toEqual(await referencedBy(layout));
  });

  it("cleans temp files and blobs a crash left behind on the next delete", async () => {
    const root = await freshRoot("crash");
    const p = provider(root);
    const layout = path.join(root, "team/app");
    const before = await listBlobs(layout);
    await writeIndexJson(layout, { ...(await readIndexJson(layout)), annotations: { "org.example.kept": "yes" } });
    await fs.writeFile(path.join(layout, "index.json.tmp-deadbeef"), '{"schemaVersion":2,"manif');
    const orphan = Buffer.from("left behind by a crash between rename and collection");
    await fs.writeFile(blobFile(layout, sha256Digest(orphan)), orphan);
    // Readers ignore the temp file.
    expect(ids(await listAll(p, { repository: "team/app" }))).toHaveLength(3);

    await p.deleteImage("team/app", sha256Digest("never existed"), signal);

    expect((await fs.readdir(layout)).filter((n) => n.includes(".tmp-"))).toEqual([]);
    expect(await listBlobs(layout)).toEqual(before);
    await verifyImageReadable(layout, "v1");

    // A rewrite keeps the fields of index.json it does not manage.
    await p.deleteImage("team/app", base.digests.base, signal);
    expect((await readIndexJson(layout)).annotations).toEqual({ "org.example.kept": "yes" });
  });

  it("keeps a manifest an index still references, and deleting the index collects its children", async () => {
    const root = await freshRoot("index-delete");
    const p = provider(root);
    const layout = path.join(root, "team/app");
    const index = await writeImageIndex(layout, { childTags: ["v1", "v2"], tag: "multi" });
    await p.deleteImage("team/app", base.digests.v1, signal);
    expect(await listBlobs(layout)).toContain(base.digests.v1);
    expect((await p.getImage("team/app", index.digest, signal))!.manifests.map((m) => m.digest)).toEqual([base.digests.v1, base.digests.v2]);
    await verifyImageReadable(layout, "multi");

    await p.deleteImage("team/app", index.digest, signal);
    const blobs = await listBlobs(layout);
    expect(blobs).not.toContain(index.digest);
    expect(blobs).not.toContain(base.digests.v1);
    expect(blobs).toContain(base.digests.v2);
    expect(blobs).toEqual(await referencedBy(layout));

    const multi = path.join(root, "team/multi");
    await p.deleteImage("team/multi", multiIndexDigest, signal);
    expect((await readIndexJson(multi)).manifests).toEqual([]);
    expect(await listBlobs(multi)).toEqual([]);
  });

  it("lists a corrupt manifest from index.json and then collects nothing in that layout", async () => {
    const root = await freshRoot("corrupt-manifest");
    const warnings: { msg: string; ctx: object }[] = [];
    const p = provider(root, warnings);
    const layout = path.join(root, "team/app");
    await fs.chmod(blobFile(layout, base.digests.v1), 0o644);
    await fs.writeFile(blobFile(layout, base.digests.v1), "garbage");
    const image = (await p.getImage("team/app", base.digests.v1, signal))!;
    expect(image).toMatchObject({ digest: base.digests.v1, mediaType: OCI_MANIFEST, tags: ["v1"], layers: [], compressedSize: 0 });
    expect(warnings.some((w) => w.msg.includes("corrupt"))).toBe(true);
    const before = await listBlobs(layout);
    await p.deleteImage("team/app", base.digests.v2, signal);
    expect((await readIndexJson(layout)).manifests.some((m) => m.digest === base.digests.v2)).toBe(false);
    expect(await listBlobs(layout)).toEqual(before);
  });

  it("leaves a consistent layout after 200 concurrent deletes, duplicates included", async () => {
    const layout = path.join(work, "concurrent/team/app");
    const images: SyntheticImage[] = [];
    const first = await writeSyntheticImage(layout, { tag: "t0" });
    images.push(first);
    for (let i = 1; i < 40; i++) images.push(await writeSyntheticImage(layout, { tag: `t${i}`, sharedLayers: [first.layers[0]] }));
    const p = provider(path.join(work, "concurrent"));
    expect(await listAll(p)).toHaveLength(40);

    const doomed = images.filter((_, i) => i % 2 === 1);
    const kept = images.filter((_, i) => i % 2 === 0);
    const calls: Promise<void>[] = [];
    for (let round = 0; round < 10; round++) for (const img of doomed) calls.push(p.deleteImage("team/app", img.digest, signal));
    expect(calls).toHaveLength(200);
    await Promise.all(calls);

    const index = await readIndexJson(layout);
    expect(index.manifests.map((m) => m.digest).sort()).toEqual(kept.map((i) => i.digest).sort());
    expect((await fs.readdir(layout)).sort()).toEqual(["blobs", "index.json", "oci-layout"]);
    expect(await listBlobs(layout)).toEqual(await referencedBy(layout));
    expect(ids(await listAll(p))).toEqual(ids(kept.map((i) => ({ repository: "team/app", digest: i.digest }) as ImageRecord)).sort());
    for (const [i, img] of images.entries()) {
      if (i % 2 === 1) continue;
      expect((await skopeoInspect(layout, `t${i}`)).Digest).toBe(img.digest);
    }
    await verifyImageReadable(layout, "t0");
    await verifyImageReadable(layout, "t38");
  });
});

/** Every blob reachable from index.json, walked independently of the adapter. */
async function referencedBy(layout: string): Promise<string[]> {
  const seen = new Set<string>();
  const walk = async (digest: string) => {
    if (seen.has(digest)) return;
    seen.add(digest);
    let m: any;
    try {
      m = await readBlobJson(layout, digest);
    } catch {
      return;
    }
    if (m.config) seen.add(m.config.digest);
    for (const l of m.layers ?? []) seen.add(l.digest);
    for (const c of m.manifests ?? []) await walk(c.digest);
  };
  for (const m of (await readIndexJson(layout)).manifests) await walk(m.digest);
  return [...seen].sort();
}

describe("LocalProvider: namespaces", () => {
  it("lists top-level folders in name order with after, limit and nameEquals", async () => {
    const all = await seed.listNamespaces({ limit: 100, signal });
    expect(all.done).toBe(true);
    expect(all.namespaces.map((n) => n.name)).toEqual(["broken", "solo", "solo-a", "team", "team-x"]);
    const paged: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await seed.listNamespaces({ limit: 2, after, signal });
      paged.push(...page.namespaces.map((n) => n.name));
      if (page.done) break;
      after = page.namespaces[page.namespaces.length - 1].name;
    }
    expect(paged).toEqual(["broken", "solo", "solo-a", "team", "team-x"]);
    expect((await seed.listNamespaces({ limit: 10, nameEquals: "team", signal })).namespaces.map((n) => n.name)).toEqual(["team"]);
    expect((await seed.listNamespaces({ limit: 10, after: "solo-a", signal })).namespaces.map((n) => n.name)).toEqual(["team", "team-x"]);
  });

  it("counts images and blob bytes under a namespace", async () => {
    const team = (await seed.getNamespace("team", signal))!;
    const images = await listAll(seed);
    expect(team).toMatchObject({ registryId: "local", name: "team", description: "", visibility: "inherit" });
    expect(team.imageCount).toBe(images.filter((i) => i.repository.startsWith("team/")).length);
    expect(team.sizeBytes).toBe(await blobFilesSize(path.join(seedRoot, "team")));
    expect(team.updatedAt).toBeInstanceOf(Date);
    const solo = (await seed.getNamespace("solo", signal))!;
    expect(solo.imageCount).toBe(2);
    expect((await seed.getNamespace("broken", signal))!.imageCount).toBe(0);
    expect(await seed.getNamespace("nothing", signal)).toBeUndefined();
    expect(await seed.getNamespace("..", signal)).toBeUndefined();
    expect(await seed.getNamespace("team/app", signal)).toBeUndefined();
    expect(await seed.getNamespace("linked", signal)).toBeUndefined();
  });

  it("creates, updates and deletes namespaces", async () => {
    const root = path.join(work, "ns-root", "not-yet-created");
    const p = provider(root);
    const created = await p.createNamespace({ name: "alpha", description: "first", visibility: "inherit" }, signal);
    expect(created).toMatchObject({ registryId: "local", name: "alpha", description: "first", visibility: "inherit", imageCount: 0, sizeBytes: 0 });
    await expect(p.createNamespace({ name: "alpha", description: "", visibility: "inherit" }, signal)).rejects.toMatchObject({
      code: Code.ALREADY_EXISTS,
    });
    for (const name of ["a/b", "..", ".hidden", "", "x\\y", "Upper", "has space", "-lead", "trail."]) {
      const err = await p.createNamespace({ name, description: "", visibility: "inherit" }, signal).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(RegplaneError);
      expect((err as RegplaneError).code).toBe(Code.INVALID_ARGUMENT);
    }
    expect((await p.createNamespace({ name: "beta", description: "", visibility: "inherit" }, signal)).description).toBe("");
    expect((await p.listNamespaces({ limit: 10, signal })).namespaces.map((n) => n.name)).toEqual(["alpha", "beta"]);

    const updated = await p.updateNamespace("alpha", { description: "changed" }, signal);
    expect(updated.description).toBe("changed");
    expect((await provider(root).getNamespace("alpha", signal))!.description).toBe("changed");
    await expect(p.updateNamespace("missing", { description: "x" }, signal)).rejects.toMatchObject({ code: Code.NOT_FOUND });

    await copyToLayout(base.dir, "v1", path.join(root, "alpha/app"), "v1");
    expect((await p.getNamespace("alpha", signal))!.imageCount).toBe(1);
    await p.deleteNamespace("alpha", signal);
    expect(await p.getNamespace("alpha", signal)).toBeUndefined();
    expect(await listAll(p)).toEqual([]);
    expect(await fs.readdir(root)).toEqual(["beta"]);
    await p.deleteNamespace("alpha", signal);
    await p.deleteNamespace("never-existed", signal);
  });

  it("deletes a namespace with images while deletes run inside it", async () => {
    const root = await freshRoot("ns-delete");
    const p = provider(root);
    const deletes = [base.digests.v1, base.digests.v2, base.digests.base].map((d) => p.deleteImage("team/app", d, signal));
    await Promise.all([p.deleteNamespace("team", signal), ...deletes]);
    expect(await p.getNamespace("team", signal)).toBeUndefined();
    expect((await listAll(p)).some((i) => i.repository.startsWith("team/"))).toBe(false);
    expect((await fs.readdir(root)).sort()).toEqual(["broken", "linked", "solo", "solo-a", "team-x"]);
  });
});

describe("LocalProvider: keyset paging under change", () => {
  /** A deterministic pseudo-random sequence, so a failure reproduces. */
  function random(seedValue: number): () => number {
    let s = seedValue >>> 0;
    return () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
  }

  async function buildChangingRoot(name: string): Promise<{ root: string; initial: string[] }> {
    const root = path.join(work, name);
    let t = Date.parse("2024-01-01T00:00:00Z");
    for (const repo of ["r/b", "r/d", "r/f", "r/f/g", "s"]) {
      for (let i = 0; i < 6; i++) {
        t += 60_000;
        await writeSyntheticImage(path.join(root, repo), { tag: `t${i}`, created: i === 5 ? null : new Date(t).toISOString() });
      }
    }
    return { root, initial: await expectedImages(root) };
  }

  async function churn(p: LocalProvider, root: string, rand: () => number, present: Set<string>, removed: Set<string>): Promise<void> {
    const repos = ["r/a", "r/b", "r/c", "r/d", "r/f", "r/f/g", "r/z", "s", "t"];
    const repo = repos[Math.floor(rand() * repos.length)];
    const created = new Date(Date.parse("2024-01-01T00:00:00Z") + Math.floor(rand() * 40) * 60_000 + 1).toISOString();
    await writeSyntheticImage(path.join(root, repo), { created });
    const candidates = [...present].filter((id) => !removed.has(id));
    const victim = candidates[Math.floor(rand() * candidates.length)];
    const [repository, digest] = victim.split("@");
    await p.deleteImage(repository, digest, signal);
    removed.add(victim);
  }

  it("native cursor neither skips nor repeats images present throughout", async () => {
    const { root, initial } = await buildChangingRoot("churn-native");
    const p = provider(root);
    const rand = random(7);
    const removed = new Set<string>();
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await p.listImages(query({ limit: 4, nativeCursor: cursor }));
      seen.push(...ids(page.images));
      if (page.done) break;
      cursor = page.nativeCursor;
      await churn(p, root, rand, new Set(initial), removed);
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of initial) if (!removed.has(id)) expect(seen).toContain(id);
    for (let i = 1; i < seen.length; i++) {
      const [ra, da] = seen[i - 1].split("@");
      const [rb, db] = seen[i].split("@");
      expect(ra < rb || (ra === rb && da < db)).toBe(true);
    }
  });

  it("ordered paging after a key neither skips nor repeats images present throughout", async () => {
    const { root, initial } = await buildChangingRoot("churn-ordered");
    const p = provider(root);
    const rand = random(11);
    const removed = new Set<string>();
    const order: OrderTerm[] = [{ field: "created_at", desc: true }];
    const seen: ImageRecord[] = [];
    let after: ImageKey | undefined;
    for (;;) {
      const page = await p.listImages(query({ order, limit: 4, after }));
      seen.push(...page.images);
      if (page.done) break;
      after = imageKeyOf(page.images[page.images.length - 1]);
      await churn(p, root, rand, new Set(initial), removed);
    }
    const seenIds = ids(seen);
    expect(new Set(seenIds).size).toBe(seenIds.length);
    for (const id of initial) if (!removed.has(id)) expect(seenIds).toContain(id);
    for (let i = 1; i < seen.length; i++) expect(compareImages(seen[i - 1], seen[i], order)).toBeLessThan(0);
  });
});

describe("LocalProvider: scale", () => {
  it("pages through 100,000 images in one layout, resuming deep in the listing", async () => {
    const layout = path.join(work, "big/huge/repo");
    const digests: string[] = [];
    const manifests = [];
    for (let i = 0; i < 100_000; i++) {
      const digest = sha256Digest(`image ${i}`);
      digests.push(digest);
      manifests.push({ mediaType: OCI_MANIFEST, digest, size: 100, annotations: { [REF_NAME]: `t${i}` } });
    }
    await addIndexEntries(layout, manifests);
    digests.sort();
    let warnings = 0;
    // 100,000 entries make a 20 MB index.json, past the 4 MiB default bound.
    const p = new LocalProvider({ id: "big", root: path.join(work, "big"), maxMetadataBytes: 64 * 1024 * 1024, onWarning: () => warnings++ });

    const first = await p.listImages(query({ limit: 1000 }));
    expect(first.images.map((i) => i.digest)).toEqual(digests.slice(0, 1000));
    expect(warnings).toBe(100_000);

    const deep = await p.listImages(query({ order: [{ field: "digest", desc: false }], after: { repository: "huge/repo", digest: digests[98_999] }, limit: 1000 }));
    expect(deep.images.map((i) => i.digest)).toEqual(digests.slice(99_000));
    expect(deep.done).toBe(true);

    let cursor = first.nativeCursor;
    let count = first.images.length;
    while (cursor !== undefined) {
      const page = await p.listImages(query({ limit: 1000, nativeCursor: cursor }));
      expect(page.images[0].digest).toBe(digests[count]);
      count += page.images.length;
      cursor = page.nativeCursor;
    }
    expect(count).toBe(100_000);
    // Each missing blob is reported once: later pages reuse the parsed layout instead of re-reading it.
    expect(warnings).toBe(100_000);
  });
});

describe("LocalProvider: bounded caches", () => {
  it("remembers the confirmed layouts of at most 10,000 repositories for Gets", async () => {
    const root = await freshRoot("bounded");
    // Long enough that no entry goes stale during the test: only the bound lets entries go.
    const p = provider(root, undefined, { freshnessMs: 10 * 60_000 });
    const digest = sha256Digest("bounded");
    const names = Array.from({ length: 10_500 }, (_, i) => `bounded/r${i}`);
    for (let i = 0; i < names.length; i += 64) {
      const found = await Promise.all(names.slice(i, i + 64).map((repository) => p.getImage(repository, digest, signal)));
      expect(found.every((image) => image === undefined)).toBe(true);
    }
    expect(await p.getImage("team/app", base.digests.base, signal)).toBeDefined();
    // Full, and no larger: the least recently used repositories were let go.
    expect(p.cacheSizes().confirmedGets).toBe(10_000);
  });
});
