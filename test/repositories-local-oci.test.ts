// Repositories of the local and OCI adapters beyond the provider contract: hostile names and links on
// disk, nesting, create → list → delete, a delete a crash interrupted; catalog paging, configured
// repositories and deletes of shared and moved tags on the real CNCF registry.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalProvider } from "../src/adapters/local/index.js";
import { OciProvider, type OciProviderOptions } from "../src/adapters/oci/index.js";
import { Code, RegplaneError } from "../src/core/errors.js";
import type { Provider } from "../src/core/provider.js";
import { copyToLayout, makeTempDir, newImage, writeImageIndex, writeSyntheticImage } from "./support/images.js";
import { inspectRaw, pushImage, startRegistry, type RunningRegistry } from "./support/registry.js";

const signal = () => AbortSignal.timeout(30_000);

async function failure(p: Promise<unknown>): Promise<RegplaneError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RegplaneError);
    return err as RegplaneError;
  }
  throw new Error("expected the call to fail");
}

/** Every repository name, `limit` per page, each page resumed strictly after the last name. */
async function names(p: Provider, limit: number): Promise<string[]> {
  const out: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await p.listRepositories({ after, limit, signal: signal() });
    expect(page.repositories.length).toBeLessThanOrEqual(limit);
    out.push(...page.repositories.map((r) => r.name));
    if (page.done) return out;
    after = out.at(-1);
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(
    () => true,
    () => false,
  );
}

describe("local repositories", () => {
  let work: string;
  let root: string;
  let outside: string;
  let p: LocalProvider;

  beforeAll(async () => {
    work = await makeTempDir("regplane-repos-local-");
    root = path.join(work, "root");
    outside = path.join(work, "outside");
    await writeSyntheticImage(path.join(root, "team/app"), { tag: "v1" });
    await writeSyntheticImage(path.join(root, "tools/base"), { tag: "v1" });
    // A real layout outside the root, reached from inside only through links.
    await writeSyntheticImage(path.join(outside, "layout"), { tag: "v1" });
    await fs.symlink(path.join(outside, "layout"), path.join(root, "team/linked"));
    await fs.symlink(outside, path.join(root, "evil"));
    p = new LocalProvider({ id: "local", root, gcGracePeriodMs: 0 });
  });

  afterAll(async () => {
    await p.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("answers hostile names with undefined or INVALID_ARGUMENT, and writes nothing for them", async () => {
    const hostile = ["", "/etc", "../outside/layout", "team/../../outside/layout", "team/.hidden", ".regplane-trash-x", "team//app", "team\\app", "a\0b", "x".repeat(2000)];
    for (const name of hostile) {
      expect(await p.getRepository(name, signal()), JSON.stringify(name)).toBeUndefined();
      expect((await p.listRepositories({ nameEquals: name, limit: 10, signal: signal() })).repositories).toEqual([]);
      expect((await failure(p.createRepository(name, signal()))).code, JSON.stringify(name)).toBe(Code.INVALID_ARGUMENT);
      expect((await failure(p.deleteRepository(name, signal()))).code, JSON.stringify(name)).toBe(Code.INVALID_ARGUMENT);
    }
    // Safe paths that OCI clients could not push to are not created either.
    for (const name of ["Team/App", "team/a b", "team/-app", `team/${"a".repeat(260)}`]) {
      expect((await failure(p.createRepository(name, signal()))).code, name).toBe(Code.INVALID_ARGUMENT);
    }
    expect((await fs.readdir(root)).sort()).toEqual(["evil", "team", "tools"]);
    expect(await fs.readdir(outside)).toEqual(["layout"]);
  });

  it("never lists, gets, creates through or deletes through a link", async () => {
    expect(await names(p, 1000)).toEqual(["team/app", "tools/base"]);
    expect(await p.getRepository("team/linked", signal())).toBeUndefined();
    expect(await p.getRepository("evil/layout", signal())).toBeUndefined();
    // Deleting what is no repository here is "already gone": the link and what it points at stay.
    await p.deleteRepository("team/linked", signal());
    await p.deleteRepository("evil/layout", signal());
    expect((await fs.lstat(path.join(root, "team/linked"))).isSymbolicLink()).toBe(true);
    expect(await exists(path.join(outside, "layout/oci-layout"))).toBe(true);
    expect(await exists(path.join(outside, "layout/index.json"))).toBe(true);

    const through = await failure(p.createRepository("evil/made", signal()));
    expect(through.code).toBe(Code.FAILED_PRECONDITION);
    expect(through.errorInfo?.reason).toBe("REPOSITORY_PATH_NOT_A_FOLDER");
    const onLink = await failure(p.createRepository("team/linked", signal()));
    expect(onLink.code).toBe(Code.FAILED_PRECONDITION);
    expect(await fs.readdir(outside)).toEqual(["layout"]);
    expect((await fs.readdir(path.join(outside, "layout"))).sort()).toEqual(["blobs", "index.json", "oci-layout"]);
  });

  it("refuses a repository inside another or around others, on create and on delete", async () => {
    const inside = await failure(p.createRepository("team/app/sub", signal()));
    expect(inside.code).toBe(Code.FAILED_PRECONDITION);
    expect(inside.errorInfo?.reason).toBe("REPOSITORY_INSIDE_REPOSITORY");
    const around = await failure(p.createRepository("team", signal()));
    expect(around.code).toBe(Code.FAILED_PRECONDITION);
    expect(around.errorInfo?.reason).toBe("REPOSITORY_PATH_OCCUPIED");
    expect(await exists(path.join(root, "team/oci-layout"))).toBe(false);
    expect(await exists(path.join(root, "team/app/sub"))).toBe(false);

    // A layout another tool nested inside one of ours: deleting the outer one would take the inner one too.
    await writeSyntheticImage(path.join(root, "tools/base/inner"), { tag: "v1" });
    const holds = await failure(p.deleteRepository("tools/base", signal()));
    expect(holds.code).toBe(Code.FAILED_PRECONDITION);
    expect(holds.message).toContain("tools/base/inner");
    expect(await names(p, 1000)).toEqual(["team/app", "tools/base", "tools/base/inner"]);
    await p.deleteRepository("tools/base/inner", signal());
    expect(await names(p, 1000)).toEqual(["team/app", "tools/base"]);
  });

  it("creates an empty layout OCI tools accept, lists it at every page size, and deletes it with its images", async () => {
    expect(await p.createRepository("fresh/one", signal())).toEqual({ registryId: "local", name: "fresh/one" });
    const dir = path.join(root, "fresh/one");
    expect(JSON.parse(await fs.readFile(path.join(dir, "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
    expect(JSON.parse(await fs.readFile(path.join(dir, "index.json"), "utf8"))).toMatchObject({ schemaVersion: 2, manifests: [] });
    // No build folder stays behind beside it.
    expect(await fs.readdir(path.join(root, "fresh"))).toEqual(["one"]);
    for (const limit of [1, 2, 1000]) expect(await names(p, limit)).toEqual(["fresh/one", "team/app", "tools/base"]);
    expect((await p.listImages({ repository: "fresh/one", order: [], limit: 10, signal: signal() })).images).toEqual([]);

    // skopeo writes into it as into any layout, and the image lists.
    const source = path.join(work, "source");
    await writeSyntheticImage(source, { tag: "src" });
    const digest = await copyToLayout(source, "src", dir, "copied");
    expect((await p.listImages({ repository: "fresh/one", order: [], limit: 10, signal: signal() })).images.map((i) => i.digest)).toEqual([digest]);
    expect((await failure(p.createRepository("fresh/one", signal()))).code).toBe(Code.ALREADY_EXISTS);

    await p.deleteRepository("fresh/one", signal());
    expect(await exists(dir)).toBe(false);
    expect(await p.getImage("fresh/one", digest, signal())).toBeUndefined();
    expect(await p.getRepository("fresh/one", signal())).toBeUndefined();
    expect(await names(p, 1000)).toEqual(["team/app", "tools/base"]);
    expect((await fs.readdir(root)).filter((n) => n.startsWith("."))).toEqual([]);
    await p.deleteRepository("fresh/one", signal());
  });

  it("creates one repository once when two creates race", async () => {
    const results = await Promise.allSettled([p.createRepository("race/one", signal()), p.createRepository("race/one", signal())]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect((lost.reason as RegplaneError).code).toBe(Code.ALREADY_EXISTS);
    await p.deleteRepository("race/one", signal());
  });

  it("finishes a delete a crash interrupted after the layout was renamed away, and ignores a crashed create's build folder", async () => {
    const layout = path.join(root, "team/retired");
    await writeSyntheticImage(layout, { tag: "v1" });
    await writeSyntheticImage(layout, { tag: "v2" });
    // What a crash during the removal leaves: the layout under a trash name, its files partly removed.
    const trash = path.join(root, ".regplane-trash-0123456789abcdef");
    await fs.rename(layout, trash);
    await fs.rm(path.join(trash, "index.json"));
    expect(await p.getRepository("team/retired", signal())).toBeUndefined();
    expect(await names(p, 1000)).toEqual(["team/app", "tools/base"]);

    await p.deleteRepository("team/retired", signal());
    expect(await exists(trash)).toBe(false);

    // A create that crashed before its rename leaves a hidden build folder: never listed, no obstacle.
    await writeSyntheticImage(path.join(root, "team/.regplane-new-0123456789abcdef"), { tag: "v1" });
    expect(await names(p, 1000)).toEqual(["team/app", "tools/base"]);
    await p.createRepository("team/retired", signal());
    expect(await names(p, 1000)).toEqual(["team/app", "team/retired", "tools/base"]);
    await p.deleteRepository("team/retired", signal());
    await p.deleteRepository("team/retired", signal());
    expect(await names(p, 1000)).toEqual(["team/app", "tools/base"]);
  });

  it("fails every repository call on an aborted signal, before touching the disk", async () => {
    const aborted = AbortSignal.abort();
    for (const call of [
      p.listRepositories({ limit: 10, signal: aborted }),
      p.getRepository("team/app", aborted),
      p.createRepository("aborted/one", aborted),
      p.deleteRepository("team/app", aborted),
    ]) {
      expect((await failure(call)).code).toBe(Code.CANCELLED);
    }
    expect(await exists(path.join(root, "aborted"))).toBe(false);
    expect(await p.getRepository("team/app", signal())).toEqual({ registryId: "local", name: "team/app" });
  });
});

describe("oci repositories (the CNCF registry)", () => {
  let work: string;
  let layout: string;
  let registry: RunningRegistry;
  const digests: Record<string, string> = {};
  const providers: OciProvider[] = [];
  const provider = (options: Partial<OciProviderOptions> = {}) => {
    const p = new OciProvider({ id: "lab", endpoint: registry.url, insecure: true, retryBaseDelayMs: 1, retryMaxDelayMs: 2, ...options });
    providers.push(p);
    return p;
  };
  // Names whose code-unit order differs from a per-segment order: "-" < "." < "/" < "_" < letters.
  const REPOSITORIES = ["a-b", "a.b", "a/c", "a/d", "a_b", "ab", "zz/top"];

  beforeAll(async () => {
    work = await makeTempDir("regplane-repos-oci-");
    layout = path.join(work, "layout");
    for (const tag of ["one", "two"]) digests[tag] = await newImage(layout, tag);
    await newImage(layout, "amd");
    await newImage(layout, "arm");
    digests.multi = (await writeImageIndex(layout, { childTags: ["amd", "arm"], tag: "multi" })).digest;
    registry = await startRegistry();
    for (const r of REPOSITORIES) await pushImage(layout, "one", registry.host, r, "v1");
  }, 120_000);

  afterAll(async () => {
    for (const p of providers) await p.close();
    await registry?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("pages through more repositories than one catalog page, in code-unit order", async () => {
    const p = provider({ catalogPageSize: 2 });
    for (const limit of [1, 3, 1000]) expect(await names(p, limit), `page size ${limit}`).toEqual(REPOSITORIES);
    // The registry's catalog puts "a/c" before "a-b" ("/" sorts lowest there), so `last=a-b` alone would skip a/c and a/d.
    const page = await p.listRepositories({ after: "a-b", limit: 3, signal: signal() });
    expect(page).toEqual({ repositories: ["a.b", "a/c", "a/d"].map((name) => ({ registryId: "lab", name })), done: false });
    expect(await p.listRepositories({ after: "zz/top", limit: 5, signal: signal() })).toEqual({ repositories: [], done: true });
    for (const name of REPOSITORIES) expect(await p.getRepository(name, signal()), name).toEqual({ registryId: "lab", name });
    for (const name of ["a", "a/e", "a-c", "a.c", "zz", "zz/top/x"]) expect(await p.getRepository(name, signal()), name).toBeUndefined();
    expect((await p.listRepositories({ nameEquals: "ab", after: "ab", limit: 5, signal: signal() })).repositories).toEqual([]);
  });

  it("lists only the configured repositories, with their prefixes expanded", async () => {
    const p = provider({ repositories: ["a/", "ab"], catalogPageSize: 2 });
    expect(await names(p, 1)).toEqual(["a/c", "a/d", "ab"]);
    expect(await p.getRepository("a/c", signal())).toEqual({ registryId: "lab", name: "a/c" });
    expect(await p.getRepository("zz/top", signal())).toBeUndefined();
    expect((await p.listRepositories({ nameEquals: "a.b", limit: 5, signal: signal() })).repositories).toEqual([]);
  });

  it("sends no request for an invalid name or an aborted signal", async () => {
    const p = provider();
    const before = p.stats().requests;
    for (const name of ["", "UPPER", "../x", "a//b", "x".repeat(300)]) {
      expect(await p.getRepository(name, signal())).toBeUndefined();
      expect((await p.listRepositories({ nameEquals: name, limit: 5, signal: signal() })).repositories).toEqual([]);
      expect((await failure(p.deleteRepository!(name, signal()))).code).toBe(Code.INVALID_ARGUMENT);
    }
    const aborted = AbortSignal.abort();
    for (const call of [p.listRepositories({ limit: 5, signal: aborted }), p.getRepository("ab", aborted), p.deleteRepository!("ab", aborted)]) {
      expect((await failure(call)).code).toBe(Code.CANCELLED);
    }
    expect(p.stats().requests).toBe(before);
    expect((p as Provider).createRepository).toBeUndefined();
  });

  it("deletes a repository whose digest two tags share, its other images and an index's children, again without error", async () => {
    const p = provider();
    for (const [tag, dest] of [["one", "a"], ["one", "b"], ["two", "c"]]) await pushImage(layout, tag, registry.host, "shared/app", dest);
    await pushImage(layout, "multi", registry.host, "shared/app", "multi", { all: true });
    const children = (await inspectRaw(registry.host, "shared/app:multi")).manifest.manifests.map((m: { digest: string }) => m.digest) as string[];
    expect(children).toHaveLength(2);
    const listed = await p.listImages({ repository: "shared/app", order: [], limit: 10, signal: signal() });
    expect(listed.images.map((i) => [i.digest, i.tags])).toEqual(
      [[digests.one, ["a", "b"]], [digests.two, ["c"]], [digests.multi, ["multi"]]].sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1)),
    );

    await p.deleteRepository!("shared/app", signal());
    for (const d of [digests.one, digests.two, digests.multi, ...children]) expect(await p.getImage("shared/app", d, signal()), d).toBeUndefined();
    expect((await p.listImages({ repository: "shared/app", order: [], limit: 10, signal: signal() })).images).toEqual([]);
    await p.deleteRepository!("shared/app", signal());
    // The other repositories holding the same digests keep them.
    expect(await p.getImage("ab", digests.one, signal())).toMatchObject({ repository: "ab", digest: digests.one });
    await p.deleteRepository!("never/pushed", signal());
  });

  it("deletes what a moved tag points at now; the digest it pointed at before is untagged, unreachable by tags, and stays", async () => {
    const p = provider();
    await pushImage(layout, "one", registry.host, "moved/app", "latest");
    await pushImage(layout, "two", registry.host, "moved/app", "latest");
    await p.deleteRepository!("moved/app", signal());
    expect(await p.getImage("moved/app", digests.two, signal())).toBeUndefined();
    expect((await p.listImages({ repository: "moved/app", order: [], limit: 10, signal: signal() })).images).toEqual([]);
    expect(await p.getImage("moved/app", digests.one, signal())).toMatchObject({ digest: digests.one, tags: [] });
  });
});
