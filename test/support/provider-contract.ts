// The behaviour every Provider must have, whatever registry is behind it. test/provider-contract.test.ts
// runs these cases on all six adapters: local on real layouts, OCI (and IONOS's OCI side) on the real
// CNCF registry, IBM, Scaleway, IONOS and Yandex on their fakes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, RegplaneError } from "../../src/core/errors.js";
import { compareImages } from "../../src/core/order.js";
import type { ImageKey, ListImagesQuery, ListRepositoriesQuery, Provider } from "../../src/core/provider.js";
import type { ImageRecord, OrderTerm } from "../../src/core/types.js";

/** What every harness seeds: repository → how many distinct images it holds. */
export const SEED: ReadonlyArray<{ repository: string; images: number }> = [
  { repository: "team/app", images: 2 },
  { repository: "tools/base", images: 1 },
  { repository: "team/doomed", images: 1 },
  { repository: "team/retired", images: 2 },
];

export interface SeededImage {
  repository: string;
  digest: string;
}

export interface ContractBackend {
  provider: Provider;
  /** Every (repository, digest) the backend holds after seeding, as the provider names repositories. */
  seeded: SeededImage[];
  /** Namespaces the seed made, as the provider names them. */
  namespaces: string[];
  /** A name this provider accepts for a new namespace. */
  newNamespace: string;
  /** A name this provider accepts for a new, empty repository (providers with create_repositories). */
  newRepository?: string;
  /**
   * The registry keeps a repository's path listed after its last image is deleted (the Distribution API
   * has no repository delete): deleteRepository then empties it rather than removing it.
   */
  keepsEmptyRepositories?: boolean;
  /** Requests the backend has received so far; undefined where there is no backend to ask (local). */
  requests?: () => number;
  /** The same provider kind pointed at a backend that cannot be reached, and the code it must answer (network providers). */
  unreachable?: () => { provider: Provider; code: Code };
  /** The provider the growth case runs on, when the seeded one's backend is too slow for 10,000 calls (same kind and options). */
  growth?: Provider;
  /**
   * The entries the provider's caches keyed by caller-supplied names hold, and the most they may hold
   * (their lru-cache bounds); absent for a provider with no such cache. Each bound's eviction is shown
   * by that provider's own cache test with more names than the bound.
   */
  retained?: { entries: (provider: Provider) => number; cap: number };
  close(): Promise<void>;
}

const TIMEOUT_MS = 30_000;
const DISTINCT_NAMES = 10_000;
const CALLS_AT_ONCE = 64;

function signal(): AbortSignal {
  return AbortSignal.timeout(TIMEOUT_MS);
}

async function rejection(p: Promise<unknown>): Promise<RegplaneError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RegplaneError) return err;
    if (err instanceof Error && err.name === "AbortError") return new RegplaneError(Code.CANCELLED, err.message);
    throw err;
  }
  throw new Error("expected the call to fail");
}

/** Every page of a listing at page size `limit`, following the native cursor or the keyset `after`. */
async function walk(p: Provider, query: Omit<ListImagesQuery, "limit" | "signal" | "order"> & { order?: OrderTerm[] }, limit: number): Promise<{ images: ImageRecord[]; pages: number }> {
  const order = query.order ?? [];
  const images: ImageRecord[] = [];
  let nativeCursor: string | undefined;
  let after: ImageKey | undefined;
  for (let pages = 1; pages <= 1000; pages++) {
    const page = await p.listImages({ ...query, order, limit, nativeCursor, after, signal: signal() });
    expect(page.images.length).toBeLessThanOrEqual(limit);
    images.push(...page.images);
    if (page.done) return { images, pages };
    expect(page.images.length, "a page that is not the last is not empty").toBeGreaterThan(0);
    const last = page.images.at(-1)!;
    if (order.length === 0) {
      expect(page.nativeCursor, "a native page that is not the last carries a cursor").toBeDefined();
      nativeCursor = page.nativeCursor;
    } else {
      after = { repository: last.repository, digest: last.digest, createdAt: last.createdAtMs };
    }
  }
  throw new Error("the listing did not end within 1000 pages");
}

const keyOf = (i: SeededImage) => `${i.repository}@${i.digest}`;

/** Every repository name at page size `limit`, each page resumed strictly after the last name. */
async function walkRepositories(p: Provider, query: Omit<ListRepositoriesQuery, "limit" | "signal" | "after">, limit: number): Promise<string[]> {
  const names: string[] = [];
  let after: string | undefined;
  for (let pages = 1; pages <= 1000; pages++) {
    const page = await p.listRepositories({ ...query, after, limit, signal: signal() });
    expect(page.repositories.length).toBeLessThanOrEqual(limit);
    for (const r of page.repositories) expect(r.registryId).toBe(p.id);
    names.push(...page.repositories.map((r) => r.name));
    if (page.done) return names;
    expect(page.repositories.length, "a page that is not the last is not empty").toBeGreaterThan(0);
    after = names.at(-1);
  }
  throw new Error("the repository listing did not end within 1000 pages");
}

/** Code-unit order, as every listing of names sorts. */
const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** `overNetwork`: the provider reaches its registry over HTTP (every adapter but the embedded one). */
export function describeProviderContract(name: string, options: { overNetwork: boolean }, start: () => Promise<ContractBackend>): void {
  describe(`Provider contract: ${name}`, () => {
    let b: ContractBackend;

    beforeAll(async () => {
      b = await start();
    }, 120_000);

    afterAll(async () => {
      await b?.provider.close?.();
      await b?.growth?.close?.();
      await b?.close();
    });

    it("declares list_images and names its kind and id", () => {
      expect(b.provider.capabilities.has("list_images")).toBe(true);
      const record = b.provider.describe();
      expect(record.id).toBe(b.provider.id);
      expect(record.provider).toBe(b.provider.kind);
      expect(new Set(record.capabilities)).toEqual(new Set(b.provider.capabilities));
    });

    it("walks the native order at every page size, each seeded image exactly once", async () => {
      const want = b.seeded.map(keyOf).sort();
      for (const limit of [1, 2, 3, 1000]) {
        const { images, pages } = await walk(b.provider, {}, limit);
        expect(images.map(keyOf).sort(), `page size ${limit}`).toEqual(want);
        if (limit === 1) expect(pages).toBeGreaterThanOrEqual(want.length);
      }
    });

    const orders: Array<[string, OrderTerm[]]> = [
      ["name", [{ field: "name", desc: false }]],
      ["name desc", [{ field: "name", desc: true }]],
      ["digest", [{ field: "digest", desc: false }]],
      ["created_at desc", [{ field: "created_at", desc: true }]],
    ];
    for (const [label, order] of orders) {
      it(`resumes an ordered walk (${label}) by keyset, in the exact global order`, async () => {
        const { images } = await walk(b.provider, { order }, 1);
        expect(images.map(keyOf).sort()).toEqual(b.seeded.map(keyOf).sort());
        for (let i = 1; i < images.length; i++) expect(compareImages(images[i - 1], images[i], order), `${keyOf(images[i - 1])} before ${keyOf(images[i])}`).toBeLessThan(0);
      });
    }

    it("narrows to one repository, and answers an empty last page when the filters contradict", async () => {
      const app = b.seeded.filter((i) => i.repository === "team/app").map(keyOf).sort();
      expect(app).toHaveLength(2);
      expect((await walk(b.provider, { repository: "team/app" }, 1)).images.map(keyOf).sort()).toEqual(app);
      expect((await walk(b.provider, { nameEquals: "team/app" }, 1000)).images.map(keyOf).sort()).toEqual(app);
      expect((await walk(b.provider, { repository: "team/app", order: [{ field: "digest", desc: true }] }, 1)).images.map(keyOf).sort()).toEqual(app);
      const none = await b.provider.listImages({ repository: "team/app", nameEquals: "tools/base", order: [], limit: 10, signal: signal() });
      expect(none).toMatchObject({ images: [], done: true });
      expect((await walk(b.provider, { repository: "team/absent" }, 10)).images).toEqual([]);
    });

    it("gets a seeded image by repository and digest; an absent digest or repository is undefined", async () => {
      const first = b.seeded.find((i) => i.repository === "tools/base")!;
      const image = await b.provider.getImage(first.repository, first.digest, signal());
      expect(image).toMatchObject({ registryId: b.provider.id, repository: first.repository, digest: first.digest });
      const absent = `sha256:${"0".repeat(64)}`;
      expect(await b.provider.getImage(first.repository, absent, signal())).toBeUndefined();
      expect(await b.provider.getImage("team/absent", first.digest, signal())).toBeUndefined();
    });

    it("lists its repositories in name order at every page size, narrows to one and gets it", async () => {
      const want = [...new Set(b.seeded.map((i) => i.repository))].sort(byCodeUnits);
      for (const limit of [1, 2, 1000]) expect(await walkRepositories(b.provider, {}, limit), `page size ${limit}`).toEqual(want);
      expect(await walkRepositories(b.provider, { nameEquals: "tools/base" }, 10)).toEqual(["tools/base"]);
      expect(await walkRepositories(b.provider, { nameEquals: "team/absent" }, 10)).toEqual([]);
      expect(await b.provider.getRepository("tools/base", signal())).toEqual({ registryId: b.provider.id, name: "tools/base" });
      expect(await b.provider.getRepository("team/absent", signal())).toBeUndefined();
      const caps = b.provider.capabilities;
      expect(typeof b.provider.createRepository === "function").toBe(caps.has("create_repositories"));
      expect(typeof b.provider.deleteRepository === "function").toBe(caps.has("delete_repositories"));
    });

    it("creates and deletes repositories exactly as its capabilities say", async () => {
      const caps = b.provider.capabilities;
      if (caps.has("delete_repositories")) {
        const retired = b.seeded.filter((i) => i.repository === "team/retired");
        expect(retired).toHaveLength(2);
        await b.provider.deleteRepository!("team/retired", signal());
        for (const i of retired) expect(await b.provider.getImage(i.repository, i.digest, signal())).toBeUndefined();
        expect((await walk(b.provider, { repository: "team/retired" }, 10)).images).toEqual([]);
        await b.provider.deleteRepository!("team/retired", signal());
        b.seeded = b.seeded.filter((i) => i.repository !== "team/retired");
        if (!b.keepsEmptyRepositories) {
          expect(await b.provider.getRepository("team/retired", signal())).toBeUndefined();
          expect(await walkRepositories(b.provider, {}, 1000)).not.toContain("team/retired");
        }
      }
      if (caps.has("create_repositories")) {
        const name = b.newRepository!;
        expect(await b.provider.createRepository!(name, signal())).toEqual({ registryId: b.provider.id, name });
        expect(await b.provider.getRepository(name, signal())).toEqual({ registryId: b.provider.id, name });
        expect(await walkRepositories(b.provider, {}, 1000)).toContain(name);
        expect((await walk(b.provider, { repository: name }, 10)).images).toEqual([]);
        expect((await rejection(b.provider.createRepository!(name, signal()))).code).toBe(Code.ALREADY_EXISTS);
        if (caps.has("delete_repositories")) {
          await b.provider.deleteRepository!(name, signal());
          if (!b.keepsEmptyRepositories) expect(await b.provider.getRepository(name, signal())).toBeUndefined();
        }
      }
    });

    it("deletes an image, and deleting it again succeeds", async () => {
      const doomed = b.seeded.find((i) => i.repository === "team/doomed")!;
      await b.provider.deleteImage(doomed.repository, doomed.digest, signal());
      expect(await b.provider.getImage(doomed.repository, doomed.digest, signal())).toBeUndefined();
      await b.provider.deleteImage(doomed.repository, doomed.digest, signal());
      const left = (await walk(b.provider, {}, 1000)).images.map(keyOf).sort();
      expect(left).toEqual(b.seeded.filter((i) => i !== doomed).map(keyOf).sort());
      b.seeded = b.seeded.filter((i) => i !== doomed);
    });

    it("lists and gets its namespaces; changes them exactly as its capabilities say", async () => {
      const listed = await b.provider.listNamespaces({ limit: 1000, signal: signal() });
      expect(listed.done).toBe(true);
      for (const ns of b.namespaces) expect(listed.namespaces.map((n) => n.name)).toContain(ns);
      expect((await b.provider.getNamespace(b.namespaces[0], signal()))?.name).toBe(b.namespaces[0]);
      expect(await b.provider.getNamespace("absent-namespace", signal())).toBeUndefined();

      const caps = b.provider.capabilities;
      expect(typeof b.provider.createNamespace === "function").toBe(caps.has("create_namespaces"));
      if (caps.has("create_namespaces")) {
        const created = await b.provider.createNamespace!({ name: b.newNamespace, description: "", visibility: "private" }, signal());
        expect(created.name).toBe(b.newNamespace);
        expect((await b.provider.getNamespace(b.newNamespace, signal()))?.name).toBe(b.newNamespace);
        const again = await rejection(b.provider.createNamespace!({ name: b.newNamespace, description: "", visibility: "private" }, signal()));
        expect(again.code).toBe(Code.ALREADY_EXISTS);
      }
      if (caps.has("create_namespaces") && caps.has("update_namespaces")) {
        const updated = await b.provider.updateNamespace!(b.newNamespace, { description: "contract" }, signal());
        expect(updated.description).toBe("contract");
      }
      if (caps.has("create_namespaces") && caps.has("delete_namespaces")) {
        await b.provider.deleteNamespace!(b.newNamespace, signal());
        expect(await b.provider.getNamespace(b.newNamespace, signal())).toBeUndefined();
        await b.provider.deleteNamespace!(b.newNamespace, signal());
      }
    });

    it("honours an aborted signal: the call fails and no request is sent", async () => {
      const before = b.requests?.();
      const aborted = AbortSignal.abort();
      const first = b.seeded[0];
      for (const call of [
        b.provider.listImages({ order: [], limit: 10, signal: aborted }),
        b.provider.listImages({ order: [{ field: "name", desc: false }], limit: 10, signal: aborted }),
        b.provider.getImage(first.repository, first.digest, aborted),
        b.provider.listNamespaces({ limit: 10, signal: aborted }),
        b.provider.listRepositories({ limit: 10, signal: aborted }),
        b.provider.getRepository(first.repository, aborted),
      ]) {
        await expect(call).rejects.toBeDefined();
      }
      if (before !== undefined) expect(b.requests!()).toBe(before);
    });

    if (options.overNetwork) it("maps a backend it cannot reach to a gRPC code, without a stack or INTERNAL", async () => {
      const { provider, code } = b.unreachable!();
      try {
        const err = await rejection(provider.listImages({ order: [], limit: 10, signal: signal() }));
        expect(err.code).toBe(code);
        expect(err.code).not.toBe(Code.INTERNAL);
        expect(err.message).not.toMatch(/\n\s+at /);
      } finally {
        await provider.close?.();
      }
    });

    it(`stays bounded across ${DISTINCT_NAMES.toLocaleString("en")} distinct repository names`, async () => {
      const provider = b.growth ?? b.provider;
      const digest = b.seeded[0].digest;
      const names = Array.from({ length: DISTINCT_NAMES }, (_, i) => `team/gone-${i}`);
      // Every name is both a Get and a narrowed List, the two calls that key caches by repository.
      for (let i = 0; i < names.length; i += CALLS_AT_ONCE) {
        await Promise.all(
          names.slice(i, i + CALLS_AT_ONCE).map((repository, j) =>
            (i + j) % 2 === 0 ? provider.getImage(repository, digest, signal()) : provider.listImages({ repository, order: [], limit: 1, signal: signal() }),
          ),
        );
      }
      if (b.retained !== undefined) expect(b.retained.entries(provider)).toBeLessThanOrEqual(b.retained.cap);
      // The provider still answers the seeded catalog in full afterwards.
      expect((await walk(b.provider, {}, 1000)).images.map(keyOf).sort()).toEqual(b.seeded.map(keyOf).sort());
    }, 300_000);
  });
}
