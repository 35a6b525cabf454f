// Collection beside another writer, at the API edge: skopeo copies multi-megabyte images into a layout
// while deletes of other images in the same layout run through the started server, round after round.
// skopeo writes blobs first and index.json last, so every collection in between sees the new blobs
// unreferenced; the grace period (default 2h) must keep them.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import type { Operation } from "../src/gen/regplane/v1/operation_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { GrpcClient } from "./support/clients.js";
import { copyToLayout, makeTempDir, readIndexJson, REF_NAME, run, skopeoInspect, writeSyntheticImage } from "./support/images.js";
import { startServer, type ServerProcess } from "./support/server.js";

const ROUNDS = 6;
const LAYER_BYTES = 3 * 1024 * 1024;
const VICTIMS = 300;
const REPOSITORY = "ci/app";

let work: string;
let source: string;
let server: ServerProcess;
let images: GrpcClient;
let ops: GrpcClient;

/** An image of two layers of incompressible random data, built with umoci. */
async function largeImage(layoutDir: string, tag: string): Promise<void> {
  await run("umoci", ["new", "--image", `${layoutDir}:${tag}`]);
  for (let i = 0; i < 2; i++) {
    const content = await makeTempDir("regplane-large-");
    await fs.writeFile(path.join(content, "data.bin"), randomBytes(LAYER_BYTES));
    await run("umoci", ["insert", "--rootless", "--image", `${layoutDir}:${tag}`, content, `/layer-${i}`]);
    await fs.rm(content, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  work = await makeTempDir("regplane-gc-");
  source = path.join(work, "source");
  await run("umoci", ["init", "--layout", source]);
  for (let r = 0; r < ROUNDS; r++) await largeImage(source, `big${r}`);
  await run("umoci", ["gc", "--layout", source]);
  server = await startServer();
  images = new GrpcClient(ImageService, server.grpcAddress);
  ops = new GrpcClient(OperationService, server.grpcAddress);
}, 180_000);

afterAll(async () => {
  for (const c of [images, ops]) c?.close();
  if (server) {
    await server.stop();
    await fs.rm(server.dataDir, { recursive: true, force: true });
  }
  if (work) await fs.rm(work, { recursive: true, force: true });
});

async function deleteAndWait(imageId: string): Promise<void> {
  const op = (await images.call("delete", { imageId })) as Operation;
  const done = (await ops.call("wait", { operationId: op.id, timeout: { seconds: 30n } }, { deadlineMs: 40_000 })) as Operation;
  expect(done.done).toBe(true);
  expect(done.result.case, done.result.case === "error" ? done.result.value.message : "").toBe("response");
}

describe("collection while skopeo copies into the same layout", () => {
  it("keeps every blob of images copied in meanwhile; each copied tag reads in full with skopeo and umoci", async () => {
    const layout = path.join(server.dataDir, "registry", REPOSITORY);
    // Small images to delete, one collection each, while the copies run.
    for (let i = 0; i < VICTIMS; i++) await writeSyntheticImage(layout, { tag: `victim${i}` });
    const listed = await images.call("list", { registryId: "local", repositoryName: `local/${REPOSITORY}`, pageSize: 1000n });
    const victims = (listed.images as Image[]).filter((i) => i.tags.some((t) => t.startsWith("victim")));
    expect(victims.length).toBe(VICTIMS);

    let deletes = 0;
    for (let r = 0; r < ROUNDS; r++) {
      let copying = true;
      const copy = copyToLayout(source, `big${r}`, layout, `big${r}`).finally(() => (copying = false));
      // Collections run back to back for as long as this copy is in progress (at least one per round).
      do {
        const victim = victims.shift();
        if (victim === undefined) break;
        await deleteAndWait(victim.id);
        deletes++;
      } while (copying);
      await copy;
    }
    expect(deletes).toBeGreaterThanOrEqual(ROUNDS);

    const index = await readIndexJson(layout);
    const tags = index.manifests.map((m) => m.annotations?.[REF_NAME]).filter((t): t is string => t !== undefined);
    for (let r = 0; r < ROUNDS; r++) {
      expect(tags).toContain(`big${r}`);
      const inspected = await skopeoInspect(layout, `big${r}`);
      expect(inspected.Layers).toHaveLength(2);
      // umoci stat reads the manifest, the config and every layer's history entry.
      await run("umoci", ["stat", "--image", `${layout}:big${r}`]);
      // And every layer's bytes are there and match their digests.
      const out = path.join(work, `verify-${r}`);
      await run("skopeo", ["copy", "--quiet", `oci:${layout}:big${r}`, `dir:${out}`]);
      await fs.rm(out, { recursive: true, force: true });
    }
    // No victim count is asserted: skopeo writes back the index.json it read, so a delete that lands
    // while it copies can be undone by it (documented); what matters is that nothing it wrote is lost.
  }, 600_000);
});
