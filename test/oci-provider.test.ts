// Kept as one file: the cases share the images beforeAll builds once and the registries each block starts and fills.
// OciProvider against the real CNCF distribution registry, with images built by umoci and pushed by
// skopeo: anonymous, htpasswd and Bearer-token registries, paging, orders, deletes, and faults
// injected by a small proxy in front of the registry.
import * as fs from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { OciProvider, type OciProviderOptions } from "../src/adapters/oci/index.js";
import type { DistributionClient } from "../src/core/distribution/index.js";
import { Code, RegplaneError } from "../src/core/errors.js";
import { compareImages, imageKeyOf } from "../src/core/order.js";
import type { ImageKey, ListImagesQuery } from "../src/core/provider.js";
import type { ImageRecord, OrderTerm } from "../src/core/types.js";
import { makeTempDir, newImage, run, writeImageIndex, writeSyntheticImage } from "./support/images.js";
import { parseChallenges, parseNextLink } from "../src/core/http/headers.js";
import { parseRetryAfter } from "../src/core/resilience.js";
import { inspectRaw, pushImage, selfSignedCertificate, startRegistry, type RunningRegistry } from "./support/registry.js";
import { startTokenServer, type TokenServer } from "./support/token-server.js";
import { startFaultProxy, type FaultProxy } from "./support/fault-proxy.js";
import { Gate, settle, until } from "./support/gate.js";

const HTPASSWD_USER = "ci";
const HTPASSWD_PASSWORD = "htpass-S3cret-value";
const TOKEN_USER = "robot";
const TOKEN_PASSWORD = "tok-S3cret-value";
const SECRETS = [
  HTPASSWD_PASSWORD,
  TOKEN_PASSWORD,
  "wrong-S3cret-value",
  Buffer.from(`${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`).toString("base64"),
  Buffer.from(`${TOKEN_USER}:${TOKEN_PASSWORD}`).toString("base64"),
];
/** Every error a provider threw in this file; none may carry a credential. */
const seenErrors: unknown[] = [];

const FAST_RETRIES = { retryBaseDelayMs: 5, retryMaxDelayMs: 40 } satisfies Partial<OciProviderOptions>;

let layout: string;
const digests: Record<string, string> = {};
const cleanups: Array<() => Promise<unknown>> = [];

function signal(ms = 20_000): AbortSignal {
  return AbortSignal.timeout(ms);
}

function provider(registryUrl: string, options: Partial<OciProviderOptions> = {}): OciProvider {
  const p = new OciProvider({ id: "lab", endpoint: registryUrl, insecure: true, ...FAST_RETRIES, ...options });
  cleanups.push(() => p.close());
  return p;
}

async function listAll(p: OciProvider, query: Partial<ListImagesQuery> = {}): Promise<ImageRecord[]> {
  const page = await p.listImages({ order: [], limit: 1000, signal: signal(), ...query });
  expect(page.done).toBe(true);
  return page.images;
}

/** The provider's registry client, to watch its calls settle (never to change what it does). */
function clientOf(p: OciProvider): DistributionClient {
  return (p as unknown as { client: DistributionClient }).client;
}

async function failure(promise: Promise<unknown>): Promise<RegplaneError> {
  try {
    await promise;
  } catch (e) {
    seenErrors.push(e);
    expect(e).toBeInstanceOf(RegplaneError);
    return e as RegplaneError;
  }
  throw new Error("expected a failure");
}

beforeAll(async () => {
  const dir = await makeTempDir("regplane-oci-test-");
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  layout = path.join(dir, "layout");
  for (const tag of ["a", "b", "amd", "arm", "d1", "d2"]) digests[tag] = await newImage(layout, tag);
  digests.multi = (await writeImageIndex(layout, { childTags: ["amd", "arm"], tag: "multi" })).digest;
  for (const [tag, created] of [["s1", "2021-01-01T00:00:00Z"], ["s2", "2023-01-01T00:00:00Z"], ["s3", "2022-01-01T00:00:00Z"]]) {
    digests[tag] = (await writeSyntheticImage(layout, { tag, created })).digest;
  }
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe("anonymous registry over plain http", () => {
  let reg: RunningRegistry;
  /** repository → tag → what skopeo reads from the registry. */
  const expected = new Map<string, { digest: string; tags: string[]; size: number; mediaType: string }[]>();

  beforeAll(async () => {
    reg = await startRegistry();
    cleanups.push(() => reg.stop());
    const pushes: Array<[string, string, string, Parameters<typeof pushImage>[5]?]> = [
      ["a", "demo/app", "v1"],
      ["a", "demo/app", "latest"],
      ["b", "demo/app", "v2"],
      ["a", "demo/docker", "v1", { format: "v2s2" }],
      ["multi", "multi/app", "v1", { all: true }],
      ["s1", "ns2/x", "one"],
      ["s2", "ns2/x", "two"],
      ["s3", "ns2/y", "three"],
      ["b", "gone/app", "v1"],
    ];
    for (const [tag, repository, destTag, options] of pushes) await pushImage(layout, tag, reg.host, repository, destTag, options);
    // An emptied repository stays in the catalog with "tags": null.
    const gone = await inspectRaw(reg.host, "gone/app:v1");
    const del = await fetch(`${reg.url}/v2/gone/app/manifests/${gone.digest}`, { method: "DELETE" });
    expect(del.status).toBe(202);

    for (const [, repository, destTag] of pushes.filter(([, r]) => r !== "gone/app")) {
      const raw = await inspectRaw(reg.host, `${repository}:${destTag}`);
      let size = 0;
      if (raw.manifest.manifests) {
        for (const child of raw.manifest.manifests as Array<{ digest: string }>) {
          const c = await inspectRaw(reg.host, `${repository}@${child.digest}`);
          size += c.manifest.config.size + (c.manifest.layers as Array<{ size: number }>).reduce((s, l) => s + l.size, 0);
        }
      } else {
        size = raw.manifest.config.size + (raw.manifest.layers as Array<{ size: number }>).reduce((s, l) => s + l.size, 0);
      }
      const list = expected.get(repository) ?? [];
      const same = list.find((e) => e.digest === raw.digest);
      if (same) same.tags.push(destTag);
      else list.push({ digest: raw.digest, tags: [destTag], size, mediaType: raw.manifest.mediaType ?? "application/vnd.oci.image.manifest.v1+json" });
      expected.set(repository, list);
    }
  });

  function expectedImages(): Array<{ repository: string; digest: string; tags: string[]; size: number; mediaType: string }> {
    return [...expected.entries()]
      .flatMap(([repository, list]) => list.map((e) => ({ repository, ...e, tags: [...e.tags].sort() })))
      .sort((a, b) => compareImages(a, b, []));
  }

  it("lists every image with the digests and sizes skopeo reads, tags grouped per digest, following catalog Links", async () => {
    const p = provider(reg.url, { catalogPageSize: 2 });
    const images = await listAll(p);
    expect(images.map((i) => ({ repository: i.repository, digest: i.digest, tags: i.tags, size: i.compressedSize, mediaType: i.mediaType }))).toEqual(
      expectedImages(),
    );
    // Six repositories in pages of two: the relative Link was followed to the end.
    expect(p.stats().byKind.catalog).toBe(3);

    const app = images.filter((i) => i.repository === "demo/app");
    expect(app.find((i) => i.digest === digests.a)?.tags).toEqual(["latest", "v1"]);
    const docker = images.find((i) => i.repository === "demo/docker")!;
    expect(docker.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    expect(docker.digest).not.toBe(digests.a);
    expect(docker.config?.mediaType).toBe("application/vnd.docker.container.image.v1+json");
    expect(docker.createdAtMs).toEqual(app.find((i) => i.digest === digests.a)!.createdAtMs);

    const ns2 = images.filter((i) => i.repository.startsWith("ns2/"));
    expect(ns2.map((i) => [i.tags[0], i.createdAtMs === undefined ? undefined : new Date(i.createdAtMs).toISOString()]).sort()).toEqual([
      ["one", "2021-01-01T00:00:00.000Z"],
      ["three", "2022-01-01T00:00:00.000Z"],
      ["two", "2023-01-01T00:00:00.000Z"],
    ]);
    const single = images.find((i) => i.tags.includes("one"))!;
    expect(single.config?.digest).toMatch(/^sha256:/);
    expect(single.layers).toHaveLength(1);
    expect(single.compressedSize).toBe(single.config!.size + single.layers[0].size);

    const multi = images.find((i) => i.repository === "multi/app")!;
    expect(multi.digest).toBe(digests.multi);
    expect(multi.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(multi.config).toBeUndefined();
    expect(multi.manifests.map((m) => m.digest)).toEqual([digests.amd, digests.arm]);
    expect(Number.isFinite(multi.createdAtMs)).toBe(true);
  });

  it("pages in native order with a cursor that resumes inside a repository", async () => {
    const p = provider(reg.url, { catalogPageSize: 2 });
    for (const limit of [1, 2, 3]) {
      const seen: ImageRecord[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 20; pages++) {
        const page = await p.listImages({ order: [], limit, nativeCursor: cursor, signal: signal() });
        expect(page.images.length).toBeLessThanOrEqual(limit);
        seen.push(...page.images);
        if (page.done) break;
        expect(page.images).toHaveLength(limit);
        cursor = page.nativeCursor;
        expect(cursor).toBeDefined();
      }
      expect(seen.map((i) => `${i.repository}@${i.digest}`)).toEqual(expectedImages().map((i) => `${i.repository}@${i.digest}`));
    }
  });

  it("orders by created_at and by name with keyset cursors that match compareImages", async () => {
    const p = provider(reg.url, { catalogPageSize: 2 });
    const all = await listAll(p);
    const orders: OrderTerm[][] = [
      [{ field: "created_at", desc: true }],
      [{ field: "created_at", desc: false }],
      [{ field: "name", desc: false }],
      [{ field: "name", desc: true }],
      [{ field: "digest", desc: false }],
    ];
    for (const order of orders) {
      const want = [...all].sort((a, b) => compareImages(a, b, order)).map((i) => i.digest + i.repository);
      const got: string[] = [];
      let after: ImageKey | undefined;
      for (let pages = 0; pages < 20; pages++) {
        const page = await p.listImages({ order, limit: 2, after, signal: signal() });
        got.push(...page.images.map((i) => i.digest + i.repository));
        if (page.done) break;
        after = imageKeyOf(page.images.at(-1)!);
      }
      expect(got, JSON.stringify(order)).toEqual(want);
    }
    const newest = await p.listImages({ order: [{ field: "created_at", desc: false }], limit: 1, signal: signal() });
    expect(newest.images[0].tags).toEqual(["one"]);
  });

  it("narrows to one repository with nameEquals or repository", async () => {
    const p = provider(reg.url);
    expect((await listAll(p, { nameEquals: "ns2/x" })).map((i) => i.tags[0]).sort()).toEqual(["one", "two"]);
    expect((await listAll(p, { repository: "demo/app" })).map((i) => i.repository)).toEqual(["demo/app", "demo/app"]);
    expect(await listAll(p, { repository: "demo/app", nameEquals: "ns2/x" })).toEqual([]);
    expect(await listAll(p, { nameEquals: "no/such" })).toEqual([]);
    expect(await listAll(p, { nameEquals: "Not A Name" })).toEqual([]);
    // A narrowed listing never reads the catalog.
    expect(p.stats().byKind.catalog).toBeUndefined();
  });

  it("gets one image by digest, including an untagged child of an index", async () => {
    const p = provider(reg.url);
    const image = await p.getImage("demo/app", digests.a, signal());
    expect(image).toMatchObject({ registryId: "lab", repository: "demo/app", digest: digests.a, tags: ["latest", "v1"] });
    expect(image?.compressedSize).toBe(expected.get("demo/app")!.find((e) => e.digest === digests.a)!.size);
    expect(await p.getImage("multi/app", digests.multi, signal())).toMatchObject({
      tags: ["v1"],
      compressedSize: expected.get("multi/app")![0].size,
    });
    const child = await p.getImage("multi/app", digests.amd, signal());
    expect(child).toMatchObject({ digest: digests.amd, tags: [] });
    // The manifest cache is content-addressed; presence in the repository is still checked.
    expect(await p.getImage("demo/app", digests.amd, signal())).toBeUndefined();
    expect(await p.getImage("no/such", digests.a, signal())).toBeUndefined();
    expect(await p.getImage("demo/app", `sha256:${"0".repeat(64)}`, signal())).toBeUndefined();
    expect(await p.getImage("demo/app", "v1", signal())).toBeUndefined();
  });

  it("lists and gets namespaces (first path segment)", async () => {
    const p = provider(reg.url, { catalogPageSize: 2 });
    const all = await p.listNamespaces({ limit: 100, signal: signal() });
    expect(all.namespaces.map((n) => n.name)).toEqual(["demo", "gone", "multi", "ns2"]);
    expect(all.done).toBe(true);
    expect(all.namespaces[0]).toMatchObject({ registryId: "lab", imageCount: 0, sizeBytes: 0 });
    const page = await p.listNamespaces({ after: "gone", limit: 1, signal: signal() });
    expect(page).toMatchObject({ namespaces: [{ name: "multi" }], done: false });
    expect((await p.listNamespaces({ nameEquals: "ns2", limit: 10, signal: signal() })).namespaces.map((n) => n.name)).toEqual(["ns2"]);
    expect(await p.getNamespace("demo", signal())).toMatchObject({ name: "demo" });
    expect(await p.getNamespace("ns", signal())).toBeUndefined();
    expect(await p.getNamespace("zzz", signal())).toBeUndefined();
  });

  it("lists configured repositories, expanding prefixes through the catalog", async () => {
    const p = provider(reg.url, { repositories: ["ns2/", "demo/app", "no/such"] });
    const images = await listAll(p);
    expect([...new Set(images.map((i) => i.repository))]).toEqual(["demo/app", "ns2/x", "ns2/y"]);
    const first = await p.listImages({ order: [], limit: 2, signal: signal() });
    const rest = await p.listImages({ order: [], limit: 10, nativeCursor: first.nativeCursor, signal: signal() });
    expect([...first.images, ...rest.images].map((i) => i.digest)).toEqual(images.map((i) => i.digest));
  });

  it("a warm walk sends only catalog, tags/list and HEAD requests (and no HEADs while tag maps are fresh)", async () => {
    const fresh = provider(reg.url, { listingCacheTtlMs: 0 });
    const cold = await listAll(fresh);
    const coldRequests = fresh.stats().requests;
    // A cold walk sends no HEADs: each of the 8 tags' manifests is read once by tag (two tags name one
    // digest), the index's two children once by digest, and each of 7 distinct configs once (the OCI
    // and Docker copies of image a share one).
    expect(fresh.stats().byKind).toEqual({ catalog: 1, tags: 6, manifest_get: 10, blob_get: 7 });
    fresh.client.resetStats();
    expect(await listAll(fresh)).toEqual(cold);
    const warm = fresh.stats();
    expect(Object.keys(warm.byKind).sort()).toEqual(["catalog", "manifest_head", "tags"]);
    expect(warm.byKind.tags).toBe(6);
    expect(warm.byKind.manifest_head).toBe(8);
    expect(warm.requests).toBeLessThan(coldRequests);

    const cached = provider(reg.url);
    await listAll(cached);
    cached.client.resetStats();
    await listAll(cached);
    expect(Object.keys(cached.stats().byKind).sort()).toEqual(["catalog", "tags"]);
    cached.client.resetStats();
    await cached.listImages({ order: [{ field: "created_at", desc: true }], limit: 2, signal: signal() });
    expect(Object.keys(cached.stats().byKind).sort()).toEqual(["catalog", "tags"]);
  });

  it("describes the registry with host:port only", () => {
    const p = provider(reg.url);
    expect(p.describe()).toMatchObject({
      id: "lab",
      provider: "oci",
      endpoint: reg.host,
      hostname: reg.host,
      capabilities: ["list_images", "delete_images", "list_namespaces", "delete_repositories", "delete_tags"],
    });
    expect(p.kind).toBe("oci");
    expect([...p.capabilities]).toEqual(["list_images", "delete_images", "list_namespaces", "delete_repositories", "delete_tags"]);
  });
});

describe("deletes", () => {
  let reg: RunningRegistry;

  beforeAll(async () => {
    reg = await startRegistry();
    cleanups.push(() => reg.stop());
    await pushImage(layout, "d1", reg.host, "del/app", "t1");
    await pushImage(layout, "d1", reg.host, "del/app", "t1b");
    await pushImage(layout, "d2", reg.host, "del/app", "t2");
    await pushImage(layout, "d1", reg.host, "del/other", "t1");
  });

  it("deletes by digest: every tag of that digest goes, other tags and repositories stay; again is success", async () => {
    const p = provider(reg.url);
    expect((await listAll(p, { repository: "del/app" })).length).toBe(2);
    await p.deleteImage("del/app", digests.d1, signal());
    await expect(run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/del/app@${digests.d1}`])).rejects.toThrow();
    await expect(run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/del/app:t1b`])).rejects.toThrow();
    expect((await inspectRaw(reg.host, "del/app:t2")).digest).toBe(digests.d2);
    expect((await inspectRaw(reg.host, "del/other:t1")).digest).toBe(digests.d1);

    const left = await listAll(p, { repository: "del/app" });
    expect(left.map((i) => [i.digest, i.tags])).toEqual([[digests.d2, ["t2"]]]);
    expect(await p.getImage("del/app", digests.d1, signal())).toBeUndefined();
    expect(await p.getImage("del/other", digests.d1, signal())).toMatchObject({ tags: ["t1"] });

    await p.deleteImage("del/app", digests.d1, signal());
    await p.deleteImage("no/such", digests.d1, signal());
    expect((await failure(p.deleteImage("del/app", "t2", signal()))).code).toBe(Code.INVALID_ARGUMENT);
  });

  it("fails with FAILED_PRECONDITION when the registry has deletes disabled", async () => {
    const readOnly = await startRegistry({ deletes: false });
    cleanups.push(() => readOnly.stop());
    await pushImage(layout, "d1", readOnly.host, "del/app", "t1");
    const p = provider(readOnly.url);
    const e = await failure(p.deleteImage("del/app", digests.d1, signal()));
    expect(e.code).toBe(Code.FAILED_PRECONDITION);
    expect(e.message).toMatch(/deletes are disabled/);
    expect(e.errorInfo?.metadata).toMatchObject({ http_status: "405", provider: "oci", registry_id: "lab" });
    expect((await inspectRaw(readOnly.host, "del/app:t1")).digest).toBe(digests.d1);
  });
});

describe("htpasswd (Basic) registry", () => {
  let reg: RunningRegistry;
  const creds = `${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`;

  beforeAll(async () => {
    reg = await startRegistry({ auth: { kind: "htpasswd", users: { [HTPASSWD_USER]: HTPASSWD_PASSWORD } } });
    cleanups.push(() => reg.stop());
    await pushImage(layout, "d1", reg.host, "team/app", "v1", { credentials: creds });
    await pushImage(layout, "d2", reg.host, "team/app", "v2", { credentials: creds });
  });

  it("lists, gets and deletes with Basic credentials", async () => {
    const p = provider(reg.url, { username: HTPASSWD_USER, password: HTPASSWD_PASSWORD });
    const images = await listAll(p);
    expect(Object.fromEntries(images.map((i) => [i.digest, i.tags]))).toEqual({ [digests.d1]: ["v1"], [digests.d2]: ["v2"] });
    await p.deleteImage("team/app", digests.d2, signal());
    expect((await listAll(p)).map((i) => i.digest)).toEqual([digests.d1]);
    // After the first challenge Basic goes up front: a warm walk is catalog + tags/list, no 401s.
    p.client.resetStats();
    await listAll(p);
    expect(p.stats()).toEqual({ requests: 2, byKind: { catalog: 1, tags: 1 } });
  });

  it("fails with FAILED_PRECONDITION without or with wrong credentials, never echoing them", async () => {
    const anonymous = provider(reg.url);
    const e1 = await failure(listAll(anonymous));
    expect(e1.code).toBe(Code.FAILED_PRECONDITION);
    expect(e1.message).toMatch(/401/);
    const wrong = provider(reg.url, { username: HTPASSWD_USER, password: "wrong-S3cret-value" });
    const e2 = await failure(listAll(wrong));
    expect(e2.code).toBe(Code.FAILED_PRECONDITION);
    expect(e2.errorInfo?.reason).toBe("PROVIDER_CREDENTIALS_REJECTED");
  });
});

describe("Bearer token registry", () => {
  let tokens: TokenServer;
  let reg: RunningRegistry;
  const creds = `${TOKEN_USER}:${TOKEN_PASSWORD}`;

  beforeAll(async () => {
    tokens = await startTokenServer({ users: { [TOKEN_USER]: TOKEN_PASSWORD }, service: "regplane-test", issuer: "regplane-test-issuer" });
    cleanups.push(() => tokens.stop());
    reg = await startRegistry({
      auth: { kind: "token", realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.certPath },
    });
    cleanups.push(() => reg.stop());
    await pushImage(layout, "d1", reg.host, "team/app", "v1", { credentials: creds });
    await pushImage(layout, "d2", reg.host, "team/app", "v2", { credentials: creds });
    await pushImage(layout, "d1", reg.host, "team/other", "v1", { credentials: creds });
  });

  it("gets tokens per scope with the credentials, caches them, and lists and deletes", async () => {
    tokens.requests.length = 0;
    const p = provider(reg.url, { username: TOKEN_USER, password: TOKEN_PASSWORD });
    const images = await listAll(p);
    expect(images.map((i) => `${i.repository}@${i.digest}`)).toEqual(
      [`team/app@${digests.d1}`, `team/app@${digests.d2}`].sort().concat(`team/other@${digests.d1}`),
    );
    expect(tokens.requests.every((r) => r.authorized && r.user === TOKEN_USER && r.service === "regplane-test")).toBe(true);
    const scopes = tokens.requests.map((r) => r.scopes.join(" ")).sort();
    expect(scopes).toEqual(["registry:catalog:*", "repository:team/app:pull", "repository:team/other:pull"]);

    const tokenRequests = tokens.requests.length;
    await listAll(p);
    expect(tokens.requests.length).toBe(tokenRequests);

    await p.deleteImage("team/app", digests.d2, signal());
    expect(tokens.requests.at(-1)!.scopes).toEqual(["repository:team/app:pull,delete"]);
    await expect(run("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", creds, `docker://${reg.host}/team/app@${digests.d2}`])).rejects.toThrow();
    expect((await listAll(p, { repository: "team/app" })).map((i) => i.digest)).toEqual([digests.d1]);
  });

  it("fails with FAILED_PRECONDITION when the token service rejects the credentials", async () => {
    const p = provider(reg.url, { username: TOKEN_USER, password: "wrong-S3cret-value" });
    const e = await failure(listAll(p));
    expect(e.code).toBe(Code.FAILED_PRECONDITION);
    expect(e.message).toMatch(/token/);
  });

  describe("with the realm on another host", () => {
    let remoteTokens: TokenServer;
    let remoteReg: RunningRegistry;

    beforeAll(async () => {
      remoteTokens = await startTokenServer({
        users: { [TOKEN_USER]: TOKEN_PASSWORD },
        service: "regplane-remote",
        issuer: "regplane-remote-issuer",
        host: "127.0.0.2",
      });
      cleanups.push(() => remoteTokens.stop());
      remoteReg = await startRegistry({
        auth: { kind: "token", realm: remoteTokens.realm, service: remoteTokens.service, issuer: remoteTokens.issuer, rootCertBundle: remoteTokens.certPath },
      });
      cleanups.push(() => remoteReg.stop());
      await pushImage(layout, "d1", remoteReg.host, "team/app", "v1", { credentials: creds });
    });

    it("withholds the credentials unless the host is allowed", async () => {
      remoteTokens.requests.length = 0;
      const warnings: string[] = [];
      const p = provider(remoteReg.url, {
        username: TOKEN_USER,
        password: TOKEN_PASSWORD,
        logger: { warn: (msg, ctx) => warnings.push(`${msg} ${JSON.stringify(ctx)}`) },
      });
      const e = await failure(listAll(p));
      expect(e.code).toBe(Code.FAILED_PRECONDITION);
      expect(e.message).toMatch(/withheld/);
      expect(remoteTokens.requests.length).toBeGreaterThan(0);
      expect(remoteTokens.requests.every((r) => !r.authorized)).toBe(true);
      expect(warnings.join("\n")).toMatch(/127\.0\.0\.2/);
      for (const s of SECRETS) expect(warnings.join("\n")).not.toContain(s);

      remoteTokens.requests.length = 0;
      const allowed = provider(remoteReg.url, { username: TOKEN_USER, password: TOKEN_PASSWORD, allowedRealmHosts: ["127.0.0.2"] });
      expect((await listAll(allowed)).map((i) => i.digest)).toEqual([digests.d1]);
      expect(remoteTokens.requests.every((r) => r.authorized && r.user === TOKEN_USER)).toBe(true);
    });
  });
});

describe("faults", () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  const tagRequests = () => proxy.seen.filter((s) => s.includes("/tags/list")).length;

  beforeAll(async () => {
    reg = await startRegistry();
    cleanups.push(() => reg.stop());
    for (const [tag, repository] of [["d1", "f/a"], ["d2", "f/b"], ["s1", "f/c"]]) await pushImage(layout, tag, reg.host, repository, "v1");
    proxy = await startFaultProxy(reg);
    cleanups.push(() => proxy.kill());
  });

  function reset(): void {
    proxy.rules = [];
    proxy.seen = [];
    proxy.maxInFlight = 0;
    proxy.rewriteLink = undefined;
    proxy.tamper = undefined;
  }

  it("fails the page, and only the page, when a repository read ahead fails while an earlier one is still read", async () => {
    reset();
    // The window reads f/b and f/c together once f/a is done: f/c fails while f/b is held unanswered.
    const fb = new Gate();
    proxy.onRequest = (_n, req) => (req.url?.includes("/v2/f/b/") ? fb.pass() : undefined);
    proxy.rules.push({ match: /\/v2\/f\/c\/tags\/list/, status: 403, body: '{"errors":[{"code":"DENIED","message":"no"}]}', times: 100 });
    const p = provider(proxy.url, { maxConcurrency: 4 });
    const tagLists = vi.spyOn(clientOf(p), "listTags");
    const failed = failure(p.listImages({ order: [], limit: 10, signal: signal() }));
    await until(() => tagLists.mock.settledResults.some((r) => r.type === "rejected"));
    expect(fb.waiting).toBeGreaterThan(0);
    fb.open();
    const e = await failed;
    expect(e.message).toMatch(/f\/c|403|denied/i);
    proxy.onRequest = undefined;
    reset();
    expect(await listAll(p)).toHaveLength(3);
  });

  it("keeps at most maxConcurrency requests in flight", async () => {
    reset();
    // Once f/a is read, f/b and f/c are read together: their tag lists are held until both are out.
    const tagsOfBC = /\/v2\/f\/[bc]\/tags\/list/;
    let held = new Gate();
    proxy.onRequest = (_n, req) => (tagsOfBC.test(req.url ?? "") ? held.pass() : undefined);
    const two = listAll(provider(proxy.url, { maxConcurrency: 2 }));
    await held.arrivals(2);
    held.open();
    expect(await two).toHaveLength(3);
    expect(proxy.maxInFlight).toBe(2);
    reset();
    // With one permit, f/c's tag list cannot go out while f/b's is held.
    held = new Gate();
    const one = listAll(provider(proxy.url, { maxConcurrency: 1 }));
    await held.arrivals(1);
    await settle(20);
    expect(held.arrived).toBe(1);
    held.open();
    expect(await one).toHaveLength(3);
    expect(proxy.maxInFlight).toBe(1);
    proxy.onRequest = undefined;
  });

  it("waits for Retry-After on 429, then succeeds", async () => {
    reset();
    proxy.rules.push({ match: /tags\/list/, status: 429, headers: { "retry-after": "1" }, body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}', times: 1 });
    const p = provider(proxy.url);
    const started = Date.now();
    expect(await listAll(p, { repository: "f/a" })).toHaveLength(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(tagRequests()).toBe(2);
    expect(p.stats().byKind.tags).toBe(2);
  });

  it("retries 503 with backoff and gives up after the attempt limit with UNAVAILABLE", async () => {
    reset();
    proxy.rules.push({ match: /tags\/list/, status: 503, times: 2 });
    const p = provider(proxy.url);
    expect(await listAll(p, { repository: "f/a" })).toHaveLength(1);
    expect(tagRequests()).toBe(3);

    reset();
    proxy.rules.push({ match: /tags\/list/, status: 503, body: '{"errors":[{"code":"UNAVAILABLE","message":"maintenance"}]}', times: 100 });
    const e = await failure(listAll(provider(proxy.url), { repository: "f/a" }));
    expect(e.code).toBe(Code.UNAVAILABLE);
    expect(e.message).toMatch(/maintenance/);
    expect(tagRequests()).toBe(4);
  });

  it("reports a Retry-After beyond its patience, and never waits past the caller's deadline", async () => {
    reset();
    proxy.rules.push({ match: /tags\/list/, status: 429, headers: { "retry-after": "120" }, times: 1 });
    const e = await failure(listAll(provider(proxy.url), { repository: "f/a" }));
    expect(e.code).toBe(Code.RESOURCE_EXHAUSTED);
    expect(e.retryDelayMs).toBe(120_000);
    expect(tagRequests()).toBe(1);

    reset();
    // The caller's deadline passes (as AbortSignal.timeout signals it) while the client waits out a 5 s Retry-After.
    const retryAt = new Date(Date.now() + 5_000).toUTCString();
    proxy.rules.push({ match: /tags\/list/, status: 429, headers: { "retry-after": retryAt }, times: 1 });
    const retrying: string[] = [];
    const logger = { warn: () => {}, debug: (msg: string) => void retrying.push(msg) };
    const deadline = new AbortController();
    const waited = failure(provider(proxy.url, { logger }).listImages({ order: [], repository: "f/a", limit: 10, signal: deadline.signal }));
    await until(() => retrying.includes("registry asked to retry"));
    let settledAt: number | undefined;
    void waited.finally(() => (settledAt = tagRequests()));
    deadline.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError"));
    await settle();
    expect(settledAt).toBe(1);
    expect((await waited).code).toBe(Code.DEADLINE_EXCEEDED);
  });

  it("follows an absolute Link to the same host and refuses one to another host", async () => {
    reset();
    proxy.rewriteLink = (link) => link.replace("</v2/", `<${proxy.url}/v2/`);
    expect(await listAll(provider(proxy.url, { catalogPageSize: 1 }))).toHaveLength(3);
    proxy.rewriteLink = (link) => link.replace("</v2/", `<http://127.0.0.2:${proxy.port}/v2/`);
    const e = await failure(listAll(provider(proxy.url, { catalogPageSize: 1 })));
    expect(e.code).toBe(Code.FAILED_PRECONDITION);
    expect(e.errorInfo?.reason).toBe("PROVIDER_LINK_REFUSED");
    expect(proxy.seen.some((s) => s.includes("127.0.0.2"))).toBe(false);
  });

  it("a caller joining a fetch whose starter was cancelled gets the image, not the cancellation", async () => {
    reset();
    const held = new Gate();
    proxy.onRequest = (_n, req) => (req.method === "GET" && req.url?.includes(`/manifests/${digests.d1}`) ? held.pass() : undefined);
    const p = provider(proxy.url);
    // The manifest GET is held; the patient caller joins the impatient one's fetch, then the impatient one's deadline passes.
    const manifestFetches = vi.spyOn(clientOf(p), "getManifest");
    const impatientDeadline = new AbortController();
    const impatient = failure(p.getImage("f/a", digests.d1, impatientDeadline.signal));
    await held.arrivals(1);
    const patient = p.getImage("f/a", digests.d1, signal());
    await until(() => manifestFetches.mock.calls.filter((args) => args[1] === digests.d1).length === 2);
    impatientDeadline.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError"));
    expect((await impatient).code).toBe(Code.DEADLINE_EXCEEDED);
    held.open();
    expect(await patient).toMatchObject({ digest: digests.d1, tags: ["v1"] });
    // Under load the starter's GET is sometimes answered before its cancellation reaches the wire, and the
    // joiner is served by it; otherwise the joiner sends its own. Never a third.
    const gets = proxy.seen.filter((s) => s.startsWith("GET") && s.includes("/manifests/sha256:")).length;
    expect(gets).toBeGreaterThanOrEqual(1);
    expect(gets).toBeLessThanOrEqual(2);
    proxy.onRequest = undefined;
  });

  it("rejects a manifest whose bytes do not match its digest", async () => {
    reset();
    proxy.tamper = /\/manifests\//;
    const e = await failure(listAll(provider(proxy.url), { repository: "f/a" }));
    expect(e.code).toBe(Code.DATA_LOSS);
  });

  it("treats prefixes as exact names when the catalog is closed, and says so when nothing is configured", async () => {
    reset();
    proxy.rules.push({ match: /_catalog/, status: 404, body: '{"errors":[{"code":"UNSUPPORTED","message":"catalog disabled"}]}', times: 1000 });
    const p = provider(proxy.url, { repositories: ["f/a/", "f/b"] });
    expect((await listAll(p)).map((i) => i.repository)).toEqual(["f/a", "f/b"]);
    const e = await failure(listAll(provider(proxy.url)));
    expect(e.code).toBe(Code.NOT_FOUND);
    expect(e.message).toMatch(/repositories/);
  });

  it("fails with UNAVAILABLE when the registry stops mid-walk, then skips it while the circuit is open", async () => {
    const victim = await startRegistry();
    cleanups.push(() => victim.stop());
    for (const repository of ["v/a", "v/b", "v/c", "v/d"]) await pushImage(layout, "d1", victim.host, repository, "v1");
    const doomed = await startFaultProxy(victim);
    cleanups.push(() => doomed.kill());
    doomed.onRequest = async (n) => {
      if (n === 4) {
        await victim.stop();
        await doomed.kill();
      }
    };
    const p = provider(doomed.url, { breakerThreshold: 3, breakerCooldownMs: 30_000, maxConcurrency: 2 });
    const e = await failure(listAll(p));
    expect(e.code).toBe(Code.UNAVAILABLE);
    expect(e.errorInfo?.reason).toBe("PROVIDER_UNREACHABLE");
    // Skipped, not tried: no request goes out (and so none waits on a connection or a backoff).
    const sentBefore = p.stats().requests;
    const fast = await failure(listAll(p));
    expect(fast.code).toBe(Code.UNAVAILABLE);
    expect(fast.message).toMatch(/consecutive failures/);
    expect(fast.retryDelayMs).toBeGreaterThan(0);
    expect(p.stats().requests).toBe(sentBefore);
  });
});

describe("TLS", () => {
  it("verifies certificates unless insecure", async () => {
    const tls = await selfSignedCertificate();
    cleanups.push(() => fs.rm(path.dirname(tls.certificate), { recursive: true, force: true }));
    const reg = await startRegistry({ tls });
    cleanups.push(() => reg.stop());
    await pushImage(layout, "d1", reg.host, "tls/app", "v1");
    expect(reg.url).toMatch(/^https:/);
    const strict = provider(reg.url, { insecure: false });
    const e = await failure(listAll(strict));
    expect(e.code).toBe(Code.FAILED_PRECONDITION);
    expect(e.errorInfo?.reason).toBe("PROVIDER_TLS_UNTRUSTED");
    expect(strict.stats().requests).toBe(1);
    expect((await listAll(provider(reg.url, { insecure: true }))).map((i) => i.digest)).toEqual([digests.d1]);
    expect(() => new OciProvider({ id: "plain", endpoint: "http://127.0.0.1:1" })).toThrow(/insecure/);
  });
});

describe("bounded caches", () => {
  const NAMES = 10_500;

  /**
   * A registry where every repository has no tags, in memory: with `bearer`, each request needs a token
   * for its scope, and `tokenGate` (when given) holds every token response until it opens.
   */
  async function fakeRegistry(options: { bearer?: boolean; tokenGate?: Gate } = {}): Promise<{ url: string; stop: () => Promise<void> }> {
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://fake");
      if (url.pathname === "/token") {
        const answer = () => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: `t-${url.searchParams.get("scope")}`, expires_in: 300 }));
        if (options.tokenGate) void options.tokenGate.pass().then(answer);
        else answer();
        return;
      }
      const tags = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
      if (options.bearer && !req.headers.authorization?.startsWith("Bearer ")) {
        const scope = tags ? `repository:${tags[1]}:pull` : "registry:catalog:*";
        res.writeHead(401, { "www-authenticate": `Bearer realm="http://127.0.0.1:${(server.address() as AddressInfo).port}/token",service="fake",scope="${scope}"` }).end();
        return;
      }
      if (tags) res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ name: tags[1], tags: [] }));
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  /** Lists the one repository of each name, `width` listings at a time. */
  async function listEach(p: OciProvider, names: string[], width = 64): Promise<void> {
    for (let i = 0; i < names.length; i += width) {
      await Promise.all(names.slice(i, i + width).map((repository) => p.listImages({ order: [], limit: 10, repository, signal: signal() })));
    }
  }

  const names = Array.from({ length: NAMES }, (_, i) => `bounded/r${i}`);

  it("keeps at most 10,000 repositories' tag maps, and remembers at most 10,000 repositories as read", async () => {
    const reg = await fakeRegistry();
    cleanups.push(reg.stop);
    const p = provider(reg.url);
    await listEach(p, names);
    expect(p.stats().byKind.tags).toBe(NAMES);
    // Full, and no larger: the least recently used repositories were let go.
    expect(p.cacheSizes().tagMaps).toBe(10_000);
    expect(p.cacheSizes().repositoriesRead).toBe(10_000);
  });

  it("keeps at most 10,000 scopes' Bearer tokens", async () => {
    const reg = await fakeRegistry({ bearer: true });
    cleanups.push(reg.stop);
    const p = provider(reg.url);
    await listEach(p, names);
    expect(p.stats().byKind.token).toBe(NAMES);
    expect(p.cacheSizes().tokens).toBe(10_000);
  });

  it("shares at most 10,000 scopes' token fetches at once", async () => {
    const gate = new Gate();
    const reg = await fakeRegistry({ bearer: true, tokenGate: gate });
    cleanups.push(reg.stop);
    const p = provider(reg.url, { requestTimeoutMs: 120_000 });
    // The first listing learns that the registry wants Bearer tokens; from then on each scope's token is fetched first.
    const first = p.listImages({ order: [], limit: 10, repository: "bounded/first", signal: signal(120_000) });
    await gate.arrivals(1);
    gate.releaseHeld();
    await first;
    const listings = names.map((repository) => p.listImages({ order: [], limit: 10, repository, signal: signal(120_000) }));
    await gate.arrivals(2);
    await settle();
    expect(p.cacheSizes().tokenFlights).toBe(10_000);
    gate.open();
    await Promise.all(listings);
    expect(p.cacheSizes().tokenFlights).toBe(0);
  });
});

describe("header parsing", () => {
  it("parses WWW-Authenticate challenges with quoted commas and several schemes", () => {
    expect(
      parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push",error="insufficient_scope"'),
    ).toEqual([
      {
        scheme: "bearer",
        params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull,push", error: "insufficient_scope" },
      },
    ]);
    expect(parseChallenges(['Basic realm="a, b"', 'Negotiate abc==, Bearer realm=x , service = "s\\"q"'])).toEqual([
      { scheme: "basic", params: { realm: "a, b" } },
      { scheme: "negotiate", params: {} },
      { scheme: "bearer", params: { realm: "x", service: 's"q' } },
    ]);
  });

  it("finds the next Link and parses Retry-After", () => {
    expect(parseNextLink('</v2/_catalog?last=a%2Fb&n=2>; rel="next"')).toBe("/v2/_catalog?last=a%2Fb&n=2");
    expect(parseNextLink('<https://x/prev>; rel="prev", <https://x/next>; rel=next')).toBe("https://x/next");
    expect(parseNextLink(undefined)).toBeUndefined();
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter(new Date(Date.now() + 10_000).toUTCString())).toBeGreaterThan(8000);
    expect(parseRetryAfter("soon")).toBeUndefined();
  });
});

describe("credentials", () => {
  it("never appear in any error message or detail", () => {
    expect(seenErrors.length).toBeGreaterThan(5);
    for (const e of seenErrors) {
      const err = e as RegplaneError;
      const text = `${err.message} ${JSON.stringify(err.errorInfo)} ${String(err.stack)}`;
      for (const s of SECRETS) expect(text).not.toContain(s);
    }
  });
});
