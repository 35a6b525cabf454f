// The embedded registry over a hostile corpus at the API edge: a started server with two local
// registries, one holding links, FIFOs, devices, a DAG bomb, cycles and oversized files, the other a
// tenant's ordinary images. Listing, getting and deleting across the first must never read or remove
// anything outside its layouts, nor stop the second tenant from being answered.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { NamespaceService } from "../src/gen/regplane/v1/namespace_service_pb.js";
import type { Operation } from "../src/gen/regplane/v1/operation_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { connectClient, GrpcClient, GrpcError } from "./support/clients.js";
import { ageBlobs, buildBaseLayout, copyToLayout, listBlobs, makeTempDir, verifyImageReadable } from "./support/images.js";
import { startServer, type ServerProcess } from "./support/server.js";
import { buildHostileCorpus, type HostileCorpus } from "./fixtures/hostile-corpus.js";

const CALM_TAGS = ["base", "v1", "v2"] as const;
/** gRPC codes that would mean the server failed rather than answered: UNKNOWN, DEADLINE_EXCEEDED, INTERNAL. */
const FAILURE_CODES = new Set([2, 4, 13]);

let work: string;
let evilRoot: string;
let calmRoot: string;
let calmLayout: string;
let corpus: HostileCorpus;
let server: ServerProcess;
let images: GrpcClient;
let namespaces: GrpcClient;
let ops: GrpcClient;

beforeAll(async () => {
  work = await makeTempDir("regplane-hostile-");
  evilRoot = path.join(work, "evil-registry");
  calmRoot = path.join(work, "calm-registry");
  const built = await buildBaseLayout(path.join(work, "built"));
  calmLayout = path.join(calmRoot, "team", "app");
  for (const tag of CALM_TAGS) await copyToLayout(built.dir, tag, calmLayout, tag);
  // Old enough to collect, so only the refusal to follow links keeps them.
  await ageBlobs(calmLayout);
  corpus = await buildHostileCorpus(evilRoot, path.join(work, "outside"), path.join(calmLayout, "blobs"));
  const config = [
    "registries:",
    `  - {id: evil, provider: local, path: ${JSON.stringify(evilRoot)}, gcGracePeriod: 0s}`,
    `  - {id: calm, provider: local, path: ${JSON.stringify(calmRoot)}}`,
    "",
  ].join("\n");
  await fs.mkdir(path.join(work, "data"));
  server = await startServer({ dataDir: path.join(work, "data"), config });
  images = new GrpcClient(ImageService, server.grpcAddress);
  namespaces = new GrpcClient(NamespaceService, server.grpcAddress);
  ops = new GrpcClient(OperationService, server.grpcAddress);
}, 120_000);

afterAll(async () => {
  for (const c of [images, namespaces, ops]) c?.close();
  if (server) await server.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

/** The status code a call ended with: 0 for an answer. */
async function codeOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 0;
  } catch (err) {
    if (err instanceof GrpcError) return err.code;
    throw err;
  }
}

async function listAll(registryId: string, orderBy = ""): Promise<Image[]> {
  const out: Image[] = [];
  let pageToken = "";
  do {
    const res = await images.call("list", { registryId, pageSize: 3n, pageToken, orderBy });
    out.push(...(res.images as Image[]));
    pageToken = res.nextPageToken;
  } while (pageToken !== "");
  return out;
}

describe("embedded registry over a hostile corpus", () => {
  it("lists, gets and deletes across it while the other tenant's every List and Get is answered; nothing outside is touched", async () => {
    const calmImages = await listAll("calm");
    expect(calmImages.map((i) => i.tags.join(",")).sort()).toEqual([...CALM_TAGS].sort());
    const calmBlobsBefore = await listBlobs(calmLayout);
    const connectImages = connectClient(ImageService, server.httpUrl);

    let hostileDone = false;
    const hostileCodes: number[] = [];
    const hostile = (async () => {
      try {
        for (let round = 0; round < 3; round++) {
          const listed = await listAll("evil");
          if (round === 0) {
            // Readable layouts are listed (damaged manifests from index.json alone); refused ones are not.
            const repositories = [...new Set(listed.map((i) => i.name))].sort();
            // Image names carry the registry id: registry "evil", namespace "evil".
            expect(repositories).toEqual(["bad-blobs", "blobs-cross", "blobs-link", "cycle", "dag"].map((r) => `evil/evil/${r}`));
            expect(listed.filter((i) => i.name === "evil/evil/bad-blobs").map((i) => i.tags[0]).sort()).toEqual(["fifo", "good", "huge", "mismatch", "zero"]);
          }
          for (const orderBy of ["created_at desc", "name, digest desc"]) await listAll("evil", orderBy);
          hostileCodes.push(await codeOf(namespaces.call("list", { registryId: "evil", pageSize: 10n })));
          hostileCodes.push(await codeOf(namespaces.call("get", { namespaceId: "evil/evil" })));
          for (const image of listed) {
            hostileCodes.push(await codeOf(images.call("get", { imageId: image.id })));
            const op = (await images.call("delete", { imageId: image.id })) as Operation;
            const done = (await ops.call("wait", { operationId: op.id, timeout: { seconds: 30n } }, { deadlineMs: 40_000 })) as Operation;
            expect(done.done).toBe(true);
            hostileCodes.push(done.result.case === "error" ? done.result.value.code : 0);
          }
        }
      } finally {
        hostileDone = true;
      }
    })();

    // The other tenant keeps calling until the hostile work is over (and at least 20 rounds).
    let calmCalls = 0;
    let calmOk = 0;
    const calm = (async () => {
      for (let round = 0; round < 20 || !hostileDone; round++) {
        const image = calmImages[round % calmImages.length];
        const answers = await Promise.all([
          codeOf(images.call("list", { registryId: "calm", pageSize: 10n })),
          codeOf(images.call("get", { imageId: image.id })),
          connectImages.list({ registryId: "calm", pageSize: 10n }).then(
            () => 0,
            () => 1,
          ),
          connectImages.get({ imageId: image.id }).then(
            () => 0,
            () => 1,
          ),
        ]);
        calmCalls += answers.length;
        calmOk += answers.filter((c) => c === 0).length;
      }
    })();
    await Promise.all([hostile, calm]);

    expect(calmCalls).toBeGreaterThanOrEqual(80);
    expect(calmOk).toBe(calmCalls);
    expect(hostileCodes.filter((c) => FAILURE_CODES.has(c))).toEqual([]);
    // Every image the corpus lists, damaged ones included, could be deleted.
    expect(await listAll("evil")).toEqual([]);

    for (const [file, content] of corpus.canaries) expect(await fs.readFile(file, "utf8"), file).toBe(content);
    expect(await listBlobs(calmLayout)).toEqual(calmBlobsBefore);
    for (const tag of CALM_TAGS) await verifyImageReadable(calmLayout, tag);
    // Each refused layout is named in a warning.
    for (const repository of ["evil/index-fifo", "evil/index-zero", "evil/index-link", "evil/index-huge"]) {
      expect(server.logs.some((l) => l.repository === repository && String(l.msg).includes("skipped")), repository).toBe(true);
    }
  }, 300_000);

});
