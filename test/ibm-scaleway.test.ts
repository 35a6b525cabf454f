// Kept as one file: the cases share one server process over both fakes and the embedded registry, started once in beforeAll.
// IBM Cloud and Scaleway registries through regplane's gRPC API: the real server process, configured
// with YAML (secrets from the environment), pointing at the IBM and Scaleway fakes, next to the
// embedded registry holding images copied in by skopeo.
import { randomBytes, randomUUID } from "node:crypto";
import * as path from "node:path";
import { createRegistry, toBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RetryInfoSchema, ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { StatusSchema, type Status } from "../src/gen/google/rpc/status_pb.js";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { NamespaceSchema, Visibility, type Namespace } from "../src/gen/regplane/v1/namespace_pb.js";
import { NamespaceService } from "../src/gen/regplane/v1/namespace_service_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { IbmProvider } from "../src/adapters/ibm/index.js";
import { ScalewayProvider } from "../src/adapters/scaleway/index.js";
import { RegplaneError } from "../src/core/errors.js";
import type { ImageRecord } from "../src/core/types.js";
import { IbmFake, OCI_MANIFEST } from "./fakes/ibm.js";
import { ScalewayFake } from "./fakes/scaleway.js";
import { errorInfo, GrpcClient, GrpcError, grpcFailure } from "./support/clients.js";
import { buildBaseLayout, copyToLayout, makeTempDir } from "./support/images.js";
import { startServer, type ServerProcess } from "./support/server.js";
import { Gate, until } from "./support/gate.js";

const IBM_KEY = `ibm-apikey-${randomBytes(12).toString("hex")}`;
const IBM_WRONG_KEY = `ibm-apikey-${randomBytes(12).toString("hex")}`;
const SCW_KEY = randomUUID();
const SCW_WRONG_KEY = randomUUID();
const SECRETS = [IBM_KEY, IBM_WRONG_KEY, SCW_KEY, SCW_WRONG_KEY];

const Code = { INVALID_ARGUMENT: 3, NOT_FOUND: 5, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, UNAVAILABLE: 14 } as const;
const details = createRegistry(RetryInfoSchema, ErrorInfoSchema, NamespaceSchema);

let ibm: IbmFake;
let scw: ScalewayFake;
let server: ServerProcess;
let images: GrpcClient;
let namespaces: GrpcClient;
let operations: GrpcClient;
/** "local/<repository>@<digest>" of the embedded registry's images. */
let localImages: string[];

const key = (i: Image) => `${i.name}@${i.digest}`;

/** Every page of a List with this request and page size. */
async function listAll(req: Record<string, unknown>, pageSize: number): Promise<{ images: Image[]; pages: number; unreachable: string[] }> {
  const out: Image[] = [];
  const unreachable = new Set<string>();
  let token = "";
  let pages = 0;
  do {
    const res = await images.call("list", { ...req, pageSize: BigInt(pageSize), pageToken: token });
    expect(res.images.length).toBeLessThanOrEqual(pageSize);
    out.push(...(res.images as Image[]));
    for (const id of res.unreachable as string[]) unreachable.add(id);
    token = res.nextPageToken;
    pages++;
    expect(pages).toBeLessThan(200);
  } while (token !== "");
  return { images: out, pages, unreachable: [...unreachable] };
}

/** Submits, then Waits until the operation is done; returns the finished Operation. */
async function finished(submitted: Promise<any>): Promise<any> {
  let op = await submitted;
  expect(op.id).toMatch(/^op/);
  const polled = await operations.call("get", { operationId: op.id });
  expect(polled.id).toBe(op.id);
  for (let i = 0; i < 10 && !op.done; i++) op = await operations.call("wait", { operationId: op.id, timeout: { seconds: 20n } });
  expect(op.done).toBe(true);
  return op;
}

function expectSucceeded(op: any): void {
  if (op.result?.case === "error") throw new Error(`operation failed: ${op.result.value.code} ${op.result.value.message}`);
  expect(op.result?.case).toBe("response");
}

function retryInfo(status: Status | undefined) {
  for (const d of status?.details ?? []) {
    const msg = anyUnpack(d, details);
    if (msg?.$typeName === "google.rpc.RetryInfo") return msg as { retryDelay?: { seconds: bigint; nanos: number } };
  }
  return undefined;
}

function expectNoSecret(e: GrpcError): void {
  const bytes = Buffer.from(toBinary(StatusSchema, e.status!));
  for (const secret of SECRETS) {
    expect(e.message).not.toContain(secret);
    expect(bytes.includes(secret)).toBe(false);
  }
}

beforeAll(async () => {
  ibm = await IbmFake.start({ apiKey: IBM_KEY });
  ibm.addNamespace("team-a");
  ibm.addNamespace("team-b");
  ibm.pushImage("team-a/app", ["1.0"], { created: new Date("2024-01-01T00:00:00Z") });
  ibm.pushImage("team-a/app", ["2.0", "latest"], { mediaType: OCI_MANIFEST, created: new Date("2024-03-01T00:00:00Z") });
  ibm.pushImage("team-a/app", [], { created: new Date("2023-06-01T00:00:00Z") });
  ibm.pushImage("team-a/web", ["v1"], { layers: 3, created: new Date("2024-02-01T00:00:00Z") });
  ibm.pushImage("team-a/web", ["v2"], { created: new Date("2024-02-02T00:00:00Z") });
  ibm.pushImage("team-b/tool", ["stable"], { created: new Date("2022-01-01T00:00:00Z") });
  ibm.pushImage("team-b/db/postgres", ["16"], { created: new Date("2024-05-01T00:00:00Z") });

  scw = await ScalewayFake.start({ secretKey: SCW_KEY, deletingMs: 400 });
  scw.addNamespace("shop", { description: "the shop" });
  scw.pushTag("shop/api", "v1");
  const v2 = scw.pushTag("shop/api", "v2");
  scw.pushTag("shop/api", "latest", v2);
  scw.pushTag("shop/api", "v3");
  scw.pushTag("shop/web", "1");
  scw.pushTag("blog/site", "main");
  scw.pushTag("blog/site", "old");
  scw.pushTag("blog/site", "next");

  const source = await makeTempDir();
  const base = await buildBaseLayout(path.join(source, "layout"));
  const dataDir = await makeTempDir();
  const registry = path.join(dataDir, "registry");
  const d1 = await copyToLayout(base.dir, "v1", path.join(registry, "team/app"), "v1");
  const d2 = await copyToLayout(base.dir, "v2", path.join(registry, "team/app"), "v2");
  const d3 = await copyToLayout(base.dir, "base", path.join(registry, "tools/base"), "1");
  localImages = [`local/team/app@${d1}`, `local/team/app@${d2}`, `local/tools/base@${d3}`];

  const config = `
server:
  registryTimeout: 4s
registries:
  - id: local
    provider: local
  - id: ibm
    provider: ibm
    insecure: true
    registryUrl: ${ibm.url}
    iamUrl: ${ibm.url}
    account: ${ibm.account}
    apiKey: \${IBM_API_KEY}
    resourceGroup: rg-test
    maxAttempts: 3
  - id: ibm-bad
    provider: ibm
    insecure: true
    registryUrl: ${ibm.url}
    iamUrl: ${ibm.url}
    account: ${ibm.account}
    apiKey: \${IBM_WRONG_KEY}
    maxAttempts: 1
  - id: scw
    provider: scaleway
    insecure: true
    region: fr-par
    apiUrl: ${scw.url}
    projectId: ${scw.projectId}
    secretKey: \${SCW_SECRET_KEY}
    pollInterval: 100ms
    maxAttempts: 3
  - id: scw-bad
    provider: scaleway
    insecure: true
    region: fr-par
    apiUrl: ${scw.url}
    projectId: ${scw.projectId}
    secretKey: \${SCW_WRONG_KEY}
    maxAttempts: 1
folders:
  - id: mixed
    registries: [local, ibm, scw]
  - id: broken
    registries: [ibm-bad, scw-bad]
`;
  server = await startServer({
    dataDir,
    config,
    env: { IBM_API_KEY: IBM_KEY, IBM_WRONG_KEY, SCW_SECRET_KEY: SCW_KEY, SCW_WRONG_KEY },
  });
  images = new GrpcClient(ImageService, server.grpcAddress);
  namespaces = new GrpcClient(NamespaceService, server.grpcAddress);
  operations = new GrpcClient(OperationService, server.grpcAddress);
}, 120_000);

afterAll(async () => {
  images?.close();
  namespaces?.close();
  operations?.close();
  if (server) expect(await server.stop()).toBe(0);
  await ibm?.close();
  await scw?.close();
});

describe("IBM Cloud Container Registry", () => {
  it("lists every image in small pages, each once, with the tags, config and layers IBM holds", async () => {
    const { images: listed, pages } = await listAll({ registryId: "ibm" }, 2);
    expect(pages).toBeGreaterThanOrEqual(4);
    expect(listed.map(key).sort()).toEqual(ibm.allImages().map((x) => `ibm/${x}`));
    expect(new Set(listed.map(key)).size).toBe(listed.length);
    // Native order: repository, then digest.
    const pairs = listed.map((i) => [i.name, i.digest]);
    expect(pairs).toEqual([...pairs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1)));
    for (const image of listed) {
      const repository = image.name.slice("ibm/".length);
      const manifest = ibm.manifests.get(image.digest)!;
      expect(image.tags).toEqual(ibm.tagsOf(repository, image.digest));
      expect(image.config?.digest).toBe(manifest.config.digest);
      expect(image.layers.map((l) => l.digest)).toEqual(manifest.layers.map((l) => l.digest));
      expect(Number(image.compressedSize)).toBe(manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0));
      expect(image.mediaType).toBe(manifest.mediaType);
      expect(Number(image.createdAt?.seconds)).toBe(manifest.created);
    }
  });

  it("lists in an order across pages, and filtered by name", async () => {
    const byName = (await listAll({ registryId: "ibm", orderBy: "name desc" }, 2)).images;
    expect(byName.map(key).sort()).toEqual(ibm.allImages().map((x) => `ibm/${x}`));
    for (let i = 1; i < byName.length; i++) expect(byName[i - 1].name >= byName[i].name).toBe(true);
    const byAge = (await listAll({ registryId: "ibm", orderBy: "created_at desc" }, 3)).images;
    const seconds = byAge.map((i) => Number(i.createdAt?.seconds));
    expect(seconds).toEqual([...seconds].sort((a, b) => b - a));
    const app = (await listAll({ registryId: "ibm", filter: 'name="ibm/team-a/app"' }, 2)).images;
    expect(app.map((i) => i.digest).sort()).toEqual(ibm.digestsOf("team-a/app"));
    const nested = (await listAll({ repositoryName: "ibm/team-b/db/postgres" }, 5)).images;
    expect(nested.map((i) => i.tags)).toEqual([["16"]]);
  });

  it("gets an image by the id List returned", async () => {
    const listed = (await listAll({ registryId: "ibm", filter: 'name="ibm/team-a/web"' }, 10)).images;
    const first = listed[0];
    const got: Image = await images.call("get", { imageId: first.id });
    expect(got.digest).toBe(first.digest);
    expect(got.tags).toEqual(first.tags);
    expect(got.layers.map((l) => l.digest)).toEqual(ibm.manifests.get(first.digest)!.layers.map((l) => l.digest));
  });

  it("deletes an image as an operation; once done it is gone from IBM, List and Get", async () => {
    const listed = (await listAll({ registryId: "ibm", filter: 'name="ibm/team-a/web"' }, 10)).images;
    const victim = listed.find((i) => i.tags.includes("v1"))!;
    ibm.resetCounts();
    expectSucceeded(await finished(images.call("delete", { imageId: victim.id })));
    expect(ibm.count("POST /api/v1/images/bulkdelete")).toBe(1);
    expect(ibm.digestsOf("team-a/web")).not.toContain(victim.digest);
    expect((await grpcFailure(images.call("get", { imageId: victim.id }))).code).toBe(Code.NOT_FOUND);
    const after = (await listAll({ registryId: "ibm" }, 50)).images;
    expect(after.map(key)).not.toContain(key(victim));
    // Deleting again is success: the digest is already gone.
    expectSucceeded(await finished(images.call("delete", { imageId: victim.id, })));
  });

  it("refreshes an IAM token the registry no longer accepts", async () => {
    await namespaces.call("list", { registryId: "ibm" });
    const before = ibm.count("POST /identity/token");
    ibm.expireTokens();
    const res = await namespaces.call("list", { registryId: "ibm" });
    expect((res.namespaces as Namespace[]).map((n) => n.name)).toEqual(["team-a", "team-b"]);
    expect(ibm.count("POST /identity/token")).toBe(before + 1);
  });

  it("creates, reads, lists and deletes namespaces; updates are refused", async () => {
    const created = await finished(namespaces.call("create", { registryId: "ibm", name: "fresh-ns" }));
    expectSucceeded(created);
    const response = anyUnpack(created.result.value, details) as Namespace;
    expect(response.name).toBe("fresh-ns");
    expect(ibm.namespaces.get("fresh-ns")?.resourceGroup).toBe("rg-test");
    const got: Namespace = await namespaces.call("get", { namespaceId: "ibm/fresh-ns" });
    expect(got).toMatchObject({ id: "ibm/fresh-ns", registryId: "ibm", visibility: Visibility.PRIVATE });
    const listed = await namespaces.call("list", { registryId: "ibm", pageSize: 1n });
    expect(listed.namespaces.map((n: Namespace) => n.name)).toEqual(["fresh-ns"]);
    expect(listed.nextPageToken).not.toBe("");
    const again = await finished(namespaces.call("create", { registryId: "ibm", name: "fresh-ns" }));
    expect(again.result.case).toBe("error");
    expect(again.result.value.code).toBe(6);

    const update = await grpcFailure(namespaces.call("update", { namespaceId: "ibm/fresh-ns", description: "x", updateMask: { paths: ["description"] } }));
    expect(update.code).toBe(Code.FAILED_PRECONDITION);
    expect(update.message).toContain("update_namespaces");

    expectSucceeded(await finished(namespaces.call("delete", { namespaceId: "ibm/fresh-ns" })));
    expect(ibm.namespaces.has("fresh-ns")).toBe(false);
    expect((await grpcFailure(namespaces.call("get", { namespaceId: "ibm/fresh-ns" }))).code).toBe(Code.NOT_FOUND);
  });

  it("deleting a namespace deletes its images", async () => {
    ibm.pushImage("doomed/thing", ["1"]);
    expect((await listAll({ registryId: "ibm", filter: 'name="ibm/doomed/thing"' }, 10)).images).toHaveLength(1);
    expectSucceeded(await finished(namespaces.call("delete", { namespaceId: "ibm/doomed" })));
    expect((await listAll({ registryId: "ibm" }, 100)).images.map((i) => i.name)).not.toContain("ibm/doomed/thing");
  });

  it("retries 429 honouring Retry-After, then reports RESOURCE_EXHAUSTED with RetryInfo", async () => {
    ibm.resetCounts();
    ibm.rateLimit(2, 1);
    const started = Date.now();
    await namespaces.call("list", { registryId: "ibm" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(ibm.requests.filter((r) => r.status === 429)).toHaveLength(2);

    ibm.rateLimit(100, 1);
    const e = await grpcFailure(namespaces.call("list", { registryId: "ibm" }));
    ibm.rateLimit(0);
    expect(e.code).toBe(Code.RESOURCE_EXHAUSTED);
    expect(e.message).toContain('registry "ibm"');
    expect(retryInfo(e.status)?.retryDelay?.seconds).toBe(1n);
  });
});

describe("Scaleway Container Registry", () => {
  it("lists every tag digest as an image, in small pages, each once", async () => {
    const { images: listed, pages } = await listAll({ registryId: "scw" }, 2);
    expect(pages).toBeGreaterThanOrEqual(4);
    expect(listed.map(key).sort()).toEqual(scw.allImages().map((x) => `scw/${x}`));
    expect(new Set(listed.map(key)).size).toBe(listed.length);
    for (const image of listed) {
      const repository = image.name.slice("scw/".length);
      expect(image.tags).toEqual(scw.tagsOf(repository, image.digest));
    }
    const v2 = listed.find((i) => i.tags.includes("v2"))!;
    expect(v2.tags).toEqual(["latest", "v2"]);
  });

  it("lists in an order across pages, and filtered by name", async () => {
    const byName = (await listAll({ registryId: "scw", orderBy: "name desc, digest" }, 2)).images;
    expect(byName.map(key).sort()).toEqual(scw.allImages().map((x) => `scw/${x}`));
    for (let i = 1; i < byName.length; i++) expect(byName[i - 1].name >= byName[i].name).toBe(true);
    const byAge = (await listAll({ registryId: "scw", orderBy: "created_at" }, 3)).images;
    const ms = byAge.map((i) => Number(i.createdAt?.seconds) * 1000 + Math.floor((i.createdAt?.nanos ?? 0) / 1e6));
    expect(ms).toEqual([...ms].sort((a, b) => a - b));
    expect(byAge.map(key).sort()).toEqual(byName.map(key).sort());
    const site = (await listAll({ registryId: "scw", filter: 'name="scw/blog/site"' }, 1)).images;
    expect(site.map((i) => i.digest).sort()).toEqual(scw.digestsOf("blog/site"));
  });

  it("gets an image by the id List returned", async () => {
    const listed = (await listAll({ repositoryName: "scw/shop/api" }, 10)).images;
    const got: Image = await images.call("get", { imageId: listed[0].id });
    expect(got).toMatchObject({ name: "scw/shop/api", digest: listed[0].digest, tags: listed[0].tags });
  });

  it("deletes one digest of several by deleting its tags, and the operation ends once Scaleway has let go of them", async () => {
    const listed = (await listAll({ repositoryName: "scw/shop/api" }, 10)).images;
    const victim = listed.find((i) => i.tags.includes("latest"))!;
    expectSucceeded(await finished(images.call("delete", { imageId: victim.id })));
    // Not merely `deleting`: the tags are gone from Scaleway altogether.
    expect([...scw.tags.values()].filter((t) => t.digest === victim.digest)).toEqual([]);
    expect(scw.imageByRepository("shop/api")?.status).toBe("ready");
    expect(scw.digestsOf("shop/api")).toHaveLength(2);
    expect((await grpcFailure(images.call("get", { imageId: victim.id }))).code).toBe(Code.NOT_FOUND);
  });

  it("deletes the Scaleway image when its last digest is deleted", async () => {
    const [only] = (await listAll({ repositoryName: "scw/shop/web" }, 10)).images;
    scw.resetCounts();
    expectSucceeded(await finished(images.call("delete", { imageId: only.id })));
    expect(scw.count("DELETE /images/{id}")).toBe(1);
    expect(scw.count("DELETE /tags/{id}")).toBe(0);
    expect(scw.imageByRepository("shop/web")).toBeUndefined();
  });

  it("creates, updates, reads and deletes namespaces as operations", async () => {
    const created = await finished(namespaces.call("create", { registryId: "scw", name: "fresh-ns", description: "made here", visibility: Visibility.PUBLIC }));
    expectSucceeded(created);
    expect(scw.namespaceByName("fresh-ns")).toMatchObject({ description: "made here", is_public: true, project_id: scw.projectId });
    let got: Namespace = await namespaces.call("get", { namespaceId: "scw/fresh-ns" });
    expect(got).toMatchObject({ name: "fresh-ns", description: "made here", visibility: Visibility.PUBLIC });

    const updated = await finished(
      namespaces.call("update", { namespaceId: "scw/fresh-ns", description: "changed", visibility: Visibility.PRIVATE, updateMask: { paths: ["description", "visibility"] } }),
    );
    expectSucceeded(updated);
    got = await namespaces.call("get", { namespaceId: "scw/fresh-ns" });
    expect(got).toMatchObject({ description: "changed", visibility: Visibility.PRIVATE });

    const listed = await namespaces.call("list", { registryId: "scw", filter: 'name="shop"' });
    const shop = scw.namespaceByName("shop")!;
    const shopImages = [...scw.images.values()].filter((i) => i.namespace_id === shop.id).length;
    expect(listed.namespaces.map((n: Namespace) => [n.name, n.description, Number(n.imageCount)])).toEqual([["shop", "the shop", shopImages]]);

    const duplicate = await finished(namespaces.call("create", { registryId: "scw", name: "shop" }));
    expect(duplicate.result.case).toBe("error");
    expect(duplicate.result.value.code).toBe(6);

    expectSucceeded(await finished(namespaces.call("delete", { namespaceId: "scw/fresh-ns" })));
    // Done means Scaleway no longer reports it at all, not that it shows `deleting`.
    expect(scw.namespaceByName("fresh-ns")).toBeUndefined();
    expect((await grpcFailure(namespaces.call("get", { namespaceId: "scw/fresh-ns" }))).code).toBe(Code.NOT_FOUND);
  });

  it("retries too_many_requests honouring Retry-After, then reports RESOURCE_EXHAUSTED with RetryInfo", async () => {
    scw.resetCounts();
    scw.rateLimit(2, 1);
    await namespaces.call("list", { registryId: "scw" });
    expect(scw.requests.filter((r) => r.status === 429)).toHaveLength(2);
    scw.rateLimit(100, 2);
    const e = await grpcFailure(namespaces.call("get", { namespaceId: "scw/shop" }));
    scw.rateLimit(0);
    expect(e.code).toBe(Code.RESOURCE_EXHAUSTED);
    expect(errorInfo(e.status)?.reason).toBe("PROVIDER_RATE_LIMITED");
    expect(retryInfo(e.status)?.retryDelay?.seconds).toBe(2n);
  }, 20_000);
});

describe("credentials", () => {
  it("wrong credentials are FAILED_PRECONDITION naming the registry, with no secret in message or details", async () => {
    for (const id of ["ibm-bad", "scw-bad"]) {
      const e = await grpcFailure(namespaces.call("list", { registryId: id }));
      expect(e.code).toBe(Code.FAILED_PRECONDITION);
      expect(e.message).toContain(`registry "${id}"`);
      const info = errorInfo(e.status);
      expect(info?.reason).toBe("PROVIDER_CREDENTIALS_REJECTED");
      expect(info?.metadata.registry_id).toBe(id);
      expectNoSecret(e);
    }
    const walk = await grpcFailure(images.call("list", { folderId: "broken" }));
    expect(walk.code).toBe(Code.FAILED_PRECONDITION);
    expect(retryInfo(walk.status)).toBeUndefined();
    expect(walk.message).toContain("ibm-bad");
    expect(walk.message).toContain("scw-bad");
    expectNoSecret(walk);
  });

  it("never writes a secret to the log", () => {
    const logs = JSON.stringify(server.logs);
    for (const secret of SECRETS) expect(logs).not.toContain(secret);
  });
});

describe("one folder mixing IBM, Scaleway and the embedded registry", () => {
  const expected = () => [...localImages, ...ibm.allImages().map((x) => `ibm/${x}`), ...scw.allImages().map((x) => `scw/${x}`)].sort();

  it("walks every image exactly once with one token, in scope order", async () => {
    const { images: listed, unreachable } = await listAll({ folderId: "mixed" }, 2);
    expect(unreachable).toEqual([]);
    expect(listed.map(key).sort()).toEqual(expected());
    expect(new Set(listed.map(key)).size).toBe(listed.length);
    const registries = listed.map((i) => i.name.split("/")[0]);
    expect(registries).toEqual([...registries].sort((a, b) => ["local", "ibm", "scw"].indexOf(a) - ["local", "ibm", "scw"].indexOf(b)));
  });

  it("walks every image exactly once merged in one order", async () => {
    for (const orderBy of ["name desc", "created_at, name"]) {
      const { images: listed } = await listAll({ folderId: "mixed", orderBy }, 3);
      expect(listed.map(key).sort()).toEqual(expected());
      expect(new Set(listed.map(key)).size).toBe(listed.length);
    }
    const byName = (await listAll({ folderId: "mixed", orderBy: "name desc" }, 3)).images.map((i) => i.name);
    expect(byName).toEqual([...byName].sort().reverse());
  });

  it("names a registry that does not answer in time as unreachable and serves the others", async () => {
    // Scaleway is held unanswered until the answer is in: only the registry timeout can end its call.
    const held = new Gate();
    scw.holdAt(held);
    try {
      const res = await images.call("list", { folderId: "mixed", pageSize: 100n });
      expect(held.arrived).toBeGreaterThan(0);
      expect(res.unreachable).toEqual(["scw"]);
      expect((res.images as Image[]).map(key).sort()).toEqual(expected().filter((k) => !k.startsWith("scw/")));
    } finally {
      scw.holdAt(undefined);
      held.open();
    }
  }, 30_000);
});

describe("the adapters on their own", () => {
  async function walk(provider: IbmProvider | ScalewayProvider, limit: number, between: (page: number) => void): Promise<ImageRecord[]> {
    const out: ImageRecord[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const res = await provider.listImages({ order: [], nativeCursor: cursor, limit, signal: AbortSignal.timeout(10_000) });
      expect(res.images.length).toBeLessThanOrEqual(limit);
      out.push(...res.images);
      if (res.done) return out;
      expect(res.nativeCursor).toBeDefined();
      cursor = res.nativeCursor;
      between(page);
    }
    throw new Error("the walk did not end");
  }

  it("IBM: refreshes the IAM token before it expires", async () => {
    // The fake issues and checks tokens on a clock that stands still: the old token stays valid however
    // long the machine takes, while the provider decides to refresh on its own (real) clock.
    const issuedAt = Date.now();
    const fake = await IbmFake.start({ tokenTtlSec: 2, now: () => issuedAt });
    const provider = new IbmProvider({ id: "ibm-direct", baseUrl: new URL(fake.url), iamUrl: new URL(fake.url), account: fake.account, apiKey: fake.apiKey });
    try {
      fake.addNamespace("one-ns");
      await provider.listNamespaces({ limit: 10, signal: AbortSignal.timeout(5_000) });
      expect(fake.count("POST /identity/token")).toBe(1);
      // Past 80 % of the token's two seconds: a new token is fetched while the old one still serves.
      await new Promise((r) => setTimeout(r, 1_700));
      await provider.listNamespaces({ limit: 10, signal: AbortSignal.timeout(5_000) });
      await until(() => fake.count("POST /identity/token") === 2);
      expect(fake.requests.filter((r) => r.status === 401)).toEqual([]);
    } finally {
      await provider.close();
      await fake.close();
    }
  });

  it("IBM: keyset pages stay exact while images are pushed between pages", async () => {
    const fake = await IbmFake.start();
    const provider = new IbmProvider({ id: "ibm-direct", baseUrl: new URL(fake.url), iamUrl: new URL(fake.url), account: fake.account, apiKey: fake.apiKey, listingCacheTtlMs: 0, listManifests: false });
    try {
      for (const repo of ["ns-a/b", "ns-a/d", "ns-a/f", "ns-a/h"]) fake.pushImage(repo, ["1"]);
      const original = fake.allImages();
      // Each page reads a new listing (no cache), in which repositories appear before and after the cursor.
      const listed = await walk(provider, 1, (page) => {
        fake.pushImage(`ns-a/a${page}`, ["x"]);
        fake.pushImage(`ns-a/z${page}`, ["x"]);
      });
      const keys = listed.map((i) => `${i.repository}@${i.digest}`);
      expect(new Set(keys).size).toBe(keys.length);
      for (const k of original) expect(keys).toContain(k);
      expect(keys).toEqual([...keys].sort());
    } finally {
      await provider.close();
      await fake.close();
    }
  });

  it("Scaleway: page numbers become keyset cursors that stay exact while repositories are added", async () => {
    const fake = await ScalewayFake.start();
    const provider = new ScalewayProvider({ id: "scw-direct", region: "fr-par", apiUrl: new URL(fake.url), projectId: fake.projectId, secretKey: fake.secretKey, listingCacheTtlMs: 0 });
    try {
      for (let i = 0; i < 5; i++) fake.pushTag(`ns-${i % 2}/img-${i}`, "v1");
      fake.pushTag("ns-0/img-0", "v2");
      const original = fake.allImages();
      const listed = await walk(provider, 2, (page) => {
        fake.pushTag(`ns-0/aaa-${page}`, "x");
        fake.pushTag(`ns-1/zzz-${page}`, "x");
      });
      const keys = listed.map((i) => `${i.repository}@${i.digest}`);
      expect(new Set(keys).size).toBe(keys.length);
      for (const k of original) expect(keys).toContain(k);
    } finally {
      await provider.close();
      await fake.close();
    }
  });

  it("maps Scaleway transient_state to UNAVAILABLE with a retry delay, and an IBM name taken elsewhere to ALREADY_EXISTS", async () => {
    const scwFake = await ScalewayFake.start();
    const scwProvider = new ScalewayProvider({ id: "scw-direct", region: "fr-par", apiUrl: new URL(scwFake.url), projectId: scwFake.projectId, secretKey: scwFake.secretKey });
    const ibmFake = await IbmFake.start();
    const ibmProvider = new IbmProvider({ id: "ibm-direct", baseUrl: new URL(ibmFake.url), iamUrl: new URL(ibmFake.url), account: ibmFake.account, apiKey: ibmFake.apiKey });
    try {
      scwFake.addNamespace("busy").status = "deleting";
      const busy = await scwProvider.updateNamespace("busy", { description: "x" }, AbortSignal.timeout(5_000)).catch((e: unknown) => e);
      expect(busy).toBeInstanceOf(RegplaneError);
      expect(busy).toMatchObject({ code: Code.UNAVAILABLE, errorInfo: { reason: "PROVIDER_TRANSIENT_STATE" } });
      expect((busy as RegplaneError).retryDelayMs).toBeGreaterThan(0);

      ibmFake.takenNames.add("taken-ns");
      const taken = await ibmProvider.createNamespace({ name: "taken-ns", description: "", visibility: "inherit" }, AbortSignal.timeout(5_000)).catch((e: unknown) => e);
      expect(taken).toMatchObject({ code: 6, errorInfo: { reason: "NAMESPACE_ALREADY_EXISTS" } });
    } finally {
      await scwProvider.close();
      await scwFake.close();
      await ibmProvider.close();
      await ibmFake.close();
    }
  });

  it("a caller whose signal has aborted sends no request, nor starts a read other callers would share", async () => {
    const ibmFake = await IbmFake.start();
    const ibm = new IbmProvider({ id: "ibm-direct", baseUrl: new URL(ibmFake.url), iamUrl: new URL(ibmFake.url), account: ibmFake.account, apiKey: ibmFake.apiKey });
    const scwFake = await ScalewayFake.start();
    const scw = new ScalewayProvider({ id: "scw-direct", region: "fr-par", apiUrl: new URL(scwFake.url), projectId: scwFake.projectId, secretKey: scwFake.secretKey });
    try {
      const ibmDigest = ibmFake.pushImage("ns-a/app", ["1"]).digest;
      const scwDigest = scwFake.pushTag("ns-a/app", "v1");
      const aborted = AbortSignal.abort();
      for (const [provider, digest] of [[ibm, ibmDigest], [scw, scwDigest]] as const) {
        const calls = [
          provider.listImages({ order: [], limit: 10, signal: aborted }),
          provider.listImages({ order: [{ field: "name", desc: false }], limit: 10, signal: aborted }),
          provider.listImages({ order: [], repository: "ns-a/app", limit: 10, signal: aborted }),
          provider.getImage("ns-a/app", digest, aborted),
          provider.listRepositories({ limit: 10, signal: aborted }),
          provider.getRepository("ns-a/app", aborted),
        ];
        for (const call of calls) expect(await call.then(() => "answered", () => "refused")).toBe("refused");
      }
      // A read begun for nobody would reach the fakes a moment later.
      await new Promise((r) => setTimeout(r, 500));
      expect(ibmFake.count()).toBe(0);
      expect(scwFake.count()).toBe(0);
    } finally {
      await ibm.close();
      await ibmFake.close();
      await scw.close();
      await scwFake.close();
    }
  });

  it("Scaleway: gets and deletes send no request for a repository name Scaleway cannot hold", async () => {
    const fake = await ScalewayFake.start();
    const provider = new ScalewayProvider({ id: "scw-direct", region: "fr-par", apiUrl: new URL(fake.url), projectId: fake.projectId, secretKey: fake.secretKey });
    try {
      const digest = fake.pushTag("ns-a/app", "v1");
      for (const name of ["../x", "..", "ns-a/..", "ns-a/../app", "ns-a/%2fapp", "ns-a%2fapp", "ns-a/app%2f..", "/app", "ns-a/", "NS-A/app", "ns-a//app"]) {
        expect(await provider.getImage(name, digest, AbortSignal.timeout(5_000)), name).toBeUndefined();
        const refused = await provider.deleteImage(name, digest, AbortSignal.timeout(5_000)).catch((e: unknown) => e);
        expect(refused, name).toMatchObject({ code: Code.INVALID_ARGUMENT });
      }
      expect(fake.count()).toBe(0);
      expect(await provider.getImage("ns-a/app", digest, AbortSignal.timeout(5_000))).toMatchObject({ repository: "ns-a/app", digest });
    } finally {
      await provider.close();
      await fake.close();
    }
  });

  it("Scaleway: reads lists of more than 100 items page by page", async () => {
    const fake = await ScalewayFake.start();
    const provider = new ScalewayProvider({ id: "scw-direct", region: "fr-par", apiUrl: new URL(fake.url), projectId: fake.projectId, secretKey: fake.secretKey });
    try {
      for (let i = 0; i < 130; i++) fake.pushTag(`big/img-${String(i).padStart(3, "0")}`, "v1");
      const res = await provider.listImages({ order: [{ field: "name", desc: true }], limit: 1000, signal: AbortSignal.timeout(10_000) });
      expect(res.done).toBe(true);
      expect(res.images).toHaveLength(130);
      expect(res.images[0].repository).toBe("big/img-129");
      const pages = fake.requests.filter((r) => r.route === "GET /images").map((r) => r.query.get("page"));
      expect(pages).toEqual(["1", "2"]);
      expect(fake.requests.every((r) => r.query.get("page_size") === null || r.query.get("page_size") === "100")).toBe(true);
    } finally {
      await provider.close();
      await fake.close();
    }
  });
});
