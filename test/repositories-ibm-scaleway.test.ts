// The IBM and Scaleway repository parts on their fakes, for what the provider contract does not show:
// a repository delete stopped half-way and run again, a listing longer than one Scaleway page, provider
// failures mapped to their codes, and hostile names answered without a request.
import { afterEach, describe, expect, it } from "vitest";
import { IbmProvider } from "../src/adapters/ibm/index.js";
import { ScalewayProvider } from "../src/adapters/scaleway/index.js";
import { Code, RegplaneError } from "../src/core/errors.js";
import type { Provider } from "../src/core/provider.js";
import { IbmFake } from "./fakes/ibm.js";
import { ScalewayFake } from "./fakes/scaleway.js";
import { until } from "./support/gate.js";

const signal = () => AbortSignal.timeout(30_000);
/** One attempt per call, so a planned failure is the answer; a listing kept for the whole test. */
const TUNING = { maxAttempts: 1, retryBaseDelayMs: 1, retryMaxDelayMs: 2, listingCacheTtlMs: 10 * 60_000 };
const HOSTILE = ["../x", "team/../x", "%2F", "team%2Fapp", "team/app/", "/app", "", "Team/App", "team/app\n", `team/${"a".repeat(300)}`, "a/".repeat(200) + "a"];

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function ibm(): Promise<{ fake: IbmFake; provider: IbmProvider }> {
  const fake = await IbmFake.start();
  const provider = new IbmProvider({ id: "ibm-repos", baseUrl: new URL(fake.url), iamUrl: new URL(fake.url), account: fake.account, apiKey: fake.apiKey, ...TUNING });
  closers.push(() => fake.close(), () => provider.close());
  return { fake, provider };
}

async function scaleway(options: { now?: () => number; deletingMs?: number } = {}): Promise<{ fake: ScalewayFake; provider: ScalewayProvider }> {
  const fake = await ScalewayFake.start({ deletingMs: 0, ...options });
  const provider = new ScalewayProvider({ id: "scw-repos", region: fake.region, apiUrl: new URL(fake.url), projectId: fake.projectId, secretKey: fake.secretKey, pollIntervalMs: 1, ...TUNING });
  closers.push(() => fake.close(), () => provider.close());
  return { fake, provider };
}

async function rejection(p: Promise<unknown>): Promise<RegplaneError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof RegplaneError)) throw new Error(`expected a RegplaneError, got ${String(e)}`);
  return e;
}

/** Every repository name at page size `limit`, each page resumed after the last name. */
async function names(provider: Provider, limit: number): Promise<string[]> {
  const out: string[] = [];
  for (let pages = 0; pages < 1000; pages++) {
    const page = await provider.listRepositories({ after: out.at(-1), limit, signal: signal() });
    expect(page.repositories.length).toBeLessThanOrEqual(limit);
    out.push(...page.repositories.map((r) => r.name));
    if (page.done) return out;
  }
  throw new Error("the listing did not end");
}

/** Answers every hostile name (no repository, no listing, INVALID_ARGUMENT on delete) without a request. */
async function expectHostileNamesRefused(provider: Provider, requests: () => number): Promise<void> {
  const before = requests();
  for (const name of HOSTILE) {
    expect(await provider.getRepository(name, signal()), JSON.stringify(name)).toBeUndefined();
    expect(await provider.listRepositories({ nameEquals: name, limit: 10, signal: signal() })).toEqual({ repositories: [], done: true });
    expect((await rejection(provider.deleteRepository!(name, signal()))).code).toBe(Code.INVALID_ARGUMENT);
  }
  expect(requests()).toBe(before);
}

function expectMapped(e: RegplaneError, code: Code, secret: string): void {
  expect(e.code).toBe(code);
  expect(e.code).not.toBe(Code.INTERNAL);
  expect(e.message).not.toContain(secret);
  expect(e.message).not.toMatch(/\n\s+at /);
}

describe("IBM repositories", () => {
  it("deletes a repository whose delete failed half-way when it is run again, and a third run sends no delete", async () => {
    const { fake, provider } = await ibm();
    for (const tag of ["a", "b", "c"]) fake.pushImage("team/big", [tag]);
    fake.pushImage("team/other", ["x"]);
    fake.failOn("POST /api/v1/images/bulkdelete", 503, { skip: 1 });
    expectMapped(await rejection(provider.deleteRepository("team/big", signal())), Code.UNAVAILABLE, fake.apiKey);
    expect(fake.digestsOf("team/big")).toHaveLength(2);
    expect(await provider.getRepository("team/big", signal())).toEqual({ registryId: "ibm-repos", name: "team/big" });

    await provider.deleteRepository("team/big", signal());
    expect(fake.repositories.has("team/big")).toBe(false);
    expect(fake.count("POST /api/v1/images/bulkdelete")).toBe(4);
    expect(await provider.getRepository("team/big", signal())).toBeUndefined();
    expect(await names(provider, 10)).toEqual(["team/other"]);

    await provider.deleteRepository("team/big", signal());
    expect(fake.count("POST /api/v1/images/bulkdelete")).toBe(4);
  });

  it("pages repositories from one digest listing, read again only by a walk's first page", async () => {
    const { fake, provider } = await ibm();
    for (const repo of ["ns-b/two", "ns-a/one", "ns-b/one", "ns-a/one/deep"]) fake.pushImage(repo, ["1"]);
    fake.pushImage("ns-a/one", []);
    fake.resetCounts();
    expect(await names(provider, 1)).toEqual(["ns-a/one", "ns-a/one/deep", "ns-b/one", "ns-b/two"]);
    expect(fake.count("POST /api/v1/images/digests")).toBe(1);
    expect(fake.count("GET /api/v1/images")).toBe(0);
    expect(await names(provider, 3)).toEqual(["ns-a/one", "ns-a/one/deep", "ns-b/one", "ns-b/two"]);
    expect(fake.count("POST /api/v1/images/digests")).toBe(2);
  });

  it("maps IBM's 403, 404 and 429 as its other calls do; a 404 on a delete is already gone", async () => {
    const { fake, provider } = await ibm();
    fake.pushImage("team/app", ["1"]);
    fake.failOn("POST /api/v1/images/digests", 403);
    expectMapped(await rejection(provider.listRepositories({ limit: 10, signal: signal() })), Code.FAILED_PRECONDITION, fake.apiKey);
    fake.failOn("POST /api/v1/images/digests", 404);
    expectMapped(await rejection(provider.getRepository("team/app", signal())), Code.NOT_FOUND, fake.apiKey);
    fake.failOn("POST /api/v1/images/digests", 429);
    const limited = await rejection(provider.listRepositories({ nameEquals: "team/app", limit: 10, signal: signal() }));
    expectMapped(limited, Code.RESOURCE_EXHAUSTED, fake.apiKey);
    expect(limited.retryDelayMs).toBeGreaterThan(0);
    fake.failOn("POST /api/v1/images/bulkdelete", 404);
    await provider.deleteRepository("team/app", signal());
    expect(fake.count("POST /api/v1/images/bulkdelete")).toBe(1);
  });

  it("answers hostile names without a request, and an aborted call with CANCELLED", async () => {
    const { fake, provider } = await ibm();
    fake.pushImage("team/app", ["1"]);
    await expectHostileNamesRefused(provider, () => fake.requests.length);
    expect((await rejection(provider.listRepositories({ limit: 10, signal: AbortSignal.abort() }))).code).toBe(Code.CANCELLED);
    expect((await rejection(provider.deleteRepository("team/app", AbortSignal.abort()))).code).toBe(Code.CANCELLED);
    expect(fake.requests.length).toBe(0);
  });
});

describe("Scaleway repositories", () => {
  it("finishes a delete stopped while Scaleway was still deleting, when it is run again; a deleting repository is gone", async () => {
    let clock = Date.now();
    const { fake, provider } = await scaleway({ now: () => clock, deletingMs: 1_000 });
    fake.pushTag("shop/app", "v1");
    fake.pushTag("shop/app", "v2");
    fake.pushTag("shop/web", "v1");
    const imageId = fake.imageByRepository("shop/app")!.id;
    // The DELETE is accepted; checking on it then fails, as a run that stops half-way.
    fake.failOn("GET /images/{id}", 403);
    expectMapped(await rejection(provider.deleteRepository("shop/app", signal())), Code.FAILED_PRECONDITION, fake.secretKey);
    expect(fake.images.get(imageId)?.status).toBe("deleting");
    expect(await provider.getRepository("shop/app", signal())).toBeUndefined();
    expect(await names(provider, 10)).toEqual(["shop/web"]);
    expect(await provider.listRepositories({ nameEquals: "shop/app", limit: 10, signal: signal() })).toEqual({ repositories: [], done: true });

    let settled = false;
    const again = provider.deleteRepository("shop/app", signal()).finally(() => (settled = true));
    await until(() => settled || (fake.count("DELETE /images/{id}") === 2 && fake.count("GET /images/{id}") >= 2));
    expect(settled, "the second run waits for Scaleway to let go").toBe(false);
    expect(fake.images.has(imageId)).toBe(true);
    clock += 1_000;
    await again;
    expect(fake.imageByRepository("shop/app")).toBeUndefined();
    expect(fake.allImages().every((i) => i.startsWith("shop/web@"))).toBe(true);

    await provider.deleteRepository("shop/app", signal());
    expect(fake.count("DELETE /images/{id}")).toBe(2);
  });

  it("lists more repositories than one Scaleway page, reading the pages once per walk", async () => {
    const { fake, provider } = await scaleway();
    const want: string[] = [];
    for (let i = 0; i < 130; i++) {
      const name = `${i % 2 === 0 ? "big-a" : "big-b"}/img-${String(i).padStart(3, "0")}`;
      fake.pushTag(name, "v1");
      want.push(name);
    }
    want.sort();
    for (const limit of [1, 7, 1000]) {
      fake.resetCounts();
      expect(await names(provider, limit), `page size ${limit}`).toEqual(want);
      expect(fake.requests.filter((r) => r.route === "GET /images").map((r) => `${r.query.get("page")}/${r.query.get("page_size")}`)).toEqual(["1/100", "2/100"]);
    }
    expect(await provider.getRepository("big-b/img-129", signal())).toEqual({ registryId: "scw-repos", name: "big-b/img-129" });
  });

  it("maps Scaleway's permissions_denied, not_found and too_many_requests; a not_found DELETE is already gone", async () => {
    const { fake, provider } = await scaleway();
    fake.pushTag("shop/app", "v1");
    fake.failOn("GET /images", 403);
    expectMapped(await rejection(provider.listRepositories({ limit: 10, signal: signal() })), Code.FAILED_PRECONDITION, fake.secretKey);
    fake.failOn("GET /namespaces", 404);
    expectMapped(await rejection(provider.getRepository("shop/app", signal())), Code.NOT_FOUND, fake.secretKey);
    fake.failOn("GET /namespaces", 429);
    const limited = await rejection(provider.getRepository("shop/app", signal()));
    expectMapped(limited, Code.RESOURCE_EXHAUSTED, fake.secretKey);
    expect(limited.retryDelayMs).toBeGreaterThan(0);
    fake.failOn("DELETE /images/{id}", 404);
    await provider.deleteRepository("shop/app", signal());
    expect(fake.count("DELETE /images/{id}")).toBe(1);
    expect(fake.count("GET /images/{id}")).toBe(0);
  });

  it("answers hostile names without a request, and an aborted call with CANCELLED", async () => {
    const { fake, provider } = await scaleway();
    fake.pushTag("shop/app", "v1");
    await expectHostileNamesRefused(provider, () => fake.requests.length);
    expect((await rejection(provider.getRepository("shop/app", AbortSignal.abort()))).code).toBe(Code.CANCELLED);
    expect((await rejection(provider.deleteRepository("shop/app", AbortSignal.abort()))).code).toBe(Code.CANCELLED);
    expect(fake.requests.length).toBe(0);
  });
});
