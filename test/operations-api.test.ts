// Kept as one file: every case copies from the template layouts beforeAll builds once with umoci and skopeo.
// Deletes and namespace changes as long-running operations at the API edge: the real server process,
// grpc-js and Connect clients, images built by umoci and copied in by skopeo, SIGKILL in mid-work.
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { createRegistry, toBinary, type DescService } from "@bufbuild/protobuf";
import { anyIs, anyUnpack, EmptySchema, timestampMs } from "@bufbuild/protobuf/wkt";
import { type Client, Code as ConnectCode, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import { DeleteImageMetadataSchema, ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { NamespaceSchema } from "../src/gen/regplane/v1/namespace_pb.js";
import {
  CreateNamespaceMetadataSchema,
  DeleteNamespaceMetadataSchema,
  NamespaceService,
  UpdateNamespaceMetadataSchema,
} from "../src/gen/regplane/v1/namespace_service_pb.js";
import { OperationSchema, type Operation } from "../src/gen/regplane/v1/operation_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { RegistryService } from "../src/gen/regplane/v1/registry_service_pb.js";
import { connectClient, errorInfo, fieldViolations, GrpcClient, grpcFailure } from "./support/clients.js";
import {
  blobFile,
  buildBaseLayout,
  ageBlobs,
  copyToLayout,
  deriveImage,
  gcLayout,
  listBlobs,
  makeTempDir,
  readBlobJson,
  readIndexJson,
  REF_NAME,
  run,
  skopeoInspect,
  writeIndexJson,
} from "./support/images.js";
import { startGateRegistry, type GateRegistry } from "./support/delete-gate.js";
import { pushImage } from "./support/registry.js";
import { startServer, tempDir, type ServerProcess } from "./support/server.js";

const TAGS = ["base", "v1", "v2", "v3"] as const;
type Tag = (typeof TAGS)[number];
type Manifest = { config: { digest: string }; layers: Array<{ digest: string }> };

/** The layout every test repository starts from: base has one layer; v1 and v2 each add one to it; v3 adds one to v1. */
let template: string;
const digests = {} as Record<Tag, string>;
let work: string;

beforeAll(async () => {
  work = await makeTempDir();
  const built = await buildBaseLayout(path.join(work, "built"));
  await deriveImage(built.dir, "v1", "v3");
  await gcLayout(built.dir);
  template = path.join(work, "template");
  for (const tag of TAGS) digests[tag] = await copyToLayout(built.dir, tag, template, tag);
}, 60_000);

afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

// ---- helpers ----

const registryOf = (s: ServerProcess) => path.join(s.dataDir, "registry");

async function connectFailure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

/** A repository with the four template images; `copy` puts each in with skopeo, otherwise the layout is copied as files. */
async function seed(s: ServerProcess, repo: string, copy = false): Promise<string> {
  const dir = path.join(registryOf(s), repo);
  if (copy) {
    for (const tag of TAGS) await copyToLayout(template, tag, dir, tag);
  } else {
    await fs.mkdir(path.dirname(dir), { recursive: true });
    await fs.cp(template, dir, { recursive: true });
  }
  // Images seeded here stand for images written long before the delete: past the collection grace period.
  await ageBlobs(dir);
  return dir;
}

/** Image ids of a repository by tag; listing is also what records them for Get and Delete. */
async function imageIds(images: GrpcClient, repo: string): Promise<Record<Tag, string>> {
  const res = await images.call("list", { repositoryName: `local/${repo}`, pageSize: 1000n });
  const ids = {} as Record<Tag, string>;
  for (const tag of TAGS) {
    const image = (res.images as Image[]).find((i) => i.digest === digests[tag]);
    if (image) ids[tag] = image.id;
  }
  return ids;
}

function expectNewDeleteOperation(op: Operation, imageId: string): void {
  expect(op.id).toMatch(/^[a-z0-9]+$/);
  expect(op.id.length).toBeLessThanOrEqual(50);
  expect(op.description).toContain("Delete image");
  expect(Math.abs(timestampMs(op.createdAt!) - Date.now())).toBeLessThan(60_000);
  expect(timestampMs(op.modifiedAt!)).toBeGreaterThanOrEqual(timestampMs(op.createdAt!));
  expect(op.createdBy).toBe("anonymous");
  expect(op.done).toBe(false);
  expect(op.result.case).toBeUndefined();
  expect(op.metadata?.typeUrl).toBe("type.googleapis.com/regplane.v1.DeleteImageMetadata");
  expect(anyUnpack(op.metadata!, DeleteImageMetadataSchema)?.imageId).toBe(imageId);
}

/** Equal on the wire (grpc-js and connect-node hand back bytes fields as different array types). */
function expectSameOperation(a: Operation, b: Operation): void {
  expect(Buffer.from(toBinary(OperationSchema, a))).toEqual(Buffer.from(toBinary(OperationSchema, b)));
}

function expectEmptyResponse(op: Operation): void {
  expect(op.done).toBe(true);
  expect(op.result.case).toBe("response");
  if (op.result.case === "response") {
    expect(op.result.value.typeUrl).toBe("type.googleapis.com/google.protobuf.Empty");
    expect(anyIs(op.result.value, EmptySchema)).toBe(true);
  }
}

async function waitDone(ops: GrpcClient, id: string): Promise<Operation> {
  const op = (await ops.call("wait", { operationId: id, timeout: { seconds: 30n } }, { deadlineMs: 40_000 })) as Operation;
  expect(op.done, `operation ${id} done`).toBe(true);
  return op;
}

/** Every operation a listing returns, walked with page_size 1; checks the tokens on the way. */
async function listAll(ops: GrpcClient, req: { resourceId?: string; done?: boolean }): Promise<Operation[]> {
  const out: Operation[] = [];
  let pageToken = "";
  do {
    const res = await ops.call("list", { ...req, pageSize: 1n, pageToken });
    expect(res.operations.length).toBeLessThanOrEqual(1);
    out.push(...(res.operations as Operation[]));
    pageToken = res.nextPageToken;
    expect(pageToken.length).toBeLessThanOrEqual(100);
    for (const op of res.operations as Operation[]) expect(pageToken).not.toContain(op.id);
  } while (pageToken !== "");
  return out;
}

/** The types operations pack into Any, which a Connect JSON client needs to read them. */
const packedTypes = createRegistry(
  DeleteImageMetadataSchema,
  CreateNamespaceMetadataSchema,
  UpdateNamespaceMetadataSchema,
  DeleteNamespaceMetadataSchema,
  NamespaceSchema,
  EmptySchema,
  ErrorInfoSchema,
  BadRequestSchema,
);

/** A Connect client speaking JSON, as a browser does. */
function connectJson<S extends DescService>(service: S, baseUrl: string): Client<S> {
  return createClient(service, createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, jsonOptions: { registry: packedTypes } }));
}

async function scrape(s: ServerProcess): Promise<string> {
  return (await fetch(`${s.httpUrl}/metrics`)).text();
}

/** The value of the sample with exactly these labels, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    const keys = Object.keys(labels);
    if (Object.keys(got).length === keys.length && keys.every((k) => got[k] === labels[k])) return Number(m[3]);
  }
  return undefined;
}

/** Checks until true; the bound only names what never happened, just inside the 60 s test timeout. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 50_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** skopeo copies the image out of the layout, reading every blob and checking its digest. */
async function verifyImage(layoutDir: string, tag: Tag): Promise<void> {
  expect((await skopeoInspect(layoutDir, tag)).Digest).toBe(digests[tag]);
  const out = await makeTempDir("regplane-verify-");
  try {
    await run("skopeo", ["copy", "--quiet", `oci:${layoutDir}:${tag}`, `dir:${out}`]);
  } finally {
    await fs.rm(out, { recursive: true, force: true });
  }
}

/**
 * A layout is consistent when index.json parses, every manifest it names and every blob those
 * reference is present, nothing else is left in blobs/ (collection is exact), no temp file remains,
 * umoci lists the same tags, and skopeo reads every remaining image in full.
 */
async function expectConsistent(dir: string, expected: { present: Tag[]; gone: Tag[] }): Promise<void> {
  const index = await readIndexJson(dir);
  const reachable = new Set<string>();
  const tags: string[] = [];
  for (const m of index.manifests) {
    reachable.add(m.digest);
    const manifest = await readBlobJson<Manifest>(dir, m.digest);
    for (const b of [manifest.config, ...manifest.layers]) {
      reachable.add(b.digest);
      expect(existsSync(blobFile(dir, b.digest)), `${dir}: blob ${b.digest} of ${m.digest}`).toBe(true);
    }
    const tag = m.annotations?.[REF_NAME];
    if (tag !== undefined) tags.push(tag);
  }
  expect(await listBlobs(dir)).toEqual([...reachable].sort());
  expect((await fs.readdir(dir)).filter((n) => n.includes(".tmp-"))).toEqual([]);
  const umociTags = (await run("umoci", ["ls", "--layout", dir])).split("\n").filter(Boolean);
  expect(umociTags.sort()).toEqual([...tags].sort());
  expect(tags.sort()).toEqual([...expected.present].sort());
  for (const tag of expected.present) await verifyImage(dir, tag);
  for (const tag of expected.gone) {
    expect(index.manifests.map((m) => m.digest)).not.toContain(digests[tag]);
    expect(existsSync(blobFile(dir, digests[tag])), `${dir}: manifest of deleted ${tag}`).toBe(false);
    await expect(skopeoInspect(dir, tag)).rejects.toThrow();
  }
}

interface Gate {
  operationId: string;
  release(): Promise<void>;
}

let gates = 0;

const GATE_REPOSITORY = "held/app";

/**
 * Holds the engine's one worker: a delete of an image in the gate registry whose DELETE request the
 * proxy keeps until the test releases it, so everything submitted meanwhile stays pending.
 */
async function holdEngine(s: ServerProcess, gateRegistry: GateRegistry, images: GrpcClient, ops: GrpcClient): Promise<Gate> {
  await until("an idle engine", async () => {
    const m = await scrape(s);
    return sample(m, "regplane_operations", { state: "pending" }) === 0 && sample(m, "regplane_operations", { state: "running" }) === 0;
  });
  await pushImage(template, "v1", gateRegistry.registry.host, GATE_REPOSITORY, `g${++gates}`);
  const listed = await images.call("list", { repositoryName: `gate/${GATE_REPOSITORY}`, pageSize: 10n });
  const image = (listed.images as Image[])[0];
  const held = gateRegistry.gate.hold(GATE_REPOSITORY);
  const op = (await images.call("delete", { imageId: image.id })) as Operation;
  await held.arrived;
  let released = false;
  return {
    operationId: op.id,
    async release() {
      if (released) return;
      released = true;
      held.release();
      await waitDone(ops, op.id);
    },
  };
}

// ---- one server for most of the file: one worker, so a gate holds every later operation ----

describe("operations on a running server", () => {
  let server: ServerProcess;
  let images: GrpcClient;
  let ops: GrpcClient;
  let namespaces: GrpcClient;
  let registries: GrpcClient;
  const held: Gate[] = [];
  const hold = async () => {
    const gate = await holdEngine(server, gateRegistry, images, ops);
    held.push(gate);
    return gate;
  };

  let gateRegistry: GateRegistry;

  beforeAll(async () => {
    gateRegistry = await startGateRegistry();
    server = await startServer({ config: `operations:\n  concurrency: 1\nregistries:\n  - {id: local, provider: local}\n${gateRegistry.configEntry}\n` });
    images = new GrpcClient(ImageService, server.grpcAddress);
    ops = new GrpcClient(OperationService, server.grpcAddress);
    namespaces = new GrpcClient(NamespaceService, server.grpcAddress);
    registries = new GrpcClient(RegistryService, server.grpcAddress);
  }, 60_000);

  // A test that fails while holding the engine must not stall the ones after it.
  afterEach(async () => {
    for (const gate of held.splice(0)) await gate.release().catch(() => {});
  });

  afterAll(async () => {
    for (const c of [images, ops, namespaces, registries]) c?.close();
    if (server) {
      expect(await server.stop()).toBe(0);
      await fs.rm(server.dataDir, { recursive: true, force: true });
    }
    await gateRegistry?.close();
  });

  describe("ImageService.Delete", () => {
    it("over gRPC: an Operation at once, polled with Get and Wait to done with Empty; blobs another image uses stay", async () => {
      const dir = await seed(server, "basic/grpc", true);
      const ids = await imageIds(images, "basic/grpc");
      const v1 = await readBlobJson<Manifest>(dir, digests.v1);

      const op = (await images.call("delete", { imageId: ids.v1 })) as Operation;
      expectNewDeleteOperation(op, ids.v1);
      let polled = op;
      await until("Get to report done", async () => {
        polled = (await ops.call("get", { operationId: op.id })) as Operation;
        return polled.done;
      });
      expectEmptyResponse(polled);
      expect(polled.id).toBe(op.id);
      expect(polled.createdAt).toEqual(op.createdAt);
      expect(polled.metadata).toEqual(op.metadata);
      const waited = await waitDone(ops, op.id);
      expect(waited).toEqual(polled);

      const listed = await images.call("list", { repositoryName: "local/basic/grpc" });
      expect((listed.images as Image[]).map((i) => i.digest).sort()).toEqual([digests.base, digests.v2, digests.v3].sort());
      expect((await grpcFailure(images.call("get", { imageId: ids.v1 }))).code).toBe(grpc.status.NOT_FOUND);
      // v1's manifest and config go; its layers stay: base's is everyone's, its own is under v3.
      expect(existsSync(blobFile(dir, v1.config.digest))).toBe(false);
      for (const layer of v1.layers) expect(existsSync(blobFile(dir, layer.digest))).toBe(true);
      await expectConsistent(dir, { present: ["base", "v2", "v3"], gone: ["v1"] });
    });

    for (const encoding of ["binary", "JSON"] as const) {
      it(`over Connect (${encoding}): the same Operation, Get and Wait; the image's own layer goes, shared ones stay`, async () => {
        const repo = `basic/connect-${encoding.toLowerCase()}`;
        const dir = await seed(server, repo, true);
        const ids = await imageIds(images, repo);
        const v3 = await readBlobJson<Manifest>(dir, digests.v3);
        const v1 = await readBlobJson<Manifest>(dir, digests.v1);
        const cImages = encoding === "JSON" ? connectJson(ImageService, server.httpUrl) : connectClient(ImageService, server.httpUrl, "connect-binary");
        const cOps = encoding === "JSON" ? connectJson(OperationService, server.httpUrl) : connectClient(OperationService, server.httpUrl, "connect-binary");

        const op = await cImages.delete({ imageId: ids.v3 });
        expectNewDeleteOperation(op, ids.v3);
        let polled = op;
        await until("Get to report done", async () => {
          polled = await cOps.get({ operationId: op.id });
          return polled.done;
        });
        expectEmptyResponse(polled);
        const waited = await cOps.wait({ operationId: op.id, timeout: { seconds: 10n } });
        expect(waited).toEqual(polled);

        const listed = await cImages.list({ repositoryName: `local/${repo}` });
        expect(listed.images.map((i) => i.digest)).not.toContain(digests.v3);
        expect((await connectFailure(cImages.get({ imageId: ids.v3 }))).code).toBe(ConnectCode.NotFound);
        const own = v3.layers[v3.layers.length - 1].digest;
        expect(v1.layers.map((l) => l.digest)).not.toContain(own);
        expect(existsSync(blobFile(dir, own))).toBe(false);
        for (const layer of v1.layers) expect(existsSync(blobFile(dir, layer.digest))).toBe(true);
        await expectConsistent(dir, { present: ["base", "v1", "v2"], gone: ["v3"] });
      });
    }

    it("succeeds when the manifest is already gone from index.json, and collects what it left", async () => {
      const dir = await seed(server, "basic/gone", true);
      const ids = await imageIds(images, "basic/gone");
      const index = await readIndexJson(dir);
      await writeIndexJson(dir, { ...index, manifests: index.manifests.filter((m) => m.digest !== digests.v2) });

      const op = (await images.call("delete", { imageId: ids.v2 })) as Operation;
      expectNewDeleteOperation(op, ids.v2);
      expectEmptyResponse(await waitDone(ops, op.id));
      await expectConsistent(dir, { present: ["base", "v1", "v3"], gone: ["v2"] });
    });
  });

  describe("many deletes at once", () => {
    it("200 parallel deletes with duplicates and idempotency keys: one operation per image and per key, all finish", async () => {
      const repos = Array.from({ length: 8 }, (_, i) => `burst/r${i}`);
      const targets: Array<{ repo: string; tag: Tag; imageId: string }> = [];
      const kept = new Map<string, Tag>();
      for (const [i, repo] of repos.entries()) {
        await seed(server, repo);
        const ids = await imageIds(images, repo);
        kept.set(repo, TAGS[i % 4]);
        for (const tag of TAGS) if (tag !== TAGS[i % 4]) targets.push({ repo, tag, imageId: ids[tag] });
      }
      const cImages = connectClient(ImageService, server.httpUrl, "connect-binary");

      const gate = await hold();
      // Every image is asked for about eight times: in even rounds with one of its two keys (each
      // sent two or three times), in odd rounds without; the transport alternates.
      const requests = Array.from({ length: 200 }, (_, j) => {
        const round = Math.floor(j / targets.length);
        const target = targets[(j * 7) % targets.length];
        const key = round % 2 === 0 ? `key-${target.repo}-${target.tag}-${round % 4 === 0 ? "a" : "b"}` : undefined;
        return { target, key, connect: (j + round) % 2 === 1 };
      });
      const answers = await Promise.all(
        requests.map(async (r) => {
          const headers = r.key === undefined ? undefined : { "idempotency-key": r.key };
          const op = r.connect
            ? await cImages.delete({ imageId: r.target.imageId }, { headers })
            : ((await images.call("delete", { imageId: r.target.imageId }, { metadata: headers })) as Operation);
          return { ...r, op };
        }),
      );
      // Every call came back while the engine could not run a thing (the gate is still held): Delete
      // does not wait for the work.

      const byImage = new Map<string, Set<string>>();
      const byKey = new Map<string, Set<string>>();
      for (const a of answers) {
        expect(a.op.done).toBe(false);
        expect(anyUnpack(a.op.metadata!, DeleteImageMetadataSchema)?.imageId).toBe(a.target.imageId);
        byImage.set(a.target.imageId, (byImage.get(a.target.imageId) ?? new Set()).add(a.op.id));
        if (a.key !== undefined) byKey.set(a.key, (byKey.get(a.key) ?? new Set()).add(a.op.id));
      }
      expect(byImage.size).toBe(targets.length);
      for (const [image, set] of byImage) expect([...set], `operations for ${image}`).toHaveLength(1);
      expect(byKey.size).toBe(2 * targets.length);
      for (const [key, set] of byKey) expect([...set], `operations for key ${key}`).toHaveLength(1);
      const pending = await listAll(ops, { done: false });
      for (const [, set] of byImage) expect(pending.map((o) => o.id)).toContain([...set][0]);

      // A key already bound to one image, sent for another, is refused and names the first operation.
      const [boundKey, boundOps] = [...byKey][0];
      const boundImage = answers.find((a) => a.key === boundKey)!.target.imageId;
      const other = targets.find((t) => t.imageId !== boundImage)!;
      const reused = await grpcFailure(images.call("delete", { imageId: other.imageId }, { metadata: { "idempotency-key": boundKey } }));
      expect(reused.code).toBe(grpc.status.ALREADY_EXISTS);
      expect(errorInfo(reused.status)?.reason).toBe("IDEMPOTENCY_KEY_REUSED");
      expect(errorInfo(reused.status)?.metadata.operation_id).toBe([...boundOps][0]);
      const reusedConnect = await connectFailure(cImages.delete({ imageId: other.imageId }, { headers: { "idempotency-key": boundKey } }));
      expect(reusedConnect.code).toBe(ConnectCode.AlreadyExists);
      expect(reusedConnect.findDetails(ErrorInfoSchema)[0]?.reason).toBe("IDEMPOTENCY_KEY_REUSED");

      await gate.release();
      for (const set of byImage.values()) expectEmptyResponse(await waitDone(ops, [...set][0]));

      // After the work is done the key still returns the first operation, now finished.
      const again = (await images.call("delete", { imageId: boundImage }, { metadata: { "idempotency-key": boundKey } })) as Operation;
      expect(again.id).toBe([...boundOps][0]);
      expectEmptyResponse(again);

      await Promise.all(
        repos.map((repo) =>
          expectConsistent(path.join(registryOf(server), repo), { present: [kept.get(repo)!], gone: TAGS.filter((t) => t !== kept.get(repo)) }),
        ),
      );
    });
  });

  describe("OperationService", () => {
    it("Cancel ends a pending operation with CANCELLED and it never runs; a finished one comes back unchanged", async () => {
      const dir = await seed(server, "cancel/app");
      const ids = await imageIds(images, "cancel/app");
      const cImages = connectClient(ImageService, server.httpUrl, "connect-binary");
      const cOps = connectClient(OperationService, server.httpUrl, "connect-binary");

      const gate = await hold();
      const op = (await images.call("delete", { imageId: ids.v1 })) as Operation;
      expect(op.done).toBe(false);
      const waiting = ops.call("wait", { operationId: op.id, timeout: { seconds: 30n } }, { deadlineMs: 40_000 }) as Promise<Operation>;
      await sleep(100);
      const cancelled = (await ops.call("cancel", { operationId: op.id })) as Operation;
      expect(cancelled.done).toBe(true);
      // A Wait already in progress comes back with the cancelled operation, long before its 30 s timeout.
      const started = Date.now();
      expect(await waiting).toEqual(cancelled);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(cancelled.result.case).toBe("error");
      if (cancelled.result.case === "error") expect(cancelled.result.value.code).toBe(grpc.status.CANCELLED);
      expect(cancelled.metadata).toEqual(op.metadata);
      expect(await ops.call("get", { operationId: op.id })).toEqual(cancelled);
      expect(await ops.call("cancel", { operationId: op.id })).toEqual(cancelled);

      const viaConnect = await cImages.delete({ imageId: ids.v2 });
      const cancelledViaConnect = await cOps.cancel({ operationId: viaConnect.id });
      expect(cancelledViaConnect.done).toBe(true);
      expect(cancelledViaConnect.result.case === "error" && cancelledViaConnect.result.value.code).toBe(grpc.status.CANCELLED);
      await gate.release();

      // The cancelled deletes never touched the layout.
      await expectConsistent(dir, { present: [...TAGS], gone: [] });

      const finished = await waitDone(ops, ((await images.call("delete", { imageId: ids.v3 })) as Operation).id);
      expectEmptyResponse(finished);
      expect(await ops.call("cancel", { operationId: finished.id })).toEqual(finished);
      expectSameOperation(await cOps.cancel({ operationId: finished.id }), finished);
      await expectConsistent(dir, { present: ["base", "v1", "v2"], gone: ["v3"] });
    });

    it("Wait returns the not-done operation when its timeout passes, and the done one as soon as it finishes", async () => {
      await seed(server, "wait/app");
      const ids = await imageIds(images, "wait/app");
      const cOps = connectClient(OperationService, server.httpUrl, "connect-binary");

      const gate = await hold();
      const op = (await images.call("delete", { imageId: ids.v2 })) as Operation;
      let started = Date.now();
      const timedOut = (await ops.call("wait", { operationId: op.id, timeout: { seconds: 1n } })) as Operation;
      const elapsed = Date.now() - started;
      expect(timedOut.done).toBe(false);
      expect(timedOut.id).toBe(op.id);
      expect(elapsed).toBeGreaterThanOrEqual(990);
      expect(elapsed).toBeLessThan(15_000);
      started = Date.now();
      const timedOutConnect = await cOps.wait({ operationId: op.id, timeout: { nanos: 300_000_000 } });
      expect(timedOutConnect.done).toBe(false);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);

      const waiting = ops.call("wait", { operationId: op.id, timeout: { seconds: 30n } }, { deadlineMs: 40_000 }) as Promise<Operation>;
      await sleep(100);
      started = Date.now();
      await gate.release();
      expectEmptyResponse(await waiting);
      // As soon as it finishes, not at the 30 s timeout.
      expect(Date.now() - started).toBeLessThan(15_000);
    });

    it("List pages by resource id and by done state with page_size 1 and tokens of at most 100 characters", async () => {
      await seed(server, "list/app");
      const ids = await imageIds(images, "list/app");
      const first = await waitDone(ops, ((await images.call("delete", { imageId: ids.v1 })) as Operation).id);
      // A second delete of the same image finds its manifest gone: a new operation, also a success.
      const second = await waitDone(ops, ((await images.call("delete", { imageId: ids.v1 })) as Operation).id);
      expect(second.id).not.toBe(first.id);
      expectEmptyResponse(second);

      const gate = await hold();
      const pendingOp = (await images.call("delete", { imageId: ids.v2 })) as Operation;

      const byResource = await listAll(ops, { resourceId: ids.v1 });
      expect(byResource.map((o) => o.id)).toEqual([second.id, first.id]);
      expect(await listAll(ops, { resourceId: ids.v1, done: false })).toEqual([]);
      expect((await listAll(ops, { resourceId: ids.v2, done: false })).map((o) => o.id)).toEqual([pendingOp.id]);

      const notDone = await listAll(ops, { done: false });
      expect(notDone.every((o) => !o.done)).toBe(true);
      expect(notDone.map((o) => o.id)).toEqual(expect.arrayContaining([pendingOp.id, gate.operationId]));
      const done = await listAll(ops, { done: true });
      expect(done.every((o) => o.done)).toBe(true);
      expect(done.map((o) => o.id)).toEqual(expect.arrayContaining([first.id, second.id]));
      const all = await listAll(ops, {});
      expect(all.length).toBe(done.length + notDone.length);
      const created = all.map((o) => timestampMs(o.createdAt!));
      expect(created).toEqual([...created].sort((a, b) => b - a));
      await gate.release();
    });

    it("answers bad operation ids with NOT_FOUND and bad page tokens or timeouts with INVALID_ARGUMENT", async () => {
      const cOps = connectClient(OperationService, server.httpUrl, "connect-binary");
      const unknown = "op" + "a".repeat(32);
      for (const method of ["get", "cancel", "wait"]) {
        const err = await grpcFailure(ops.call(method, { operationId: unknown }));
        expect(err.code, method).toBe(grpc.status.NOT_FOUND);
      }
      expect((await connectFailure(cOps.get({ operationId: unknown }))).code).toBe(ConnectCode.NotFound);
      expect((await connectFailure(cOps.cancel({ operationId: unknown }))).code).toBe(ConnectCode.NotFound);
      expect((await connectFailure(cOps.wait({ operationId: unknown }))).code).toBe(ConnectCode.NotFound);

      const page = await ops.call("list", { done: true, pageSize: 1n });
      expect(page.nextPageToken).not.toBe("");
      const tampered = page.nextPageToken.slice(0, -2) + (page.nextPageToken.endsWith("AA") ? "BB" : "AA");
      const badTokens: Array<[string, Record<string, unknown>]> = [
        ["not a token", { pageToken: "not-a-token" }],
        ["tampered", { done: true, pageToken: tampered }],
        ["issued for another filter", { done: false, pageToken: page.nextPageToken }],
        ["over 100 characters", { pageToken: "a".repeat(101) }],
      ];
      for (const [title, req] of badTokens) {
        const err = await grpcFailure(ops.call("list", req));
        expect(err.code, title).toBe(grpc.status.INVALID_ARGUMENT);
        expect(fieldViolations(err.status).map((v) => v.field), title).toContain("page_token");
        const cErr = await connectFailure(cOps.list(req));
        expect(cErr.code, title).toBe(ConnectCode.InvalidArgument);
        expect(cErr.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => v.field)), title).toContain("page_token");
      }

      const tooLong = await grpcFailure(ops.call("wait", { operationId: unknown, timeout: { seconds: 61n } }));
      expect(tooLong.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(fieldViolations(tooLong.status).map((v) => v.field)).toContain("timeout");
      expect((await connectFailure(cOps.wait({ operationId: unknown, timeout: { seconds: 61n } }))).code).toBe(ConnectCode.InvalidArgument);
    });
  });

  describe("namespaces and registries", () => {
    it("Create, Update and Delete a namespace of the embedded registry through the engine", async () => {
      const root = registryOf(server);
      const created = (await namespaces.call("create", { registryId: "local", name: "fresh" })) as Operation;
      expect(created.done).toBe(false);
      expect(anyUnpack(created.metadata!, CreateNamespaceMetadataSchema)?.namespaceId).toBe("local/fresh");
      const createdDone = await waitDone(ops, created.id);
      expect(createdDone.result.case).toBe("response");
      if (createdDone.result.case === "response") expect(anyUnpack(createdDone.result.value, NamespaceSchema)?.id).toBe("local/fresh");
      expect((await fs.stat(path.join(root, "fresh"))).isDirectory()).toBe(true);
      expect(await fs.readdir(path.join(root, "fresh"))).toEqual([]);

      const updated = (await namespaces.call("update", { namespaceId: "local/fresh", description: "team images", updateMask: { paths: ["description"] } })) as Operation;
      expect(anyUnpack(updated.metadata!, UpdateNamespaceMetadataSchema)?.namespaceId).toBe("local/fresh");
      const updatedDone = await waitDone(ops, updated.id);
      if (updatedDone.result.case === "response") expect(anyUnpack(updatedDone.result.value, NamespaceSchema)?.description).toBe("team images");
      else expect.fail("update ended without a response");
      expect((await namespaces.call("get", { namespaceId: "local/fresh" })).description).toBe("team images");

      await seed(server, "fresh/app", true);
      const ids = await imageIds(images, "fresh/app");
      expect(Object.keys(ids)).toHaveLength(4);
      const gate = await hold();
      const deleted = (await namespaces.call("delete", { namespaceId: "local/fresh" })) as Operation;
      expect(deleted.done).toBe(false);
      expect(anyUnpack(deleted.metadata!, DeleteNamespaceMetadataSchema)?.namespaceId).toBe("local/fresh");
      const imageDelete = (await images.call("delete", { imageId: ids.v2 })) as Operation;
      await gate.release();
      expectEmptyResponse(await waitDone(ops, deleted.id));
      // Queued behind the namespace delete, the image delete finds the layout gone with it: success.
      expectEmptyResponse(await waitDone(ops, imageDelete.id));
      expect(existsSync(path.join(root, "fresh"))).toBe(false);
      expect((await fs.readdir(root)).filter((n) => n.startsWith("."))).toEqual([]);
      expect((await grpcFailure(namespaces.call("get", { namespaceId: "local/fresh" }))).code).toBe(grpc.status.NOT_FOUND);
      expect((await grpcFailure(images.call("get", { imageId: ids.v1 }))).code).toBe(grpc.status.NOT_FOUND);
      const listed = await images.call("list", { registryId: "local", pageSize: 1000n });
      expect((listed.images as Image[]).filter((i) => i.name.startsWith("local/fresh/"))).toEqual([]);
    });

    it("RegistryService Create, Update and Delete on the embedded registry → FAILED_PRECONDITION naming the capability", async () => {
      const cases: Array<[string, Record<string, unknown>, string]> = [
        ["create", { folderId: "default", name: "new-registry" }, "create_registries"],
        ["create", { folderId: "default", name: "new-registry", providerAccount: "local" }, "create_registries"],
        ["update", { registryId: "local", name: "renamed" }, "update_registries"],
        ["delete", { registryId: "local" }, "delete_registries"],
      ];
      const cRegistries = connectClient(RegistryService, server.httpUrl, "connect-binary") as unknown as Record<string, (req: object) => Promise<unknown>>;
      for (const [method, req, capability] of cases) {
        const err = await grpcFailure(registries.call(method, req));
        expect(err.code, method).toBe(grpc.status.FAILED_PRECONDITION);
        expect(err.message).toContain(capability);
        const info = errorInfo(err.status);
        expect(info?.reason).toBe("CAPABILITY_UNSUPPORTED");
        expect(info?.metadata.capability).toBe(capability);
        const cErr = await connectFailure(cRegistries[method](req));
        expect(cErr.code).toBe(ConnectCode.FailedPrecondition);
        expect(cErr.findDetails(ErrorInfoSchema)[0]?.reason).toBe("CAPABILITY_UNSUPPORTED");
      }
      expect(await fs.readdir(registryOf(server))).not.toContain("new-registry");
    });
  });

  describe("/metrics", () => {
    it("counts operations by state and result, times them from creation to end, and counts RPCs", async () => {
      await seed(server, "metrics/app");
      const ids = await imageIds(images, "metrics/app");
      const cImages = connectClient(ImageService, server.httpUrl, "connect-binary");
      const gate = await hold();
      const submitted = [
        (await images.call("delete", { imageId: ids.v1 })) as Operation,
        (await images.call("delete", { imageId: ids.v2 })) as Operation,
        await cImages.delete({ imageId: ids.v3 }),
      ];
      // These three wait behind the gate for over a second, which their recorded duration must show.
      await sleep(1100);
      await gate.release();
      for (const op of submitted) expectEmptyResponse(await waitDone(ops, op.id));
      await until("the last finish to be counted", async () => sample(await scrape(server), "regplane_operations", { state: "running" }) === 0);

      const text = await scrape(server);
      const done = await listAll(ops, { done: true });
      expect(sample(text, "regplane_operations", { state: "done" })).toBe(done.length);
      expect(sample(text, "regplane_operations", { state: "pending" })).toBe(0);
      expect(sample(text, "regplane_operations", { state: "running" })).toBe(0);

      const deletesOk = done.filter((o) => o.metadata?.typeUrl.endsWith("regplane.v1.DeleteImageMetadata") && o.result.case === "response");
      expect(sample(text, "regplane_operations_finished_total", { kind: "image.delete", result: "OK" })).toBe(deletesOk.length);
      const count = sample(text, "regplane_operation_duration_seconds_count", { kind: "image.delete" })!;
      expect(count).toBe(deletesOk.length);
      const sum = sample(text, "regplane_operation_duration_seconds_sum", { kind: "image.delete" })!;
      expect(sum).toBeGreaterThan(3 * 1.1);
      const underOneSecond = sample(text, "regplane_operation_duration_seconds_bucket", { kind: "image.delete", le: "1" })!;
      expect(count - underOneSecond).toBeGreaterThanOrEqual(3);
      expect(sample(text, "regplane_operation_duration_seconds_bucket", { kind: "image.delete", le: "+Inf" })).toBe(count);

      const rpc = (method: string, protocol: string, code: string) => sample(text, "regplane_rpc_total", { method, protocol, code }) ?? 0;
      expect(rpc("regplane.v1.ImageService/Delete", "grpc", "OK")).toBeGreaterThanOrEqual(2);
      expect(rpc("regplane.v1.ImageService/Delete", "connect", "OK")).toBeGreaterThanOrEqual(1);
      expect(rpc("regplane.v1.OperationService/Wait", "grpc", "OK")).toBeGreaterThanOrEqual(3);
      expect(rpc("regplane.v1.OperationService/List", "grpc", "OK")).toBeGreaterThanOrEqual(done.length);
    });
  });
});

// ---- a crash: SIGKILL with deletes accepted, restart on the same data directory ----

describe("deletes survive a crash", () => {
  // A short lease, so operations a killed worker held are claimed again a second after the restart.
  const config = "operations:\n  lease: 1s\n";
  let dataDir: string;
  let server: ServerProcess | undefined;

  beforeAll(() => {
    dataDir = tempDir();
  });

  afterAll(async () => {
    await server?.kill();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  // Two restarts and 60 deletes: on a loaded machine this takes minutes, and only the test timeout bounds it.
  it("SIGKILL in mid-burst and 50 ms after it: every accepted delete finishes after a restart, layouts stay consistent", async () => {
    // Killed as the tenth answer arrives (later calls may be cut off in flight), or 50 ms after the last.
    const rounds = [
      { name: "mid-burst", killAfterAccepted: 10, delayMs: 0 },
      { name: "after-50ms", killAfterAccepted: undefined, delayMs: 50 },
    ];
    const statesAtKill = { pending: 0, running: 0, done: 0 };
    // Each round runs on the process the previous round restarted.
    server = await startServer({ dataDir, config });
    for (const round of rounds) {
      const repos = Array.from({ length: 10 }, (_, i) => `${round.name}/r${i}`);
      const targets: Array<{ repo: string; tag: Tag; imageId: string }> = [];
      let images = new GrpcClient(ImageService, server.grpcAddress);
      // Repository i keeps image i mod 4, so every image is kept in some repositories and deleted in others.
      for (const [i, repo] of repos.entries()) {
        await seed(server, repo);
        const ids = await imageIds(images, repo);
        for (const tag of TAGS) if (tag !== TAGS[i % 4]) targets.push({ repo, tag, imageId: ids[tag] });
      }
      expect(targets).toHaveLength(30);

      const victim = server;
      const accepted = new Map<string, (typeof targets)[number]>();
      const calls = targets.map((t) =>
        images.call("delete", { imageId: t.imageId }).then(
          (op: Operation) => {
            accepted.set(op.id, t);
            if (accepted.size === round.killAfterAccepted) victim.child.kill("SIGKILL");
          },
          () => {},
        ),
      );
      await Promise.all(calls);
      if (round.killAfterAccepted === undefined) {
        if (round.delayMs > 0) await sleep(round.delayMs);
        victim.child.kill("SIGKILL");
      }
      await victim.kill();
      images.close();
      expect(accepted.size).toBeGreaterThanOrEqual(round.killAfterAccepted ?? targets.length);

      // The store as the kill left it: which accepted operations were still pending or running.
      const db = new Database(path.join(dataDir, "regplane.db"));
      const ids = [...accepted.keys()];
      const rows = db.prepare(`SELECT state, count(*) AS n FROM operations WHERE id IN (${ids.map(() => "?").join(",")}) GROUP BY state`).all(...ids) as Array<{ state: keyof typeof statesAtKill; n: number }>;
      db.close();
      for (const row of rows) statesAtKill[row.state] += row.n;
      expect(rows.reduce((n, r) => n + r.n, 0)).toBe(accepted.size);

      server = await startServer({ dataDir, config });
      images = new GrpcClient(ImageService, server.grpcAddress);
      const ops = new GrpcClient(OperationService, server.grpcAddress);
      for (const [id, t] of accepted) {
        const op = await waitDone(ops, id);
        expectEmptyResponse(op);
        expect(anyUnpack(op.metadata!, DeleteImageMetadataSchema)?.imageId).toBe(t.imageId);
      }
      // Deletes whose RPC the kill cut short may still have been stored; they finish too.
      await until("no unfinished operation", async () => (await ops.call("list", { done: false })).operations.length === 0, 30_000);

      const acceptedImages = new Set([...accepted.values()].map((t) => t.imageId));
      const present = new Set((await images.call("list", { registryId: "local", pageSize: 1000n })).images.map((i: Image) => i.id));
      await Promise.all(
        repos.map(async (repo) => {
          const mine = targets.filter((t) => t.repo === repo);
          for (const t of mine) if (acceptedImages.has(t.imageId)) expect(present.has(t.imageId), `${repo} ${t.tag} deleted`).toBe(false);
          const gone = mine.filter((t) => !present.has(t.imageId)).map((t) => t.tag);
          await expectConsistent(path.join(dataDir, "registry", repo), { present: TAGS.filter((t) => !gone.includes(t)), gone });
        }),
      );
      images.close();
      ops.close();
    }
    expect(await server.stop()).toBe(0);
    server = undefined;
    // Across the rounds the kill caught accepted deletes both waiting for a worker and in a worker's hands.
    expect(statesAtKill.pending).toBeGreaterThan(0);
    expect(statesAtKill.running).toBeGreaterThan(0);
  }, 300_000);
});

// ---- retention ----

describe("finished operations are kept for the configured retention", () => {
  it("purges an operation that finished longer ago than operations.retention, with its idempotency key", async () => {
    const config = "operations:\n  retention: 1s\n";
    let server = await startServer({ config });
    const dataDir = server.dataDir;
    try {
      await seed(server, "kept/app");
      let images = new GrpcClient(ImageService, server.grpcAddress);
      let ops = new GrpcClient(OperationService, server.grpcAddress);
      const ids = await imageIds(images, "kept/app");
      const op = (await images.call("delete", { imageId: ids.v1 }, { metadata: { "idempotency-key": "retained" } })) as Operation;
      const finished = await waitDone(ops, op.id);
      expect(await ops.call("get", { operationId: op.id })).toEqual(finished);
      images.close();
      ops.close();
      expect(await server.stop()).toBe(0);

      await sleep(1200);
      server = await startServer({ dataDir, config });
      images = new GrpcClient(ImageService, server.grpcAddress);
      ops = new GrpcClient(OperationService, server.grpcAddress);
      expect((await grpcFailure(ops.call("get", { operationId: op.id }))).code).toBe(grpc.status.NOT_FOUND);
      expect((await ops.call("list", { resourceId: ids.v1 })).operations).toEqual([]);
      // The key went with its operation: the same key now starts a new one.
      const fresh = (await images.call("delete", { imageId: ids.v1 }, { metadata: { "idempotency-key": "retained" } })) as Operation;
      expect(fresh.id).not.toBe(op.id);
      expectEmptyResponse(await waitDone(ops, fresh.id));
      images.close();
      ops.close();
    } finally {
      expect(await server.stop()).toBe(0);
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
