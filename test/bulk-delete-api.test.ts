// BulkService.DeleteImages at the API edge, on the real server. The embedded registry holds alice's 500
// images in five layouts and bob's 10 in his own folder: a bulk delete of alice's ids mixed with unknown
// ids and bob's fails exactly those items NOT_FOUND, validate_only deletes nothing, and the request limit
// holds. In-process memory registries show the capability failure and the per-registry bound, and a CNCF
// registry behind a proxy that counts and holds DELETEs lets a SIGKILL (or a cancel) land mid-run.
import type * as http from "node:http";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey, newApiKey } from "../src/core/api-keys.js";
import { BulkService, DeleteImagesMetadataSchema, DeleteImagesResponseSchema, type DeleteImagesResponse } from "../src/gen/regplane/v1/bulk_service_pb.js";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import type { Operation } from "../src/gen/regplane/v1/operation_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { errorInfo, fieldViolations, GrpcClient, GrpcError } from "./support/clients.js";
import { startFaultProxy, type FaultProxy } from "./support/fault-proxy.js";
import { until } from "./support/gate.js";
import { makeTempDir, readIndexJson, writeSyntheticImage } from "./support/images.js";
import { pushSyntheticImages, startRegistry, type RunningRegistry } from "./support/registry.js";
import { startServer, type ServerProcess } from "./support/server.js";
import { startEdgeApp, type EdgeApp } from "./support/edge-app.js";
import { testImage } from "./support/memory-provider.js";
import type { Capability } from "../src/core/types.js";

const NOT_FOUND = 5;
const keys = { alice: newApiKey(), bob: newApiKey(), carol: newApiKey() };
type Who = keyof typeof keys;
const auth = (who: Who) => ({ metadata: { authorization: `Bearer ${keys[who]}` }, deadlineMs: 60_000 });

function progressOf(op: Operation) {
  const m = anyUnpack(op.metadata!, DeleteImagesMetadataSchema)!;
  return { total: Number(m.total), done: Number(m.done), failed: Number(m.failed) };
}

function responseOf(op: Operation): DeleteImagesResponse {
  expect(op.result.case, JSON.stringify(op.result.value)).toBe("response");
  return anyUnpack(op.result.value as never, DeleteImagesResponseSchema)!;
}

async function waitDone(ops: GrpcClient, op: Operation, who?: Who): Promise<Operation> {
  let current = op;
  while (!current.done) current = (await ops.call("wait", { operationId: op.id, timeout: { seconds: 30n } }, who ? auth(who) : { deadlineMs: 40_000 })) as Operation;
  return current;
}

/** Whether the registry still serves the manifest (asked directly, not through the proxy). */
async function manifestExists(registryUrl: string, repository: string, digest: string): Promise<boolean> {
  const head = await fetch(`${registryUrl}/v2/${repository}/manifests/${digest}`, { method: "HEAD", headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
  if (head.status !== 200 && head.status !== 404) throw new Error(`HEAD ${digest} answered ${head.status}`);
  return head.status === 200;
}

async function listIds(images: GrpcClient, who: Who | undefined, registryId: string): Promise<string[]> {
  const ids: string[] = [];
  let pageToken = "";
  do {
    const page = await images.call("list", { registryId, pageSize: 1000n, pageToken }, who ? auth(who) : {});
    ids.push(...(page.images as Image[]).map((i) => i.id));
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return ids;
}

describe("bulk delete on the embedded registry, two tenants", () => {
  const LAYOUTS = 5;
  const PER_LAYOUT = 100;
  let work: string;
  let server: ServerProcess;
  let images: GrpcClient;
  let bulk: GrpcClient;
  let ops: GrpcClient;
  let aliceIds: string[];
  let bobIds: string[];
  let request: string[];
  let expectedFailures: string[];

  beforeAll(async () => {
    work = await makeTempDir("regplane-bulk-");
    for (let l = 0; l < LAYOUTS; l++) for (let i = 0; i < PER_LAYOUT; i++) await writeSyntheticImage(path.join(work, "a", `team/app${l}`), { tag: `v${i}` });
    for (let i = 0; i < 10; i++) await writeSyntheticImage(path.join(work, "b", "team/app"), { tag: `v${i}` });
    const config = `
registries:
  - { id: reg-a, provider: local, path: ${path.join(work, "a")} }
  - { id: reg-b, provider: local, path: ${path.join(work, "b")} }
folders:
  - { id: team-a, registries: [reg-a] }
  - { id: team-b, registries: [reg-b] }
auth:
  keys:
    - { name: alice, hash: "${await hashApiKey(keys.alice)}", folders: [team-a], role: editor }
    - { name: bob, hash: "${await hashApiKey(keys.bob)}", folders: [team-b], role: editor }
    - { name: carol, hash: "${await hashApiKey(keys.carol)}", folders: [team-a], role: viewer }
`;
    await fs.mkdir(path.join(work, "data"));
    server = await startServer({ dataDir: path.join(work, "data"), config });
    images = new GrpcClient(ImageService, server.grpcAddress);
    bulk = new GrpcClient(BulkService, server.grpcAddress);
    ops = new GrpcClient(OperationService, server.grpcAddress);
    aliceIds = await listIds(images, "alice", "reg-a");
    bobIds = await listIds(images, "bob", "reg-b");
    expect(aliceIds).toHaveLength(LAYOUTS * PER_LAYOUT);
    expect(bobIds).toHaveLength(10);
    // 470 of alice's, 20 ids that never existed and bob's 10, interleaved.
    const unknown = Array.from({ length: 20 }, (_, i) => `crp-never-existed-${i}`);
    expectedFailures = [...unknown, ...bobIds];
    request = aliceIds.slice(0, 470);
    expectedFailures.forEach((id, i) => request.splice(i * 16 + 3, 0, id));
  }, 120_000);

  afterAll(async () => {
    for (const c of [images, bulk, ops]) c?.close();
    if (server) expect(await server.stop()).toBe(0);
    await fs.rm(work, { recursive: true, force: true });
  });

  function expectFailures(response: DeleteImagesResponse): void {
    expect(response.failed.map((f) => f.imageId)).toEqual(request.filter((id) => expectedFailures.includes(id)));
    // Bob's ids fail exactly as ids that never existed: the same code, reason and message but for the id.
    const shapes = new Set(response.failed.map((f) => JSON.stringify([f.status!.code, errorInfo(f.status)?.reason, f.status!.message.replace(f.imageId, "ID")])));
    expect([...shapes]).toHaveLength(1);
    for (const f of response.failed) expect(f.status!.code).toBe(NOT_FOUND);
  }

  it("validate_only reports the same 30 failures, answers done, and deletes nothing", async () => {
    const op = (await bulk.call("deleteImages", { imageIds: request, validateOnly: true }, auth("alice"))) as Operation;
    expect(op.done).toBe(true);
    expect(op.id).toBe("");
    expect(progressOf(op)).toEqual({ total: 500, done: 0, failed: 30 });
    const response = responseOf(op);
    expectFailures(response);
    expect(response.deleted).toBe(0n);
    expect(await listIds(images, "alice", "reg-a")).toHaveLength(500);
    expect(await listIds(images, "bob", "reg-b")).toHaveLength(10);
    expect((await ops.call("list", {}, auth("alice"))).operations).toEqual([]);
  });

  it("validate_only still needs a role that may delete", async () => {
    const err = await bulk.call("deleteImages", { imageIds: aliceIds.slice(0, 3), validateOnly: true }, auth("carol")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GrpcError);
    expect((err as GrpcError).code).toBe(7); // PERMISSION_DENIED
    expect(await listIds(images, "alice", "reg-a")).toHaveLength(500);
  });

  it("refuses 1,001 ids with INVALID_ARGUMENT naming image_ids", async () => {
    const ids = Array.from({ length: 1001 }, (_, i) => `id-${i}`);
    const err = (await bulk.call("deleteImages", { imageIds: ids }, auth("alice")).catch((e: unknown) => e)) as GrpcError;
    expect(err).toBeInstanceOf(GrpcError);
    expect(err.code).toBe(3);
    expect(fieldViolations(err.status).map((v) => v.field)).toContain("image_ids");
  });

  it("deletes exactly the 470 images it may, listing the 30 others NOT_FOUND", async () => {
    const submitted = (await bulk.call("deleteImages", { imageIds: request }, auth("alice"))) as Operation;
    expect(submitted.id).not.toBe("");
    const op = await waitDone(ops, submitted, "alice");
    expect(progressOf(op)).toEqual({ total: 500, done: 470, failed: 30 });
    const response = responseOf(op);
    expect(response.deleted).toBe(470n);
    expectFailures(response);

    const left = await listIds(images, "alice", "reg-a");
    expect(left.sort()).toEqual(aliceIds.slice(470).sort());
    let manifests = 0;
    for (let l = 0; l < LAYOUTS; l++) manifests += (await readIndexJson(path.join(work, "a", `team/app${l}`))).manifests.length;
    expect(manifests).toBe(30);
    expect(await listIds(images, "bob", "reg-b")).toHaveLength(10);
    // The operation is on no registry: bob cannot see it, as for one that never existed.
    const hidden = (await ops.call("get", { operationId: op.id }, auth("bob")).catch((e: unknown) => e)) as GrpcError;
    expect(hidden.code).toBe(NOT_FOUND);
  }, 60_000);
});

describe("bulk delete on in-process memory registries", () => {
  let edge: EdgeApp;

  beforeAll(async () => {
    edge = await startEdgeApp("registries:\n  - {id: mem, provider: memory}\n  - {id: ro, provider: memory}\n");
  });

  afterAll(() => edge?.stop());

  it("fails items on a provider without delete_images FAILED_PRECONDITION, and deletes at most 8 at a time in a registry", async () => {
    const mem = edge.providers.get("mem")!;
    (edge.providers.get("ro")! as { capabilities: ReadonlySet<Capability> }).capabilities = new Set<Capability>(["list_images"]);
    for (let i = 0; i < 30; i++) mem.put(testImage("mem", "app", `sha256:${i.toString(16).padStart(64, "0")}`));
    let inFlight = 0;
    let most = 0;
    let open!: () => void;
    const opened = new Promise<void>((r) => (open = r));
    const remove = mem.deleteImage.bind(mem);
    mem.deleteImage = async (repository, digest) => {
      most = Math.max(most, ++inFlight);
      await opened;
      inFlight--;
      return remove(repository, digest);
    };
    const images = new GrpcClient(ImageService, edge.grpcAddress);
    const ops = new GrpcClient(OperationService, edge.grpcAddress);
    const bulk = new GrpcClient(BulkService, edge.grpcAddress);
    const memIds = await listIds(images, undefined, "mem");
    const roIds = await listIds(images, undefined, "ro");
    expect([memIds.length, roIds.length]).toEqual([32, 2]);

    const submitted = (await bulk.call("deleteImages", { imageIds: [...roIds, ...memIds] })) as Operation;
    // Every delete is held: the ninth can only start once one of the first eight has finished.
    await until(() => inFlight === 8);
    open();
    const op = await waitDone(ops, submitted);
    expect(most).toBe(8);
    expect(progressOf(op)).toEqual({ total: 34, done: 32, failed: 2 });
    const response = responseOf(op);
    expect(response.failed.map((f) => f.imageId)).toEqual(roIds);
    for (const f of response.failed) {
      expect(f.status!.code).toBe(9); // FAILED_PRECONDITION
      expect(f.status!.message).toContain("delete_images");
    }
    expect(mem.all()).toEqual([]);
    expect(edge.providers.get("ro")!.all()).toHaveLength(2);
    for (const c of [images, ops, bulk]) c.close();
  });
});

describe("bulk delete survives SIGKILL mid-run", () => {
  const COUNT = 40;
  /** DELETEs let through before the rest are held; the kill comes once the operation has saved them as done. */
  const PASSED = 15;
  const REPOSITORY = "bulk/app";
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let server: ServerProcess | undefined;
  let dataDir: string;

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry);
    dataDir = await makeTempDir("regplane-bulk-kill-");
  });

  afterAll(async () => {
    await server?.kill();
    await proxy?.kill();
    await registry?.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it("finishes after a restart: every image deleted, none the first run finished sent twice", async () => {
    const digests = await pushSyntheticImages(registry.url, REPOSITORY, COUNT);
    for (const digest of digests) expect(await manifestExists(registry.url, REPOSITORY, digest)).toBe(true);
    const sent = new Map<string, number>();
    const passed = new Set<string>();
    const held: http.IncomingMessage[] = [];
    let open = false;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    proxy.onRequest = async (_n, req) => {
      const digest = /\/manifests\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? "")?.[1];
      if (req.method !== "DELETE" || digest === undefined) return;
      sent.set(digest, (sent.get(digest) ?? 0) + 1);
      if (open || passed.size < PASSED) {
        passed.add(digest);
        return;
      }
      held.push(req);
      await released;
    };

    const config = `operations:\n  lease: 1s\nregistries:\n  - {id: gate, provider: oci, endpoint: ${JSON.stringify(proxy.url)}, insecure: true, listingCacheTtl: 0s}\n`;
    server = await startServer({ dataDir, config });
    let images = new GrpcClient(ImageService, server.grpcAddress);
    let ops = new GrpcClient(OperationService, server.grpcAddress);
    const bulk = new GrpcClient(BulkService, server.grpcAddress);
    const ids = await listIds(images, undefined, "gate");
    expect(ids).toHaveLength(COUNT);
    const submitted = (await bulk.call("deleteImages", { imageIds: ids })) as Operation;
    bulk.close();

    // Progress is saved as items finish: once it shows the passed deletes done (the rest are held), kill.
    await until(async () => progressOf((await ops.call("get", { operationId: submitted.id })) as Operation).done === PASSED && held.length > 0);
    await server.kill();
    // Taken after the kill: more DELETEs may have arrived (and been held) since the check above.
    const inFlight = new Set(held.map((r) => /\/manifests\/(sha256:[0-9a-f]{64})$/.exec(r.url!)![1]));
    const finishedBeforeKill = new Set(passed);
    images.close();
    ops.close();
    // The held requests' client is gone; the proxy drops them once their sockets have closed.
    await until(() => held.every((r) => r.socket.closed));
    open = true;
    release();

    server = await startServer({ dataDir, config });
    images = new GrpcClient(ImageService, server.grpcAddress);
    ops = new GrpcClient(OperationService, server.grpcAddress);
    const op = await waitDone(ops, submitted);
    expect(progressOf(op)).toEqual({ total: COUNT, done: COUNT, failed: 0 });
    expect(responseOf(op)).toMatchObject({ deleted: BigInt(COUNT), failed: [] });
    expect(await listIds(images, undefined, "gate")).toEqual([]);
    for (const digest of digests) {
      expect(await manifestExists(registry.url, REPOSITORY, digest), digest).toBe(false);
      // Saved as done before the kill: never sent again. Held at the kill: its outcome was unknown, so the
      // re-run sends it once more (an image already gone is success). Any other: sent once, by the re-run.
      const expected = inFlight.has(digest) ? [1, 2] : [1];
      expect(expected, `${digest} sent ${sent.get(digest)} times`).toContain(sent.get(digest));
    }
    expect(finishedBeforeKill.size).toBe(PASSED);
    for (const digest of finishedBeforeKill) expect(sent.get(digest), digest).toBe(1);
    images.close();
    ops.close();
  }, 60_000);

  it("a cancel mid-run ends CANCELLED, keeping the deletes done so far in the metadata", async () => {
    const digests = await pushSyntheticImages(registry.url, "bulk/cancel", 20);
    let passed = 0;
    let held = 0;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    proxy.onRequest = async (_n, req) => {
      if (req.method !== "DELETE") return;
      if (passed < 5) {
        passed++;
        return;
      }
      held++;
      await released;
    };
    const images = new GrpcClient(ImageService, server!.grpcAddress);
    const ops = new GrpcClient(OperationService, server!.grpcAddress);
    const bulk = new GrpcClient(BulkService, server!.grpcAddress);
    const ids = await listIds(images, undefined, "gate");
    expect(ids).toHaveLength(20);
    const submitted = (await bulk.call("deleteImages", { imageIds: ids })) as Operation;
    await until(async () => progressOf((await ops.call("get", { operationId: submitted.id })) as Operation).done === 5 && held > 0);
    await ops.call("cancel", { operationId: submitted.id });
    const op = await waitDone(ops, submitted);
    // The held DELETEs were abandoned by the cancel; refused once let go, so the registry keeps those images.
    proxy.rules.push({ method: "DELETE", status: 403, times: Number.MAX_SAFE_INTEGER });
    release();
    expect(op.result.case).toBe("error");
    expect((op.result.value as { code: number }).code).toBe(1); // CANCELLED
    expect(progressOf(op)).toEqual({ total: 20, done: 5, failed: 0 });
    const kept = await Promise.all(digests.map((d) => manifestExists(registry.url, "bulk/cancel", d)));
    expect(kept.filter((k) => !k)).toHaveLength(5);
    for (const c of [images, ops, bulk]) c.close();
  }, 60_000);
});
