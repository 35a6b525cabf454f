// The IBM and Scaleway fakes, driven by the providers' own official SDKs: whatever the SDKs send, the
// fakes understand, and whatever the fakes answer, the SDKs parse, including their error classes.
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { Errors, createClient } from "@scaleway/sdk-client";
import { Registryv1 } from "@scaleway/sdk-registry";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOCKER_MANIFEST, IbmFake, OCI_MANIFEST, type FakeManifest } from "./fakes/ibm.js";
import { ScalewayFake } from "./fakes/scaleway.js";

const require = createRequire(import.meta.url);
// The package has no "main"; the service class is the module itself.
const ContainerRegistryV1 = require("@ibm-cloud/ibm-container-registry/dist/container-registry/v1");
const { IamAuthenticator, BearerTokenAuthenticator } = require("ibm-cloud-sdk-core");

interface SdkError {
  status?: number;
  message: string;
  body?: string;
  headers?: Record<string, string>;
}

async function rejection(p: Promise<unknown>): Promise<SdkError> {
  try {
    await p;
  } catch (e) {
    return e as SdkError;
  }
  throw new Error("expected the SDK call to fail");
}

describe("IBM Container Registry fake, through @ibm-cloud/ibm-container-registry", () => {
  let fake: IbmFake;
  let app: FakeManifest;
  let appLatest: FakeManifest;
  let untagged: FakeManifest;
  let sdk: any;

  const service = (apikey: string) =>
    new ContainerRegistryV1({ authenticator: new IamAuthenticator({ apikey, url: fake.url }), account: fake.account, serviceUrl: fake.url });

  beforeAll(async () => {
    fake = await IbmFake.start();
    fake.addNamespace("team-a");
    fake.addNamespace("team-b");
    app = fake.pushImage("team-a/app", ["1.0"]);
    appLatest = fake.pushImage("team-a/app", ["2.0", "latest"], { mediaType: OCI_MANIFEST });
    untagged = fake.pushImage("team-b/tool", []);
    sdk = service(fake.apiKey);
  });

  afterAll(async () => {
    await fake?.close();
  });

  it("exchanges the API key for an IAM JWT once and sends Bearer + Account on every call", async () => {
    fake.resetCounts();
    const { result, status } = await sdk.listNamespaces();
    expect(status).toBe(200);
    expect(result).toEqual(["team-a", "team-b"]);
    await sdk.listNamespaceDetails();
    expect(fake.count("POST /identity/token")).toBe(1);
    const call = fake.requests.find((r) => r.route === "GET /api/v1/namespaces")!;
    expect(call.headers.authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(call.headers.account).toBe(fake.account);
    const token = fake.requests.find((r) => r.route === "POST /identity/token")!;
    expect(token.headers["content-type"]).toBe("application/x-www-form-urlencoded");
  });

  it("lists namespace details", async () => {
    const { result } = await sdk.listNamespaceDetails();
    expect(result.map((n: any) => n.name)).toEqual(["team-a", "team-b"]);
    expect(result[0]).toMatchObject({ account: fake.account, resource_group: "default-rg" });
    expect(Number.isNaN(Date.parse(result[0].created_date))).toBe(false);
  });

  it("lists images (RemoteAPIImage) with the includeIBM query spelling", async () => {
    fake.resetCounts();
    const { result } = await sdk.listImages({ namespace: "team-a", includeIbm: false });
    const raw = fake.requests.at(-1)!;
    expect(raw.route).toBe("GET /api/v1/images");
    expect(raw.path).toBe("/api/v1/images");
    expect(raw.query.toString()).toBe("namespace=team-a&includeIBM=false");
    expect(result).toHaveLength(2);
    const latest = result.find((i: any) => i.RepoDigests[0].endsWith(appLatest.digest));
    expect(latest.RepoTags).toEqual([`${fake.host}/team-a/app:2.0`, `${fake.host}/team-a/app:latest`]);
    expect(latest.ManifestType).toBe("OCI Image Manifest v1");
    expect(typeof latest.Created).toBe("number");
  });

  it("lists digests with repoTags keyed by the full repository name, untagged ones included", async () => {
    const all = (await sdk.listImageDigests({ excludeTagged: false, excludeVa: true, includeIbm: false })).result;
    expect(all.map((d: any) => d.id).sort()).toEqual([app.digest, appLatest.digest, untagged.digest].sort());
    const tool = all.find((d: any) => d.id === untagged.digest);
    expect(tool.repoTags).toEqual({ [`${fake.host}/team-b/tool`]: [] });
    const narrowed = (await sdk.listImageDigests({ repositories: [`${fake.host}/team-a/app`] })).result;
    expect(narrowed.map((d: any) => d.id).sort()).toEqual([app.digest, appLatest.digest].sort());
    expect(narrowed.find((d: any) => d.id === appLatest.digest).repoTags).toEqual({ [`${fake.host}/team-a/app`]: ["2.0", "latest"] });
    const onlyUntagged = (await sdk.listImageDigests({ excludeTagged: true })).result;
    expect(onlyUntagged.map((d: any) => d.id)).toEqual([untagged.digest]);
  });

  it("serves the raw manifest under a percent-encoded single-segment reference, with its media type", async () => {
    fake.resetCounts();
    const reference = `${fake.host}/team-a/app@${app.digest}`;
    const res = await sdk.getImageManifest({ image: reference });
    expect(fake.requests[0].path).toBe(`/api/v1/images/${encodeURIComponent(reference)}/manifest`);
    expect(fake.requests[0].path).toContain("%2F");
    expect(res.headers["content-type"]).toBe(DOCKER_MANIFEST);
    expect(res.result).toEqual(JSON.parse(app.bytes.toString("utf8")));
    const byTag = await sdk.getImageManifest({ image: `${fake.host}/team-a/app:latest` });
    expect(byTag.result.mediaType).toBe(OCI_MANIFEST);
    const inspected = await sdk.inspectImage({ image: `${fake.host}/team-a/app:1.0` });
    expect(inspected.result.RootFS.Layers).toEqual(app.layers.map((l) => l.digest));
  });

  it("creates a namespace (201, then 200 when it exists) with the resource group header, and deletes it (204, then 404)", async () => {
    const created = await sdk.createNamespace({ name: "sdk-ns1", xAuthResourceGroup: "rg-42" });
    expect(created.status).toBe(201);
    expect(created.result).toEqual({ namespace: "sdk-ns1" });
    expect(fake.namespaces.get("sdk-ns1")?.resourceGroup).toBe("rg-42");
    expect((await sdk.createNamespace({ name: "sdk-ns1" })).status).toBe(200);
    fake.takenNames.add("elsewhere");
    const taken = await rejection(sdk.createNamespace({ name: "elsewhere" }));
    expect(taken.status).toBe(409);
    expect((await sdk.deleteNamespace({ name: "sdk-ns1" })).status).toBe(204);
    const gone = await rejection(sdk.deleteNamespace({ name: "sdk-ns1" }));
    expect(gone.status).toBe(404);
    expect(gone.message).toBe("The requested namespace was not found.");
  });

  it("bulk-deletes by digest reference, reporting per-reference errors", async () => {
    const victim = fake.pushImage("team-b/tool", ["old"]);
    const reference = `${fake.host}/team-b/tool@${victim.digest}`;
    const missing = `${fake.host}/team-b/tool@sha256:${"0".repeat(64)}`;
    const { status, result } = await sdk.bulkDeleteImages({ bulkDelete: [reference, missing] });
    expect(status).toBe(200);
    expect(result.success).toEqual([reference]);
    expect(Object.keys(result.error)).toEqual([missing]);
    expect(result.error[missing]).toMatchObject({ code: expect.stringMatching(/^CR[GI]\d{4}E$/) });
    expect(fake.digestsOf("team-b/tool")).toEqual([untagged.digest]);
  });

  it("fails a chosen call of one route with IBM's error body, the calls around it answered", async () => {
    fake.failOn("GET /api/v1/namespaces", 403, { skip: 1 });
    expect((await sdk.listNamespaces()).status).toBe(200);
    const denied = await rejection(sdk.listNamespaces());
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body!)).toMatchObject({ code: "CRG0009E", message: expect.any(String), "request-id": expect.any(String) });
    expect((await sdk.listNamespaces()).status).toBe(200);
  });

  it("answers a missing manifest with IBM's error body, which the SDK turns into status and message", async () => {
    const e = await rejection(sdk.getImageManifest({ image: `${fake.host}/team-a/app@sha256:${"1".repeat(64)}` }));
    expect(e.status).toBe(404);
    expect(e.message).toMatch(/was not found/);
    expect(JSON.parse(e.body!)).toMatchObject({ code: "CRG0020E", "request-id": expect.any(String) });
  });

  it("rejects a wrong API key at IAM the way the SDK reports invalid credentials", async () => {
    const e = await rejection(service("not-the-key").listNamespaces());
    expect(e.status).toBe(400);
    expect(e.message).toBe("Access is denied due to invalid credentials.");
    expect(JSON.parse(e.body!)).toMatchObject({ errorCode: "BXNIM0415E", errorMessage: "Provided API key could not be found." });
  });

  it("refuses a bearer token it did not issue, and the account of another token", async () => {
    const bogus = new ContainerRegistryV1({ authenticator: new BearerTokenAuthenticator({ bearerToken: "a.b.c" }), account: fake.account, serviceUrl: fake.url });
    const e = await rejection(bogus.listNamespaces());
    expect(e.status).toBe(401);
    expect(JSON.parse(e.body!)).toMatchObject({ code: "CRG0002E" });
    const otherAccount = new ContainerRegistryV1({ authenticator: new IamAuthenticator({ apikey: fake.apiKey, url: fake.url }), account: "someone-else", serviceUrl: fake.url });
    const denied = await rejection(otherAccount.listNamespaces());
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body!)).toMatchObject({ code: "CRG0009E", message: "You are not authorized to access the specified account." });
  });

  it("expires tokens on demand, and answers 429 with Retry-After on command", async () => {
    const cached = service(fake.apiKey);
    await cached.listNamespaces();
    fake.expireTokens();
    // The SDK keeps its token until 80 % of its lifetime, so the server's refusal reaches the caller.
    expect((await rejection(cached.listNamespaces())).status).toBe(401);
    expect((await service(fake.apiKey).listNamespaces()).status).toBe(200);
    fake.rateLimit(1, 7);
    const limited = await rejection(service(fake.apiKey).listNamespaces());
    expect(limited.status).toBe(429);
    expect(limited.headers?.["retry-after"]).toBe("7");
    expect((await service(fake.apiKey).listNamespaces()).status).toBe(200);
  });

  it("answers GET /api/v1/messages without authentication", async () => {
    const plain = new ContainerRegistryV1({ authenticator: new BearerTokenAuthenticator({ bearerToken: "x.y.z" }), account: fake.account, serviceUrl: fake.url });
    expect((await plain.getMessages()).status).toBe(204);
  });
});

describe("Scaleway Container Registry fake, through @scaleway/sdk-registry", () => {
  let fake: ScalewayFake;
  let api: Registryv1.API;

  const clientFor = (secretKey: string) =>
    new Registryv1.API(
      createClient({
        accessKey: "SCWABCDEFGHIJKLMNOPQ",
        secretKey,
        defaultRegion: "fr-par",
        defaultProjectId: fake.projectId,
        apiURL: fake.url,
      }),
    );

  // The fake's deletions end when the test moves this clock, not after real time.
  let fakeClock = Date.now();

  beforeAll(async () => {
    fake = await ScalewayFake.start({ deletingMs: 200, now: () => fakeClock });
    fake.addNamespace("alpha", { description: "first" });
    fake.addNamespace("bravo");
    fake.addNamespace("charlie", { isPublic: true });
    fake.pushTag("alpha/api", "v1");
    const v2 = fake.pushTag("alpha/api", "v2");
    fake.pushTag("alpha/api", "latest", v2);
    fake.pushTag("alpha/web", "1");
    fake.pushTag("bravo/site", "main");
    api = clientFor(fake.secretKey);
  });

  afterAll(async () => {
    await fake?.close();
  });

  it("pages namespaces with page_size, total_count and .all(), sending the secret key as X-Auth-Token", async () => {
    fake.resetCounts();
    const first = await api.listNamespaces({ pageSize: 2, orderBy: "name_asc" });
    expect(first.totalCount).toBe(3);
    expect(first.namespaces.map((n) => n.name)).toEqual(["alpha", "bravo"]);
    expect(first.namespaces[0]).toMatchObject({ description: "first", isPublic: false, status: "ready", projectId: fake.projectId, region: "fr-par" });
    expect(first.namespaces[0].createdAt).toBeInstanceOf(Date);
    const all = await api.listNamespaces({ pageSize: 2, orderBy: "name_asc" }).all();
    expect(all.map((n) => n.name)).toEqual(["alpha", "bravo", "charlie"]);
    const pages = fake.requests.filter((r) => r.route === "GET /namespaces").map((r) => `${r.query.get("page") ?? "-"}/${r.query.get("page_size")}`);
    expect(pages).toEqual(["-/2", "-/2", "2/2"]);
  });

  it("lists images and tags, page by page and all at once", async () => {
    const alpha = (await api.listNamespaces({ name: "alpha" })).namespaces[0];
    const images = await api.listImages({ namespaceId: alpha.id, pageSize: 1, orderBy: "name_asc" }).all();
    expect(images.map((i) => i.name)).toEqual(["api", "web"]);
    expect(images[0]).toMatchObject({ namespaceId: alpha.id, status: "ready", visibility: "inherit", tags: ["v1", "v2", "latest"] });
    const tags = await api.listTags({ imageId: images[0].id, pageSize: 2, orderBy: "name_asc" }).all();
    expect(tags.map((t) => t.name)).toEqual(["latest", "v1", "v2"]);
    expect(tags[0].digest).toBe(tags[2].digest);
    expect(tags[0].digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    const everything = await api.listImages({ pageSize: 100 });
    expect(everything.totalCount).toBe(3);
  });

  it("creates, updates and deletes a namespace, which shows `deleting` before it is gone", async () => {
    const ns = await api.createNamespace({ name: "sdk-made", description: "by the sdk", isPublic: false });
    expect(ns).toMatchObject({ name: "sdk-made", description: "by the sdk", isPublic: false, status: "ready", endpoint: "rg.fr-par.scw.cloud/sdk-made" });
    const updated = await api.updateNamespace({ namespaceId: ns.id, description: "changed", isPublic: true });
    expect(updated).toMatchObject({ description: "changed", isPublic: true });
    const deleting = await api.deleteNamespace({ namespaceId: ns.id });
    expect(deleting.status).toBe("deleting");
    expect((await api.getNamespace({ namespaceId: ns.id })).status).toBe("deleting");
    await expect(api.deleteNamespace({ namespaceId: ns.id })).rejects.toBeInstanceOf(Errors.TransientStateError);
    fakeClock += 200;
    const gone = await api.getNamespace({ namespaceId: ns.id }).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(Errors.ResourceNotFoundError);
    expect(gone).toMatchObject({ resource: "namespace", resourceId: ns.id });
  });

  it("refuses a second namespace with the same name", async () => {
    await expect(api.createNamespace({ name: "alpha", description: "", isPublic: false })).rejects.toBeInstanceOf(Errors.AlreadyExistsError);
  });

  it("deletes a tag: `deleting`, then not found", async () => {
    const web = (await api.listImages({ name: "web" })).images[0];
    const tag = (await api.listTags({ imageId: web.id })).tags[0];
    const deleting = await api.deleteTag({ tagId: tag.id });
    expect(deleting.status).toBe("deleting");
    fakeClock += 200;
    await expect(api.getTag({ tagId: tag.id })).rejects.toBeInstanceOf(Errors.ResourceNotFoundError);
  });

  it("deletes an image with its tags: `deleting`, a second delete transient_state, then not found", async () => {
    fake.pushTag("bravo/doomed", "a");
    fake.pushTag("bravo/doomed", "b");
    const image = (await api.listImages({ name: "doomed" })).images[0];
    const deleting = await api.deleteImage({ imageId: image.id });
    expect(deleting).toMatchObject({ id: image.id, name: "doomed", status: "deleting" });
    expect((await api.listTags({ imageId: image.id })).tags.map((t) => t.status)).toEqual(["deleting", "deleting"]);
    await expect(api.deleteImage({ imageId: image.id })).rejects.toBeInstanceOf(Errors.TransientStateError);
    fakeClock += 200;
    const gone = await api.getImage({ imageId: image.id }).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(Errors.ResourceNotFoundError);
    await expect(api.deleteImage({ imageId: image.id })).rejects.toBeInstanceOf(Errors.ResourceNotFoundError);
  });

  it("fails chosen calls of one route with the bodies the SDK parses into permissions_denied and too_many_requests", async () => {
    fake.failOn("GET /images", 403);
    expect(await api.listImages().catch((e: unknown) => e)).toBeInstanceOf(Errors.PermissionsDeniedError);
    fake.failOn("GET /images", 429, { skip: 1 });
    expect((await api.listImages()).images.length).toBeGreaterThan(0);
    expect(await api.listImages().catch((e: unknown) => e)).toBeInstanceOf(Errors.TooManyRequestsError);
    expect((await api.listImages()).images.length).toBeGreaterThan(0);
  });

  it("maps errors to the SDK's classes: not_found, too_many_requests, denied_authentication, invalid_arguments", async () => {
    const missing = await api.getNamespace({ namespaceId: randomUUID() }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(Errors.ResourceNotFoundError);
    fake.rateLimit(1, 3);
    const limited = await api.listNamespaces().catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(Errors.TooManyRequestsError);
    expect(limited).toMatchObject({ status: 429, resetSeconds: 3 });
    const wrongKey = await clientFor(randomUUID()).listNamespaces().catch((e: unknown) => e);
    expect(wrongKey).toBeInstanceOf(Errors.DeniedAuthenticationError);
    expect(wrongKey).toMatchObject({ status: 401, reason: "not_found" });
    const tooBig = await api.listNamespaces({ pageSize: 101 }).catch((e: unknown) => e);
    expect(tooBig).toBeInstanceOf(Errors.InvalidArgumentsError);
    const foreign = await api.listNamespaces({ projectId: randomUUID() }).catch((e: unknown) => e);
    expect(foreign).toBeInstanceOf(Errors.PermissionsDeniedError);
  });

  it("answers success with Content-Type exactly application/json", async () => {
    const res = await fetch(`${fake.url}/registry/v1/regions/fr-par/namespaces`, { headers: { "x-auth-token": fake.secretKey } });
    expect(res.headers.get("content-type")).toBe("application/json");
  });
});
