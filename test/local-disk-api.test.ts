// A full disk and a read-only mount under the embedded registry, at the API edge: the registry's
// data dir is a small tmpfs (mounted by the test, which runs as root). Writes finish or leave the
// layout as it was, the status names the cause (RESOURCE_EXHAUSTED / FAILED_PRECONDITION with
// ErrorInfo), the errno is in one log line, and a retry once space is freed succeeds.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { anyIs, anyUnpack } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { NamespaceService } from "../src/gen/regplane/v1/namespace_service_pb.js";
import type { Operation } from "../src/gen/regplane/v1/operation_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { GrpcClient } from "./support/clients.js";
import { buildBaseLayout, copyToLayout, listBlobs, makeTempDir, readIndexJson } from "./support/images.js";
import { startServer, type ServerProcess } from "./support/server.js";

const RESOURCE_EXHAUSTED = 8;
const FAILED_PRECONDITION = 9;

let work: string;
let mnt: string;
let root: string;
let mounted = false;
let server: ServerProcess;
let images: GrpcClient;
let namespaces: GrpcClient;
let ops: GrpcClient;

beforeAll(async () => {
  work = await makeTempDir("regplane-disk-");
  mnt = path.join(work, "mnt");
  await fs.mkdir(mnt);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt]);
  mounted = true;
  root = path.join(mnt, "registry");
  const built = await buildBaseLayout(path.join(work, "built"));
  for (const tag of ["base", "v1", "v2"]) await copyToLayout(built.dir, tag, path.join(root, "team", "app"), tag);
  await fs.mkdir(path.join(work, "data"));
  const config = `registries:\n  - {id: small, provider: local, path: ${JSON.stringify(root)}, gcGracePeriod: 0s}\n`;
  server = await startServer({ dataDir: path.join(work, "data"), config });
  images = new GrpcClient(ImageService, server.grpcAddress);
  namespaces = new GrpcClient(NamespaceService, server.grpcAddress);
  ops = new GrpcClient(OperationService, server.grpcAddress);
}, 120_000);

afterAll(async () => {
  for (const c of [images, namespaces, ops]) c?.close();
  if (server) await server.stop();
  if (mounted) execFileSync("umount", [mnt]);
  if (work) await fs.rm(work, { recursive: true, force: true });
});

async function finished(op: Operation): Promise<Operation> {
  const done = (await ops.call("wait", { operationId: op.id, timeout: { seconds: 30n } }, { deadlineMs: 40_000 })) as Operation;
  expect(done.done).toBe(true);
  return done;
}

function expectFailure(done: Operation, code: number, reason: string): void {
  if (done.result.case !== "error") expect.fail(`expected an error, got ${done.result.case}`);
  const status = done.result.value;
  expect(status.code).toBe(code);
  const info = status.details.filter((d) => anyIs(d, ErrorInfoSchema)).map((d) => anyUnpack(d, ErrorInfoSchema)!);
  expect(info.map((i) => [i.reason, i.metadata.registry_id])).toEqual([[reason, "small"]]);
  expect(status.message).not.toContain(mnt);
}

/** Fills the tmpfs; returns the filler file to remove to free the space. */
function fillDisk(): string {
  const filler = path.join(mnt, "filler");
  try {
    execFileSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=4096"], { stdio: "ignore" });
  } catch {
    // dd ends with "No space left on device": the disk is full.
  }
  return filler;
}

/** Every name under the registry root, hidden ones included. */
async function namesUnder(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { recursive: true })).map(String).sort();
}

describe("embedded registry on a full or read-only disk", () => {
  it("Create on a full disk: RESOURCE_EXHAUSTED with ErrorInfo, nothing left behind, ENOSPC logged; the retry after freeing space succeeds", async () => {
    const before = await namesUnder(root);
    const filler = fillDisk();
    const failed = await finished(await namespaces.call("create", { registryId: "small", name: "fresh", description: "team images" }));
    expectFailure(failed, RESOURCE_EXHAUSTED, "DISK_FULL");
    expect(await namesUnder(root)).toEqual(before);
    expect(server.logs.filter((l) => l.errno === "ENOSPC" && l.registryId === "small").length).toBeGreaterThanOrEqual(1);

    await fs.rm(filler);
    const retried = await finished(await namespaces.call("create", { registryId: "small", name: "fresh", description: "team images" }));
    expect(retried.result.case).toBe("response");
    expect((await namespaces.call("get", { namespaceId: "small/fresh" })).description).toBe("team images");
  });

  it("deletes on a read-only mount: FAILED_PRECONDITION with ErrorInfo, the layout as it was, EROFS logged; after remounting rw they succeed", async () => {
    const layout = path.join(root, "team", "app");
    const listed = (await images.call("list", { registryId: "small", pageSize: 100n })).images as Image[];
    const victim = listed.find((i) => i.tags.includes("v1"))!;
    const indexBefore = await readIndexJson(layout);
    const blobsBefore = await listBlobs(layout);
    execFileSync("mount", ["-o", "remount,ro", mnt]);
    try {
      expectFailure(await finished(await images.call("delete", { imageId: victim.id })), FAILED_PRECONDITION, "READ_ONLY_FILE_SYSTEM");
      expectFailure(await finished(await namespaces.call("delete", { namespaceId: "small/team" })), FAILED_PRECONDITION, "READ_ONLY_FILE_SYSTEM");
      expect(await readIndexJson(layout)).toEqual(indexBefore);
      expect(await listBlobs(layout)).toEqual(blobsBefore);
      expect(server.logs.filter((l) => l.errno === "EROFS" && l.registryId === "small").length).toBeGreaterThanOrEqual(2);
    } finally {
      execFileSync("mount", ["-o", "remount,rw", mnt]);
    }
    expect((await finished(await images.call("delete", { imageId: victim.id }))).result.case).toBe("response");
    expect((await readIndexJson(layout)).manifests.map((m) => m.digest)).not.toContain(victim.digest);
    expect((await finished(await namespaces.call("delete", { namespaceId: "small/team" }))).result.case).toBe("response");
    expect((await fs.readdir(root)).filter((n) => n === "team" || n.startsWith("."))).toEqual([]);
  });
});
