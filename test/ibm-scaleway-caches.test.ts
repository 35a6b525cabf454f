// The IBM and Scaleway adapters' caches stay bounded however many repositories (or scopes) callers
// name: each test names more than its cache may keep, on the provider's fake (or, for a Scaleway
// project of 10,500 repositories, a stub that answers in constant time), and reads the cache's size.
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ISSUED_TOKENS_KEPT } from "../src/adapters/ibm/client.js";
import { IbmProvider } from "../src/adapters/ibm/index.js";
import { ScalewayProvider } from "../src/adapters/scaleway/index.js";
import { IbmFake } from "./fakes/ibm.js";
import { ScalewayFake } from "./fakes/scaleway.js";

const NAMES = 10_000;
const signal = () => AbortSignal.timeout(60_000);

/** Runs `task` for 0 … count-1, `width` at a time. */
async function forEach(count: number, width: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

/** Every page of a native-order walk of the whole registry. */
async function walk(provider: IbmProvider | ScalewayProvider, limit: number): Promise<number> {
  let images = 0;
  let cursor: string | undefined;
  for (;;) {
    const page = await provider.listImages({ order: [], nativeCursor: cursor, limit, signal: signal() });
    images += page.images.length;
    if (page.done) return images;
    cursor = page.nativeCursor;
  }
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A listing serves a whole walk here however slow the machine, so each image is read once. */
const WALK_TTL_MS = 10 * 60_000;

async function ibm(): Promise<{ fake: IbmFake; provider: IbmProvider }> {
  const fake = await IbmFake.start();
  const provider = new IbmProvider({ id: "ibm-caches", baseUrl: new URL(fake.url), iamUrl: new URL(fake.url), account: fake.account, apiKey: fake.apiKey, listingCacheTtlMs: WALK_TTL_MS });
  closers.push(() => fake.close(), () => provider.close());
  return { fake, provider };
}

async function scaleway(): Promise<{ fake: ScalewayFake; provider: ScalewayProvider }> {
  const fake = await ScalewayFake.start();
  const provider = new ScalewayProvider({ id: "scw-caches", region: "fr-par", apiUrl: new URL(fake.url), projectId: fake.projectId, secretKey: fake.secretKey, listingCacheTtlMs: WALK_TTL_MS });
  closers.push(() => fake.close(), () => provider.close());
  return { fake, provider };
}

describe("IBM caches", () => {
  it("keeps a bounded number of listings after walks of 10,000 repositories", async () => {
    const { fake, provider } = await ibm();
    await forEach(NAMES, 16, (i) => provider.listImages({ repository: `ns-a/repo-${i}`, order: [], limit: 10, signal: signal() }));
    expect(fake.count("POST /api/v1/images/digests")).toBe(NAMES);
    const { listings } = provider.cacheSizes();
    expect(listings).toBeGreaterThan(0);
    expect(listings).toBeLessThanOrEqual(1_000);
  });

  it("keeps a bounded number of manifests after listing images of more repositories than it keeps", async () => {
    const { fake, provider } = await ibm();
    const repositories = NAMES + 500;
    for (let i = 0; i < repositories; i++) fake.pushImage(`ns-a/repo-${i}`, ["1"]);
    expect(await walk(provider, 500)).toBe(repositories);
    expect(fake.count("GET /api/v1/images/{param}/manifest")).toBe(repositories);
    const { manifests } = provider.cacheSizes();
    expect(manifests).toBeGreaterThan(0);
    expect(manifests).toBeLessThanOrEqual(NAMES);
  });

  it("keeps only the latest IAM tokens to scrub, however many it was issued, and still scrubs the newest", async () => {
    const { fake, provider } = await ibm();
    fake.addNamespace("one-ns");
    const rounds = 3 * ISSUED_TOKENS_KEPT;
    // Each round the fake forgets every token it issued: the next call is refused, and a new token is fetched.
    for (let i = 0; i < rounds; i++) {
      fake.expireTokens();
      await provider.listNamespaces({ limit: 10, signal: signal() });
    }
    expect(provider.stats().tokenRequests).toBeGreaterThanOrEqual(rounds);
    expect(provider.cacheSizes().issuedTokens).toBe(ISSUED_TOKENS_KEPT);
    const newest = fake.lastIssuedToken();
    expect(newest).toBeDefined();
    fake.failNext(500, `upstream echoed Bearer ${newest!}`);
    const err = await provider.listNamespaces({ limit: 10, signal: signal() }).catch((e: Error) => e);
    expect(String((err as Error).message)).not.toContain(newest!);
  });
});

/**
 * A Scaleway project of one namespace holding `count` images, each with one tag: only the three lists a
 * walk reads, in Scaleway's shapes. The fake answers in time linear in what it holds, too slow here.
 */
async function scalewayProject(count: number): Promise<{ url: string; tagListings: () => number; close: () => Promise<void> }> {
  const namespace = { id: "ns-id", name: "ns", status: "ready" };
  let tagListings = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://stub");
    const path = url.pathname.replace("/registry/v1/regions/fr-par", "");
    const page = Number(url.searchParams.get("page") ?? "1");
    const size = Number(url.searchParams.get("page_size") ?? "20");
    let body: unknown;
    if (path === "/namespaces") body = { namespaces: [namespace], total_count: 1 };
    else if (path === "/images") {
      const ids = Array.from({ length: Math.max(0, Math.min(size, count - (page - 1) * size)) }, (_, k) => (page - 1) * size + k);
      body = { images: ids.map((i) => ({ id: `img-${i}`, name: `img-${i}`, namespace_id: namespace.id, status: "ready" })), total_count: count };
    } else if (/^\/images\/img-\d+\/tags$/.test(path)) {
      tagListings++;
      const imageId = path.split("/")[2];
      const digest = `sha256:${createHash("sha256").update(imageId).digest("hex")}`;
      body = { tags: [{ id: `tag-${imageId}`, name: "v1", image_id: imageId, status: "ready", digest }], total_count: 1 };
    }
    res.writeHead(body === undefined ? 404 : 200, { "content-type": "application/json" }).end(JSON.stringify(body ?? { type: "not_found", message: "no such path" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tagListings: () => tagListings,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("Scaleway caches", () => {
  it("keeps a bounded number of repository snapshots after walks of 10,000 repositories", async () => {
    const { fake, provider } = await scaleway();
    await forEach(NAMES, 16, (i) => provider.listImages({ repository: `ns-${i}/img`, order: [], limit: 10, signal: signal() }));
    expect(fake.count("GET /namespaces")).toBe(NAMES);
    const { snapshots } = provider.cacheSizes();
    expect(snapshots).toBeGreaterThan(0);
    expect(snapshots).toBeLessThanOrEqual(1_000);
  });

  it("keeps a bounded number of tag listings after listing images of more repositories than it keeps", async () => {
    const repositories = NAMES + 500;
    const project = await scalewayProject(repositories);
    const provider = new ScalewayProvider({ id: "scw-caches", region: "fr-par", apiUrl: new URL(project.url), projectId: "p", secretKey: "k", listingCacheTtlMs: WALK_TTL_MS });
    closers.push(() => project.close(), () => provider.close());
    expect(await walk(provider, 1_000)).toBe(repositories);
    expect(project.tagListings()).toBe(repositories);
    const { tags } = provider.cacheSizes();
    expect(tags).toBeGreaterThan(0);
    expect(tags).toBeLessThanOrEqual(NAMES);
  });
});
