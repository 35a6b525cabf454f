// TagService.Delete at the API edge: on the embedded registry (layouts written by skopeo) one tag goes
// and the image with its other tags stays, checked with skopeo; the last tag leaves an untagged image.
// On the CNCF registry (distribution 2.8, which deletes by digest only) the operation fails with
// FAILED_PRECONDITION and the image keeps every tag.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import type { Operation } from "../src/gen/regplane/v1/operation_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { TagService } from "../src/gen/regplane/v1/tag_service_pb.js";
import { errorInfo, fieldViolations, GrpcClient, GrpcError } from "./support/clients.js";
import { copyToLayout, listBlobs, makeTempDir, readIndexJson, REF_NAME, run, skopeoInspect, writeSyntheticImage } from "./support/images.js";
import { pushImage, startRegistry, type RunningRegistry } from "./support/registry.js";
import { startServer, type ServerProcess } from "./support/server.js";

const cleanups: Array<() => Promise<unknown>> = [];
let server: ServerProcess;
let reg: RunningRegistry;
let images: GrpcClient;
let tags: GrpcClient;
let ops: GrpcClient;
let layout: string;
let digest: string;

async function imageNamed(registryId: string, repository: string): Promise<Image> {
  const page = await images.call("list", { registryId, repositoryName: `${registryId}/${repository}`, pageSize: 100n });
  const found = (page.images as Image[]).filter((i) => i.tags.length > 0 || i.digest === digest);
  expect(found).toHaveLength(1);
  return found[0];
}

async function untag(imageId: string, tag: string): Promise<Operation> {
  const op = (await tags.call("delete", { imageId, tag })) as Operation;
  return (await ops.call("wait", { operationId: op.id, timeout: { seconds: 30n } }, { deadlineMs: 40_000 })) as Operation;
}

async function refused(promise: Promise<unknown>): Promise<GrpcError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GrpcError);
  return err as GrpcError;
}

beforeAll(async () => {
  const work = await makeTempDir("regplane-tags-api-");
  cleanups.push(() => fs.rm(work, { recursive: true, force: true }));
  const source = path.join(work, "source");
  await writeSyntheticImage(source, { tag: "src", created: "2024-03-03T03:03:03Z" });
  reg = await startRegistry();
  cleanups.push(() => reg.stop());
  for (const tag of ["v1", "v2"]) await pushImage(source, "src", reg.host, "team/app", tag);
  server = await startServer({
    config: `registries:\n  - {id: local, provider: local}\n  - {id: lab, provider: oci, endpoint: ${JSON.stringify(reg.url)}, insecure: true, listingCacheTtl: 0s}\n`,
  });
  cleanups.push(() => server.kill(), () => fs.rm(server.dataDir, { recursive: true, force: true }));
  layout = path.join(server.dataDir, "registry", "ci", "app");
  for (const tag of ["v1", "v2", "v3"]) digest = await copyToLayout(source, "src", layout, tag);
  images = new GrpcClient(ImageService, server.grpcAddress);
  tags = new GrpcClient(TagService, server.grpcAddress);
  ops = new GrpcClient(OperationService, server.grpcAddress);
  cleanups.push(async () => [images, tags, ops].forEach((c) => c.close()));
}, 90_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe("removing one tag on the embedded registry", () => {
  it("removes only that tag: the image and its other tags stay, as skopeo reads them", async () => {
    const image = await imageNamed("local", "ci/app");
    expect(image.tags).toEqual(["v1", "v2", "v3"]);
    const done = await untag(image.id, "v2");
    expect(done.result.case, done.result.case === "error" ? done.result.value.message : "").toBe("response");

    const got = (await images.call("get", { imageId: image.id })) as Image;
    expect([got.digest, got.tags]).toEqual([digest, ["v1", "v3"]]);
    for (const tag of ["v1", "v3"]) expect((await skopeoInspect(layout, tag)).Digest).toBe(digest);
    await expect(skopeoInspect(layout, "v2")).rejects.toThrow();
  });

  it("removing the last tags leaves the image untagged, its blobs still there", async () => {
    const image = await imageNamed("local", "ci/app");
    const blobs = await listBlobs(layout);
    for (const tag of ["v1", "v3"]) expect((await untag(image.id, tag)).result.case).toBe("response");

    const got = (await images.call("get", { imageId: image.id })) as Image;
    expect([got.digest, got.tags]).toEqual([digest, []]);
    const index = await readIndexJson(layout);
    expect(index.manifests.map((m) => [m.digest, m.annotations?.[REF_NAME]])).toEqual([[digest, undefined]]);
    expect(await listBlobs(layout)).toEqual(blobs);
    // umoci still reads the layout whole.
    await run("umoci", ["ls", "--layout", layout]);
  });

  it("a tag the image does not carry is NOT_FOUND; a malformed tag is INVALID_ARGUMENT naming the field; an unknown image is NOT_FOUND", async () => {
    const image = await imageNamed("local", "ci/app");
    const missing = await refused(tags.call("delete", { imageId: image.id, tag: "v9" }));
    expect(missing.code).toBe(5);
    expect(errorInfo(missing.status)?.reason).toBe("TAG_NOT_FOUND");
    const malformed = await refused(tags.call("delete", { imageId: image.id, tag: "-bad/tag" }));
    expect(malformed.code).toBe(3);
    expect(fieldViolations(malformed.status).map((v) => v.field)).toEqual(["tag"]);
    const unknown = await refused(tags.call("delete", { imageId: "i".padEnd(33, "a"), tag: "v1" }));
    expect(unknown.code).toBe(5);
  });
});

describe("removing one tag on a registry that deletes by digest only", () => {
  it("fails the operation with FAILED_PRECONDITION and leaves every tag and the manifest", async () => {
    const image = await imageNamed("lab", "team/app");
    expect(image.tags).toEqual(["v1", "v2"]);
    const done = await untag(image.id, "v1");
    expect(done.result.case).toBe("error");
    if (done.result.case !== "error") return;
    expect(done.result.value.code).toBe(9);
    expect(done.result.value.message).toContain("by digest only");

    const listed = (await (await fetch(`${reg.url}/v2/team/app/tags/list`)).json()) as { tags: string[] };
    expect(listed.tags.sort()).toEqual(["v1", "v2"]);
    const head = await fetch(`${reg.url}/v2/team/app/manifests/${image.digest}`, { method: "HEAD", headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
    expect(head.status).toBe(200);
  });
});
