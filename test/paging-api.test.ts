// Kept as one file: every walk runs over the one folder of six registries that beforeAll starts and fills.
// "One page token across providers", proven at the API edge: the real server process over a folder of
// embedded layouts, a real CNCF registry, and a second one behind a fault proxy that fails, is slow, or
// stops on command; every walk is checked image by image against the documented global order.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { errorInfo, fieldViolations, GrpcClient, GrpcError, grpcFailure } from "./support/clients.js";
import { startFaultProxy, type FaultProxy } from "./support/fault-proxy.js";
import { Gate } from "./support/gate.js";
import { buildBaseLayout, copyToLayout, makeTempDir, writeSyntheticImage } from "./support/images.js";
import { pushImage, startRegistry, type RunningRegistry } from "./support/registry.js";
import { startServer, type ServerProcess } from "./support/server.js";

const TIE = "2022-06-01T12:00:00.250Z";
const PAGE_SIZES = [1, 2, 3, 7, 100];
const ORDERS = ["", "name", "name desc", "digest", "created_at desc", "created_at, name"];

const cleanups: Array<() => Promise<unknown>> = [];
let work: string;
let lab: RunningRegistry;
let flakyReg: RunningRegistry;
let proxy: FaultProxy;
let main: ServerProcess;
let mainConfig: string;
let images: GrpcClient;
/** Every image the fixtures created, as "<name>@<digest>", by registry id. */
const expected: Record<string, string[]> = {};
/** The first full listing of the folder; every walk is checked against it. */
let all: Img[];

interface Img {
  key: string;
  name: string;
  digest: string;
  createdMs?: number;
}

function img(i: Image): Img {
  const createdMs = i.createdAt === undefined ? undefined : Number(i.createdAt.seconds) * 1000 + Math.floor(i.createdAt.nanos / 1e6);
  return { key: `${i.name}@${i.digest}`, name: i.name, digest: i.digest, createdMs };
}

const keys = (list: Image[]) => list.map((i) => `${i.name}@${i.digest}`);
const registryOf = (key: string) => key.slice(0, key.indexOf("/"));
/** The registries of folder "fleet", in folder order. */
const FLEET = ["flaky", "alpha", "lab", "empty", "beta", "void"];
const fleetKeys = () => FLEET.flatMap((r) => expected[r]).sort();

/** The documented global order: the order terms (name = full name), then full name, then digest. */
function sortedKeys(list: Img[], orderBy: string): string[] {
  const terms = orderBy === "" ? [] : orderBy.split(",").map((t) => {
    const [field, dir] = t.trim().split(/\s+/);
    return { field, desc: dir === "desc" };
  });
  const str = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const created = (a?: number, b?: number) => (a === undefined ? (b === undefined ? 0 : -1) : b === undefined ? 1 : a - b);
  return [...list]
    .sort((a, b) => {
      for (const t of terms) {
        const c = t.field === "name" ? str(a.name, b.name) : t.field === "digest" ? str(a.digest, b.digest) : Math.sign(created(a.createdMs, b.createdMs));
        if (c !== 0) return t.desc ? -c : c;
      }
      return str(a.name, b.name) || str(a.digest, b.digest);
    })
    .map((i) => i.key);
}

interface Walk {
  images: Image[];
  pages: Image[][];
  tokens: string[];
  unreachable: string[][];
}

/** Lists page after page until next_page_token is empty; `sizes` are used in turn, the last repeated. */
async function walk(client: GrpcClient, req: Record<string, unknown>, sizes: number | number[], token = ""): Promise<Walk> {
  const plan = typeof sizes === "number" ? [sizes] : sizes;
  const out: Walk = { images: [], pages: [], tokens: [], unreachable: [] };
  do {
    const size = plan[Math.min(out.pages.length, plan.length - 1)];
    const res = await client.call("list", { ...req, pageSize: BigInt(size), pageToken: token });
    out.pages.push(res.images);
    out.images.push(...res.images);
    out.unreachable.push(res.unreachable);
    token = res.nextPageToken;
    out.tokens.push(token);
    expect(out.pages.length).toBeLessThan(200);
  } while (token !== "");
  return out;
}

/** Every page full but the last, a token on every page but the last, tokens of at most 100 characters. */
function expectWellFormed(w: Walk, sizes: number | number[]): void {
  const plan = typeof sizes === "number" ? [sizes] : sizes;
  w.pages.forEach((page, n) => {
    const size = plan[Math.min(n, plan.length - 1)];
    const last = n === w.pages.length - 1;
    if (last) expect(page.length).toBeLessThanOrEqual(size);
    else expect(page.length, `page ${n} of ${w.pages.length}`).toBe(size);
    expect(w.tokens[n] === "").toBe(last);
    expect(w.tokens[n].length).toBeLessThanOrEqual(100);
  });
}

function expectExactlyOnce(list: Image[], want: string[]): void {
  const got = keys(list);
  expect(new Set(got).size).toBe(got.length);
  expect([...got].sort()).toEqual([...want].sort());
}

/** INVALID_ARGUMENT with a BadRequest violation on page_token, never data nor INTERNAL. */
async function expectBadToken(p: Promise<unknown>, message?: RegExp): Promise<void> {
  const e = await grpcFailure(p);
  expect(e.code, e.message).toBe(GrpcStatus.INVALID_ARGUMENT);
  expect(fieldViolations(e.status).map((v) => v.field)).toContain("page_token");
  if (message) expect(e.message).toMatch(message);
}

async function expectAllUnavailable(p: Promise<unknown>, ids: string): Promise<void> {
  expectAllUnavailableError(await grpcFailure(p), ids);
}

function expectAllUnavailableError(e: GrpcError | undefined, ids: string): void {
  expect(e).toBeInstanceOf(GrpcError);
  if (e === undefined) return;
  expect(e.code, e.message).toBe(GrpcStatus.UNAVAILABLE);
  const info = errorInfo(e.status);
  expect(info?.reason).toBe("ALL_REGISTRIES_UNAVAILABLE");
  expect(info?.domain).toBe("regplane");
  expect(info?.metadata.registry_ids).toBe(ids);
}

const tokenFormat = (token: string) => Buffer.from(token, "base64url")[0];

function ociEntry(id: string, url: string, catalogPageSize: number): string {
  return `  - {id: ${id}, provider: oci, endpoint: ${JSON.stringify(url)}, insecure: true, catalogPageSize: ${catalogPageSize}}`;
}

function localEntry(id: string, dir: string): string {
  return `  - {id: ${id}, provider: local, path: ${JSON.stringify(dir)}}`;
}

beforeAll(async () => {
  work = await makeTempDir("regplane-paging-");
  cleanups.push(() => fs.rm(work, { recursive: true, force: true }));
  const dirs = {
    alpha: path.join(work, "alpha"),
    beta: path.join(work, "beta"),
    empty: path.join(work, "empty"),
    void: path.join(work, "never-created"),
    src: path.join(work, "src"),
  };
  await fs.mkdir(dirs.empty, { recursive: true });
  const [base, labReg, flaky] = await Promise.all([buildBaseLayout(path.join(work, "umoci")), startRegistry(), startRegistry()]);
  lab = labReg;
  flakyReg = flaky;
  cleanups.push(() => lab.stop(), () => flakyReg.stop());
  proxy = await startFaultProxy(flakyReg);
  cleanups.push(() => proxy.kill());

  const add = (registry: string, repository: string, digest: string) => (expected[registry] ??= []).push(`${registry}/${repository}@${digest}`);
  const synthetic = async (registry: string, repository: string, layout: string, tag: string, created: string | null) =>
    add(registry, repository, (await writeSyntheticImage(layout, { tag, created })).digest);

  // Embedded layouts: synthetic images with creation-time ties and gaps, and umoci images copied in by skopeo.
  const at = (root: string, repository: string) => path.join(root, repository);
  await synthetic("alpha", "team/app", at(dirs.alpha, "team/app"), "a1", "2021-03-01T00:00:00Z");
  await synthetic("alpha", "team/app", at(dirs.alpha, "team/app"), "a2", TIE);
  await synthetic("alpha", "team/app", at(dirs.alpha, "team/app"), "a3", null);
  await synthetic("alpha", "team/web", at(dirs.alpha, "team/web"), "w1", TIE);
  await synthetic("alpha", "team/web", at(dirs.alpha, "team/web"), "w2", "2020-01-01T00:00:00Z");
  add("alpha", "tools/base", await copyToLayout(base.dir, "base", at(dirs.alpha, "tools/base"), "1"));
  add("alpha", "tools/base", await copyToLayout(base.dir, "v1", at(dirs.alpha, "tools/base"), "2"));
  await synthetic("beta", "lib/x", at(dirs.beta, "lib/x"), "x1", "2023-02-02T00:00:00Z");
  await synthetic("beta", "lib/x", at(dirs.beta, "lib/x"), "x2", "2021-03-01T00:00:00Z");
  add("beta", "zeta", await copyToLayout(base.dir, "v2", at(dirs.beta, "zeta"), "latest"));
  await synthetic("beta", "zeta", at(dirs.beta, "zeta"), "z1", null);
  expected.empty = [];
  expected.void = [];

  // Registries: synthetic images from a source layout and the umoci images above, pushed by skopeo.
  const src = async (tag: string, created: string | null) => (await writeSyntheticImage(dirs.src, { tag, created })).digest;
  const f2 = await src("f2", TIE);
  const pushes: Array<{ registry: string; reg: RunningRegistry; repository: string; layout: string; tags: Array<[string, string]>; digest: string }> = [
    { registry: "lab", reg: lab, repository: "team/app", layout: base.dir, tags: [["v1", "v1"]], digest: base.digests.v1 },
    { registry: "lab", reg: lab, repository: "team/app", layout: dirs.src, tags: [["l1", "v2"]], digest: await src("l1", TIE) },
    { registry: "lab", reg: lab, repository: "ns/a", layout: dirs.src, tags: [["l2", "v1"]], digest: await src("l2", "2019-05-05T05:05:05Z") },
    { registry: "lab", reg: lab, repository: "ns/b", layout: base.dir, tags: [["base", "v1"]], digest: base.digests.base },
    { registry: "lab", reg: lab, repository: "ns/c", layout: dirs.src, tags: [["l3", "v1"]], digest: await src("l3", "2024-01-01T00:00:00Z") },
    { registry: "flaky", reg: flakyReg, repository: "edge/one", layout: dirs.src, tags: [["f1", "v1"]], digest: await src("f1", "2018-08-08T08:08:08Z") },
    { registry: "flaky", reg: flakyReg, repository: "edge/one", layout: dirs.src, tags: [["f2", "v2"], ["f2", "latest"]], digest: f2 },
    { registry: "flaky", reg: flakyReg, repository: "edge/two", layout: dirs.src, tags: [["f3", "v1"]], digest: await src("f3", null) },
  ];
  for (const p of pushes) add(p.registry, p.repository, p.digest);
  // One repository's pushes go in sequence so that later ones find the blobs already uploaded.
  const byRepository = new Map<string, typeof pushes>();
  for (const p of pushes) byRepository.set(`${p.registry}/${p.repository}`, [...(byRepository.get(`${p.registry}/${p.repository}`) ?? []), p]);
  await Promise.all(
    [...byRepository.values()].map(async (list) => {
      for (const p of list) for (const [tag, destTag] of p.tags) await pushImage(p.layout, tag, p.reg.host, p.repository, destTag);
    }),
  );

  mainConfig = [
    "registries:",
    ociEntry("flaky", proxy.url, 1),
    localEntry("alpha", dirs.alpha),
    ociEntry("lab", lab.url, 2),
    localEntry("empty", dirs.empty),
    localEntry("beta", dirs.beta),
    localEntry("void", dirs.void),
    "folders:",
    `  - {id: fleet, registries: [${FLEET.join(", ")}]}`,
    "  - {id: pair, registries: [alpha, lab]}",
  ].join("\n");
  main = await startServer({ config: mainConfig });
  cleanups.push(() => main.kill(), () => fs.rm(main.dataDir, { recursive: true, force: true }));
  images = new GrpcClient(ImageService, main.grpcAddress);
  cleanups.push(async () => images.close());

  const first = await images.call("list", { folderId: "fleet", pageSize: 1000n });
  expect(first.nextPageToken).toBe("");
  expect(first.unreachable).toEqual([]);
  all = (first.images as Image[]).map(img);
  expectExactlyOnce(first.images, fleetKeys());
}, 90_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe("full walks of a folder of six registries (embedded, CNCF registry, proxied registry)", () => {
  it("holds the fixtures: ties, missing creation times, one digest in two registries", () => {
    expect(all).toHaveLength(19);
    expect(all.filter((i) => i.createdMs === undefined)).toHaveLength(3);
    expect(all.filter((i) => i.createdMs === Date.parse(TIE))).toHaveLength(4);
    expect(new Set(all.map((i) => i.digest)).size).toBeLessThan(all.length);
  });

  it.each(ORDERS)("order_by %j: every page size walks every image once, in the global order", async (orderBy) => {
    const want = sortedKeys(all, orderBy);
    for (const size of PAGE_SIZES) {
      const w = await walk(images, { folderId: "fleet", orderBy }, size);
      expectWellFormed(w, size);
      expect(w.unreachable.flat()).toEqual([]);
      expectExactlyOnce(w.images, want);
      // A token promises more images, in either walk: the last page is never empty.
      expect(w.pages[w.pages.length - 1].length, `page size ${size}, order ${JSON.stringify(orderBy)}`).toBeGreaterThan(0);
      if (orderBy !== "") {
        expect(keys(w.images), `page size ${size}`).toEqual(want);
      } else {
        // Without an order the registries come in folder order.
        expect(keys(w.images).map(registryOf)).toEqual(want.map(registryOf).sort((a, b) => fleetOrder(a) - fleetOrder(b)));
      }
    }
  });

  it("lets page_size change from one page to the next", async () => {
    for (const orderBy of ["", "created_at desc"]) {
      const sizes = [2, 5, 1, 3, 1000];
      const w = await walk(images, { folderId: "fleet", orderBy }, sizes);
      expectWellFormed(w, sizes);
      expectExactlyOnce(w.images, fleetKeys());
      if (orderBy !== "") expect(keys(w.images)).toEqual(sortedKeys(all, orderBy));
    }
  });
});

function fleetOrder(registry: string): number {
  return FLEET.indexOf(registry);
}

describe("scopes", () => {
  it("repository_name wins over registry_id, which wins over folder_id", async () => {
    const only = (registry: string, repository?: string) =>
      expected[registry].filter((k) => repository === undefined || k.startsWith(`${registry}/${repository}@`));
    const cases: Array<[Record<string, unknown>, string[]]> = [
      [{ repositoryName: "lab/team/app", registryId: "alpha", folderId: "fleet" }, only("lab", "team/app")],
      [{ repositoryName: "alpha/team/app", registryId: "nope" }, only("alpha", "team/app")],
      [{ registryId: "beta", folderId: "pair" }, only("beta")],
      [{ registryId: "beta", folderId: "nope" }, only("beta")],
      [{ folderId: "pair" }, [...only("alpha"), ...only("lab")]],
      [{}, fleetKeys()],
    ];
    for (const [req, want] of cases) {
      for (const orderBy of ["", "name desc"]) {
        const w = await walk(images, { ...req, orderBy }, 2);
        expectWellFormed(w, 2);
        expectExactlyOnce(w.images, want);
      }
    }
  });

  it("answers NOT_FOUND for an unknown registry or folder", async () => {
    for (const req of [{ registryId: "nope" }, { folderId: "nope" }, { repositoryName: "nope/team/app" }]) {
      const e = await grpcFailure(images.call("list", req));
      expect(e.code, JSON.stringify(req)).toBe(GrpcStatus.NOT_FOUND);
    }
  });

  it("walks one repository of the CNCF registry and of the proxied registry", async () => {
    for (const [repositoryName, want] of [
      ["lab/team/app", expected.lab.filter((k) => k.startsWith("lab/team/app@"))],
      ["flaky/edge/one", expected.flaky.filter((k) => k.startsWith("flaky/edge/one@"))],
    ] as const) {
      expect(want).toHaveLength(2);
      for (const orderBy of ["", "digest", "created_at desc"]) {
        const w = await walk(images, { repositoryName, orderBy }, 1);
        expectWellFormed(w, 1);
        expectExactlyOnce(w.images, want);
        if (orderBy !== "") expect(keys(w.images)).toEqual(sortedKeys(all.filter((i) => i.name === repositoryName), orderBy));
      }
    }
    const tags = (await images.call("list", { repositoryName: "flaky/edge/one" })).images.map((i: Image) => i.tags.join(","));
    expect(tags.sort()).toEqual(["latest,v2", "v1"]);
    const missing = await images.call("list", { repositoryName: "lab/no/such" });
    expect(missing.images).toEqual([]);
    expect(missing.nextPageToken).toBe("");
  });

  it('filters name="<registry>/<repository>" across the folder to exactly that repository', async () => {
    for (const name of ["lab/team/app", "alpha/team/web", "flaky/edge/two", "beta/zeta"]) {
      const want = all.filter((i) => i.name === name);
      expect(want.length).toBeGreaterThan(0);
      for (const orderBy of ["", "created_at desc"]) {
        const w = await walk(images, { folderId: "fleet", filter: `name="${name}"`, orderBy }, 1);
        expectWellFormed(w, 1);
        expectExactlyOnce(w.images, want.map((i) => i.key));
        if (orderBy !== "") expect(keys(w.images)).toEqual(sortedKeys(want, orderBy));
      }
    }
    const outside = await images.call("list", { folderId: "pair", filter: 'name="beta/zeta"' });
    expect(outside.images).toEqual([]);
    expect(outside.nextPageToken).toBe("");
  });
});

describe("page tokens", () => {
  async function tokenFor(req: Record<string, unknown>, pageSize = 2): Promise<string> {
    const res = await images.call("list", { ...req, pageSize: BigInt(pageSize) });
    expect(res.nextPageToken).not.toBe("");
    return res.nextPageToken;
  }

  it("refuse a changed filter, order or scope, and accept a changed page_size", async () => {
    const mismatch = /different request/;
    const native = await tokenFor({ folderId: "fleet" });
    for (const changed of [
      { folderId: "fleet", filter: 'name="alpha/team/app"' },
      { folderId: "fleet", orderBy: "name" },
      { folderId: "pair" },
      { folderId: "fleet", registryId: "alpha" },
      { folderId: "fleet", repositoryName: "alpha/team/app" },
      {},
    ]) {
      await expectBadToken(images.call("list", { ...changed, pageToken: native }), mismatch);
    }
    const ordered = await tokenFor({ folderId: "fleet", orderBy: "name" });
    for (const orderBy of ["name desc", "name, digest", "digest", ""]) {
      await expectBadToken(images.call("list", { folderId: "fleet", orderBy, pageToken: ordered }), mismatch);
    }
    const registry = await tokenFor({ registryId: "lab" });
    await expectBadToken(images.call("list", { registryId: "alpha", pageToken: registry }), mismatch);
    await expectBadToken(images.call("list", { folderId: "pair", pageToken: registry }), mismatch);
    const repository = await tokenFor({ repositoryName: "lab/team/app" }, 1);
    await expectBadToken(images.call("list", { repositoryName: "lab/ns/a", pageToken: repository }), mismatch);
    await expectBadToken(images.call("list", { registryId: "lab", pageToken: repository }), mismatch);
    const filtered = await tokenFor({ folderId: "fleet", filter: 'name="alpha/team/app"' }, 1);
    await expectBadToken(images.call("list", { folderId: "fleet", filter: 'name="alpha/team/web"', pageToken: filtered }), mismatch);

    // The same request with another page_size goes on where the token stands.
    const res = await images.call("list", { folderId: "fleet", orderBy: "name", pageToken: ordered, pageSize: 1000n });
    expect(res.nextPageToken).toBe("");
    expect(keys(res.images)).toEqual(sortedKeys(all, "name").slice(2));
  });

  it("refuse every flipped character and every truncation, inline and stored tokens alike", async () => {
    // A page that ends exactly at the end of alpha leaves a position small enough to travel in the token.
    const alphaCount = expected.alpha.length;
    const inlineReq = { folderId: "pair" };
    const inline = await tokenFor(inlineReq, alphaCount);
    const storedReq = { folderId: "fleet", orderBy: "created_at desc" };
    const stored = await tokenFor(storedReq, 3);
    expect(tokenFormat(inline)).toBe(0x11);
    expect(tokenFormat(stored)).toBe(0x12);
    for (const [req, token] of [[inlineReq, inline], [storedReq, stored]] as const) {
      const variants = new Set<string>();
      for (let i = 0; i < token.length; i++) {
        variants.add(token.slice(0, i) + (token[i] === "A" ? "B" : "A") + token.slice(i + 1));
        variants.add(token.slice(0, i) + (token[i] === "-" ? "_" : "-") + token.slice(i + 1));
        if (i > 0) variants.add(token.slice(0, i));
      }
      variants.add(`${token}A`);
      variants.add(`${token}=`);
      variants.add(token.replace(/[A-Za-z0-9]/, "."));
      variants.delete(token);
      for (const variant of variants) await expectBadToken(images.call("list", { ...req, pageSize: 2n, pageToken: variant }));
      // The original still works, and twice over (a client may retry a page): refusing forgeries spends nothing.
      const again = await images.call("list", { ...req, pageSize: 1000n, pageToken: token });
      expect(again.images.length).toBeGreaterThan(0);
      expect(keys((await images.call("list", { ...req, pageSize: 1000n, pageToken: token })).images)).toEqual(keys(again.images));
    }
  });
});

describe("a registry that fails and recovers", () => {
  it("native order: pages name it unreachable and come from the others; after it recovers it is walked first", async () => {
    const size = 4;
    // A Retry-After beyond the provider's patience makes each page cost one request, so its circuit stays closed.
    proxy.down({ status: 503, headers: { "retry-after": "120" } });
    const down: Image[] = [];
    let token = "";
    try {
      for (let n = 0; n < 3; n++) {
        const res = await images.call("list", { folderId: "fleet", pageSize: BigInt(size), pageToken: token });
        expect(res.unreachable).toEqual(["flaky"]);
        expect(res.images).toHaveLength(size);
        expect(res.nextPageToken).not.toBe("");
        down.push(...res.images);
        token = res.nextPageToken;
      }
    } finally {
      proxy.up();
    }
    expect(keys(down).map(registryOf)).toEqual([...Array(expected.alpha.length).fill("alpha"), ...Array(3 * size - expected.alpha.length).fill("lab")]);
    const rest = await walk(images, { folderId: "fleet" }, size, token);
    expectWellFormed(rest, size);
    expect(rest.unreachable.flat()).toEqual([]);
    // Its entry kept its place, so the next page resumes it before the registries that went on without it.
    expect(keys(rest.pages[0]).slice(0, expected.flaky.length).sort()).toEqual([...expected.flaky].sort());
    expectExactlyOnce([...down, ...rest.images], fleetKeys());
  });

  it("merged order: a page while its connections drop names it, and the walk still ends with every image once", async () => {
    const orderBy = "created_at desc";
    const page1 = await images.call("list", { folderId: "fleet", orderBy, pageSize: 3n });
    proxy.down("drop");
    let page2;
    try {
      page2 = await images.call("list", { folderId: "fleet", orderBy, pageSize: 3n, pageToken: page1.nextPageToken });
    } finally {
      proxy.up();
    }
    expect(page2.unreachable).toEqual(["flaky"]);
    expect(page2.images).toHaveLength(3);
    expect(keys(page2.images).some((k) => registryOf(k) === "flaky")).toBe(false);
    const rest = await walk(images, { folderId: "fleet", orderBy }, 3, page2.nextPageToken);
    expectWellFormed(rest, 3);
    expect(rest.unreachable.flat()).toEqual([]);
    expectExactlyOnce([...page1.images, ...page2.images, ...rest.images], fleetKeys());
  });
});

describe("restart", () => {
  it("a stored token taken mid-walk continues on a restarted server over the same data dir", async () => {
    const orderBy = "created_at, name";
    const want = sortedKeys(all, orderBy);
    const page1 = await images.call("list", { folderId: "fleet", orderBy, pageSize: 4n });
    const page2 = await images.call("list", { folderId: "fleet", orderBy, pageSize: 4n, pageToken: page1.nextPageToken });
    const token: string = page2.nextPageToken;
    expect(tokenFormat(token)).toBe(0x12);

    images.close();
    expect(await main.stop()).toBe(0);
    main = await startServer({ dataDir: main.dataDir, config: mainConfig });
    images = new GrpcClient(ImageService, main.grpcAddress);

    const rest = await walk(images, { folderId: "fleet", orderBy }, 4, token);
    expectWellFormed(rest, 4);
    expect(keys([...page1.images, ...page2.images, ...rest.images])).toEqual(want);
  });
});

describe("a second server: token lifetime 2 s, registry timeout 2 s", () => {
  let second: ServerProcess;
  let client: GrpcClient;
  const mixedKeys = () => [...expected.flaky, ...expected.alpha].sort();

  beforeAll(async () => {
    const config = [
      "server: {registryTimeout: 2s}",
      "pageTokens: {ttl: 2s}",
      "registries:",
      ociEntry("flaky", proxy.url, 1),
      localEntry("alpha", path.join(work, "alpha")),
      "folders:",
      "  - {id: mixed, registries: [flaky, alpha]}",
      "  - {id: solo, registries: [flaky]}",
    ].join("\n");
    second = await startServer({ config });
    cleanups.push(() => second.kill(), () => fs.rm(second.dataDir, { recursive: true, force: true }));
    client = new GrpcClient(ImageService, second.grpcAddress);
    cleanups.push(async () => client.close());
  });

  it("refuses a token after its lifetime, saying it expired", async () => {
    const issued = Date.now();
    const native = (await client.call("list", { folderId: "mixed", pageSize: 2n })).nextPageToken;
    const ordered = (await client.call("list", { folderId: "mixed", orderBy: "name", pageSize: 2n })).nextPageToken;
    expect(native).not.toBe("");
    expect(ordered).not.toBe("");
    expect((await client.call("list", { folderId: "mixed", pageSize: 2n, pageToken: native })).images).toHaveLength(2);
    // Each token is asked again until refused (the test timeout bounds it), and is refused only once
    // its lifetime has passed (the expiry is rounded up to a second, so each has its own moment).
    for (const request of [
      { folderId: "mixed", pageSize: 2n, pageToken: native },
      { folderId: "mixed", orderBy: "name", pageSize: 2n, pageToken: ordered },
    ]) {
      let refused: unknown;
      while (refused === undefined) {
        refused = await client.call("list", request).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (refused === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      expect(Date.now() - issued).toBeGreaterThanOrEqual(2_000);
      await expectBadToken(Promise.reject(refused), /expired/);
    }
  });

  it("names a registry slower than the registry timeout unreachable and serves the page from the others", async () => {
    // flaky's requests are held unanswered until the answer is in: only the registry timeout ends them.
    let held = new Gate();
    proxy.onRequest = () => held.pass();
    let slow;
    try {
      slow = await client.call("list", { folderId: "mixed", pageSize: 3n });
    } finally {
      proxy.onRequest = undefined;
      held.open();
    }
    expect(held.arrived).toBeGreaterThan(0);
    expect(slow.unreachable).toEqual(["flaky"]);
    expect(keys(slow.images).map(registryOf)).toEqual(["alpha", "alpha", "alpha"]);
    // Resumed at once, well within the token's lifetime.
    const rest = await walk(client, { folderId: "mixed" }, 3, slow.nextPageToken);
    expectWellFormed(rest, 3);
    expect(rest.unreachable.flat()).toEqual([]);
    expectExactlyOnce([...slow.images, ...rest.images], mixedKeys());

    held = new Gate();
    proxy.onRequest = () => held.pass();
    try {
      const ordered = await client.call("list", { folderId: "mixed", orderBy: "created_at desc", pageSize: 3n });
      expect(ordered.unreachable).toEqual(["flaky"]);
      expect(keys(ordered.images)).toEqual(sortedKeys(all.filter((i) => registryOf(i.key) === "alpha"), "created_at desc").slice(0, 3));
      await expectAllUnavailable(client.call("list", { registryId: "flaky" }), "flaky");
    } finally {
      proxy.onRequest = undefined;
      held.open();
    }
  });

  it("answers UNAVAILABLE with ALL_REGISTRIES_UNAVAILABLE when every registry in scope fails", async () => {
    proxy.down({ status: 503 });
    try {
      await expectAllUnavailable(client.call("list", { registryId: "flaky" }), "flaky");
      await expectAllUnavailable(client.call("list", { folderId: "solo", orderBy: "name" }), "flaky");
      await expectAllUnavailable(client.call("list", { repositoryName: "flaky/edge/one" }), "flaky");
      // A filter naming the failing registry leaves it alone in scope.
      await expectAllUnavailable(client.call("list", { folderId: "mixed", filter: 'name="flaky/edge/one"' }), "flaky");
      const others = await client.call("list", { folderId: "mixed", pageSize: 1000n });
      expect(others.unreachable).toEqual(["flaky"]);
      expectExactlyOnce(others.images, expected.alpha);
      expect(others.nextPageToken).not.toBe("");
    } finally {
      proxy.up();
    }
  });
});

describe("the proxied registry stopped in the middle of a walk", () => {
  /** Pages on from `token` until the server refuses; every page names flaky unreachable. */
  async function walkUntilRefused(req: Record<string, unknown>, pageSize: number, token: string): Promise<{ images: Image[]; end?: GrpcError }> {
    const seen: Image[] = [];
    for (let pages = 0; pages < 50; pages++) {
      let res;
      try {
        res = await images.call("list", { ...req, pageSize: BigInt(pageSize), pageToken: token });
      } catch (e) {
        if (!(e instanceof GrpcError)) throw e;
        return { images: seen, end: e };
      }
      expect(res.unreachable).toEqual(["flaky"]);
      // Its entry is not done, so the walk cannot be over.
      expect(res.nextPageToken).not.toBe("");
      expect(res.images.length).toBeLessThanOrEqual(pageSize);
      seen.push(...res.images);
      token = res.nextPageToken;
    }
    return { images: seen };
  }

  it("is named unreachable on every page, then UNAVAILABLE when it is all that is left; the server keeps serving", async () => {
    const first = await images.call("list", { folderId: "fleet", pageSize: 2n });
    expect(keys(first.images).map(registryOf)).toEqual(["flaky", "flaky"]);
    await flakyReg.stop();

    const native = await walkUntilRefused({ folderId: "fleet" }, 2, first.nextPageToken);
    expectAllUnavailableError(native.end, "flaky");
    const seen = [...first.images, ...native.images];
    const left = fleetKeys().filter((k) => !keys(seen).includes(k));
    expect(left.map(registryOf)).toEqual(["flaky"]);
    expectExactlyOnce(seen, fleetKeys().filter((k) => !left.includes(k)));

    // A merge started after the stop serves every other registry in the global order, then refuses.
    const ordered = await walkUntilRefused({ folderId: "fleet", orderBy: "name" }, 5, "");
    expectAllUnavailableError(ordered.end, "flaky");
    expect(keys(ordered.images)).toEqual(sortedKeys(all.filter((i) => registryOf(i.key) !== "flaky"), "name"));

    expect(main.child.exitCode).toBeNull();
    const alpha = await images.call("list", { registryId: "alpha", pageSize: 1000n });
    expectExactlyOnce(alpha.images, expected.alpha);
    await expectAllUnavailable(images.call("list", { registryId: "flaky" }), "flaky");
  });
});
