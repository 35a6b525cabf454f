// Two tenants on one server: alice (folder team-a) and bob (folder team-b), both editors with their own
// API keys. Every RPC is tried across the boundary over gRPC (grpc-js) and Connect, and must neither
// show nor change anything of the other tenant: NOT_FOUND exactly as for things that do not exist.
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescService } from "@bufbuild/protobuf";
import { ConnectError, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { GetImageRequestSchema, ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { ImageSchema } from "../src/gen/regplane/v1/image_pb.js";
import { NamespaceService } from "../src/gen/regplane/v1/namespace_service_pb.js";
import { OperationSchema } from "../src/gen/regplane/v1/operation_pb.js";
import { GetOperationRequestSchema, OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { RegistryService } from "../src/gen/regplane/v1/registry_service_pb.js";
import { hashApiKey, newApiKey } from "../src/core/api-keys.js";
import { connectClient, errorInfo, GrpcClient, GrpcError } from "./support/clients.js";
import { makeTempDir, writeSyntheticImage } from "./support/images.js";
import { startServer, type ServerProcess } from "./support/server.js";

type Who = "alice" | "bob";
type Via = "grpc" | "connect";
const VIAS: Via[] = ["grpc", "connect"];
const NOT_FOUND = grpc.status.NOT_FOUND;

const keys: Record<Who, string> = { alice: newApiKey(), bob: newApiKey() };
let server: ServerProcess;
const grpcClients = new Map<string, GrpcClient>();
const connectClients = new Map<string, Client<DescService>>();

interface Outcome {
  code: number;
  res?: any;
  reason?: string;
  message?: string;
}

/** One call as `who` over one transport; failures come back as their code and ErrorInfo reason. */
async function call(who: Who, via: Via, service: DescService, method: string, req: object, headers: Record<string, string> = {}): Promise<Outcome> {
  const auth = { authorization: `Bearer ${keys[who]}`, ...headers };
  if (via === "grpc") {
    let client = grpcClients.get(service.typeName);
    if (!client) grpcClients.set(service.typeName, (client = new GrpcClient(service, server.grpcAddress)));
    try {
      return { code: 0, res: await client.call(method, req, { metadata: auth }) };
    } catch (err) {
      if (!(err instanceof GrpcError)) throw err;
      return { code: err.code, reason: errorInfo(err.status)?.reason, message: err.message };
    }
  }
  let client = connectClients.get(service.typeName);
  if (!client) connectClients.set(service.typeName, (client = connectClient(service, server.httpUrl, "connect-binary") as Client<DescService>));
  try {
    const fn = (client as unknown as Record<string, (r: object, o: object) => Promise<unknown>>)[method];
    return { code: 0, res: await fn(req, { headers: auth }) };
  } catch (err) {
    if (!(err instanceof ConnectError)) throw err;
    return { code: err.code, reason: err.findDetails(ErrorInfoSchema)[0]?.reason, message: err.rawMessage };
  }
}

/** The same call over both transports. */
async function both(who: Who, service: DescService, method: string, req: object, headers?: Record<string, string>): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (const via of VIAS) out.push(await call(who, via, service, method, req, headers));
  return out;
}

async function ok(who: Who, service: DescService, method: string, req: object, headers?: Record<string, string>): Promise<any> {
  const r = await call(who, "grpc", service, method, req, headers);
  expect(r, `${who} ${service.name}.${method}`).toMatchObject({ code: 0 });
  return r.res;
}

function expectCodes(outcomes: Outcome[], code: number): void {
  for (const o of outcomes) expect(o.code, o.message).toBe(code);
}

/** What an unknown id answers, for comparison: the other tenant's must look the same. */
async function expectSameAsMissing(attempt: Outcome[], missing: Outcome[]): Promise<void> {
  expectCodes(attempt, NOT_FOUND);
  expect(attempt.map((o) => o.reason)).toEqual(missing.map((o) => o.reason));
}

async function listAll(who: Who, service: DescService, req: object, field: string): Promise<any[]> {
  const out: any[] = [];
  let pageToken = "";
  do {
    const res = await ok(who, service, "list", { ...req, pageToken });
    out.push(...res[field]);
    pageToken = res.nextPageToken;
  } while (pageToken !== "");
  return out;
}

const bobImages: Record<string, string> = {};
const bobOps: string[] = [];

beforeAll(async () => {
  const dir = await makeTempDir();
  for (const [reg, repo, tags] of [
    ["a", "team/app", ["v1", "v2", "v3"]],
    ["b", "team/app", ["v1", "v2", "v3"]],
    ["b", "team/lib", ["l1", "l2", "l3"]],
  ] as const) {
    for (const tag of tags) await writeSyntheticImage(path.join(dir, reg, repo), { tag });
  }
  const config = `
registries:
  - { id: reg-a, provider: local, path: ${path.join(dir, "a")} }
  - { id: reg-b, provider: local, path: ${path.join(dir, "b")} }
  - { id: reg-b2, provider: local, path: ${path.join(dir, "b2")} }
folders:
  - { id: team-a, registries: [reg-a] }
  - { id: team-b, registries: [reg-b, reg-b2] }
auth:
  keys:
    - { name: alice, hash: "${await hashApiKey(keys.alice)}", folders: [team-a], role: editor }
    - { name: bob, hash: "${await hashApiKey(keys.bob, "scrypt")}", folders: [team-b], role: editor }
`;
  server = await startServer({ dataDir: await makeTempDir(), config });
  for (const image of await listAll("bob", ImageService, { registryId: "reg-b" }, "images")) bobImages[`${image.name}:${image.tags[0]}`] = image.id;
  // Two finished deletes of bob's, so bob has operations and an operations page token.
  for (const tag of ["l1", "l2"]) {
    const op = await ok("bob", OperationService, "wait", {
      operationId: (await ok("bob", ImageService, "delete", { imageId: bobImages[`reg-b/team/lib:${tag}`] })).id,
    });
    expect(op.done).toBe(true);
    bobOps.push(op.id);
  }
}, 120_000);

afterAll(async () => {
  for (const c of grpcClients.values()) c.close();
  if (server) expect(await server.stop()).toBe(0);
});

describe("each tenant sees only its own folders", () => {
  it("lists only its own images, namespaces, registries and operations", async () => {
    const aliceImages = await listAll("alice", ImageService, {}, "images");
    expect(aliceImages.map((i) => i.name)).toEqual(["reg-a/team/app", "reg-a/team/app", "reg-a/team/app"]);
    const bobNames = (await listAll("bob", ImageService, {}, "images")).map((i) => i.name);
    expect(bobNames.every((n) => n.startsWith("reg-b/"))).toBe(true);
    expect((await listAll("alice", NamespaceService, {}, "namespaces")).map((n) => n.id)).toEqual(["reg-a/team"]);
    expect((await listAll("bob", NamespaceService, {}, "namespaces")).map((n) => n.id)).toEqual(["reg-b/team"]);
    expect((await listAll("alice", RegistryService, {}, "registries")).map((r) => [r.id, r.folderId])).toEqual([["reg-a", "team-a"]]);
    expect((await listAll("bob", RegistryService, {}, "registries")).map((r) => r.id)).toEqual(["reg-b", "reg-b2"]);
    const aliceOps = await listAll("alice", OperationService, {}, "operations");
    expect(aliceOps.filter((o) => bobOps.includes(o.id))).toEqual([]);
    const bobListed = await listAll("bob", OperationService, {}, "operations");
    expect(bobListed.map((o) => o.id)).toEqual(expect.arrayContaining(bobOps));
    expect(bobListed.every((o) => o.createdBy === "bob")).toBe(true);
  });

  it("answers the other tenant's folder, registry and repository scopes NOT_FOUND, as for ones that do not exist", async () => {
    const scopes: Array<[DescService, object, object]> = [
      [ImageService, { folderId: "team-b" }, { folderId: "nope" }],
      [ImageService, { registryId: "reg-b" }, { registryId: "nope" }],
      [ImageService, { repositoryName: "reg-b/team/app" }, { repositoryName: "nope/team/app" }],
      [NamespaceService, { folderId: "team-b" }, { folderId: "nope" }],
      [NamespaceService, { registryId: "reg-b" }, { registryId: "nope" }],
      [RegistryService, { folderId: "team-b" }, { folderId: "nope" }],
    ];
    for (const [service, theirs, missing] of scopes) {
      await expectSameAsMissing(await both("alice", service, "list", theirs), await both("alice", service, "list", missing));
    }
    const filtered = await ok("alice", ImageService, "list", { filter: 'name="reg-b/team/app"' });
    expect(filtered.images).toEqual([]);
    await expectSameAsMissing(await both("alice", RegistryService, "get", { registryId: "reg-b" }), await both("alice", RegistryService, "get", { registryId: "nope" }));
  });
});

describe("ids of the other tenant", () => {
  it("Get and Delete of bob's image ids are NOT_FOUND for alice, and the images stay", async () => {
    const missing = await both("alice", ImageService, "get", { imageId: "i" + "a".repeat(32) });
    for (const id of Object.values(bobImages).slice(0, 2)) {
      await expectSameAsMissing(await both("alice", ImageService, "get", { imageId: id }), missing);
      await expectSameAsMissing(await both("alice", ImageService, "delete", { imageId: id }), missing);
    }
    const kept = await ok("bob", ImageService, "get", { imageId: bobImages["reg-b/team/app:v1"] });
    expect(kept.name).toBe("reg-b/team/app");
  });

  it("Get, Wait and Cancel of bob's operation ids are NOT_FOUND for alice; List by bob's resource shows nothing", async () => {
    const missing = await both("alice", OperationService, "get", { operationId: "op" + "a".repeat(32) });
    for (const operationId of bobOps) {
      for (const method of ["get", "wait", "cancel"]) {
        await expectSameAsMissing(await both("alice", OperationService, method, { operationId }), missing);
      }
    }
    const byResource = await both("alice", OperationService, "list", { resourceId: bobImages["reg-b/team/lib:l1"] });
    for (const o of byResource) expect(o.res.operations).toEqual([]);
    const own = await ok("bob", OperationService, "get", { operationId: bobOps[0] });
    expect(own.createdBy).toBe("bob");
    expect(own.error).toBeUndefined();
  });

  it("Get, Create, Update and Delete of bob's namespaces are NOT_FOUND for alice, and nothing changes", async () => {
    const missingRegistry = await both("alice", NamespaceService, "get", { namespaceId: "nope/team" });
    await expectSameAsMissing(await both("alice", NamespaceService, "get", { namespaceId: "reg-b/team" }), missingRegistry);
    await expectSameAsMissing(await both("alice", NamespaceService, "create", { registryId: "reg-b", name: "intruder" }), missingRegistry);
    await expectSameAsMissing(await both("alice", NamespaceService, "update", { namespaceId: "reg-b/team", description: "mine now" }), missingRegistry);
    await expectSameAsMissing(await both("alice", NamespaceService, "delete", { namespaceId: "reg-b/team" }), missingRegistry);
    expect((await ok("bob", NamespaceService, "get", { namespaceId: "reg-b/team" })).description).not.toBe("mine now");
    expect((await call("bob", "grpc", NamespaceService, "get", { namespaceId: "reg-b/intruder" })).code).toBe(NOT_FOUND);
  });

  it("Update, Delete and Create of bob's registries are NOT_FOUND for alice, where her own answer FAILED_PRECONDITION", async () => {
    const missing = await both("alice", RegistryService, "delete", { registryId: "nope" });
    await expectSameAsMissing(await both("alice", RegistryService, "delete", { registryId: "reg-b" }), missing);
    await expectSameAsMissing(await both("alice", RegistryService, "update", { registryId: "reg-b", name: "renamed" }), missing);
    expectCodes(await both("alice", RegistryService, "delete", { registryId: "reg-a" }), grpc.status.FAILED_PRECONDITION);
    expectCodes(await both("alice", RegistryService, "create", { folderId: "team-b", name: "new-registry" }), NOT_FOUND);
    expectCodes(await both("alice", RegistryService, "create", { folderId: "team-a", name: "new-registry" }), grpc.status.FAILED_PRECONDITION);
  });
});

describe("page tokens and idempotency keys of the other tenant", () => {
  it("refuses bob's page tokens to alice on every List, for the same request bob made", async () => {
    const cases: Array<[DescService, object]> = [
      [ImageService, {}],
      [NamespaceService, {}],
      [RegistryService, {}],
      [OperationService, {}],
    ];
    for (const [service, req] of cases) {
      const page = await ok("bob", service, "list", { ...req, pageSize: 1n });
      expect(page.nextPageToken, service.name).not.toBe("");
      const stolen = await both("alice", service, "list", { ...req, pageSize: 1n, pageToken: page.nextPageToken });
      expectCodes(stolen, grpc.status.INVALID_ARGUMENT);
      // Bob's own token still works, so the refusal is about the caller.
      expect((await call("bob", "connect", service, "list", { ...req, pageSize: 1n, pageToken: page.nextPageToken })).code).toBe(0);
    }
  });

  it("keeps idempotency keys per caller: the same key gives each tenant its own operation, never the other's", async () => {
    const key = { "idempotency-key": "deploy-42" };
    const bobOp = await ok("bob", ImageService, "delete", { imageId: bobImages["reg-b/team/lib:l3"] }, key);
    expect(bobOp.createdBy).toBe("bob");
    const aliceImage = (await ok("alice", ImageService, "list", { pageSize: 1n })).images[0];
    const aliceOp = await ok("alice", ImageService, "delete", { imageId: aliceImage.id }, key);
    expect(aliceOp.id).not.toBe(bobOp.id);
    expect(aliceOp.createdBy).toBe("alice");
    // Reusing the key for another request names alice's own operation in the conflict, not bob's.
    for (const o of await both("alice", NamespaceService, "create", { registryId: "reg-a", name: "other" }, key)) {
      expect(o.code).toBe(grpc.status.ALREADY_EXISTS);
      expect(o.message).not.toContain(bobOp.id);
    }
    expect((await ok("bob", ImageService, "delete", { imageId: bobImages["reg-b/team/lib:l3"] }, key)).id).toBe(bobOp.id);
    expect((await ok("alice", ImageService, "delete", { imageId: aliceImage.id }, key)).id).toBe(aliceOp.id);
    expectCodes(await both("alice", OperationService, "get", { operationId: bobOp.id }), NOT_FOUND);
  });
});

describe("the Yandex Cloud paths", () => {
  /** A unary call to a path of our choosing, with our message schemas (the Yandex ones are wire-identical). */
  function rawCall<I, O>(pathName: string, encode: (m: I) => Uint8Array, decode: (b: Uint8Array) => O, req: I): Promise<{ code: number; res?: O }> {
    const client = new grpc.Client(server.grpcAddress, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${keys.alice}`);
    return new Promise((resolve) =>
      client.makeUnaryRequest(pathName, (m: I) => Buffer.from(encode(m)), (b: Buffer) => decode(b), req, md, (err, res) => {
        client.close();
        resolve(err ? { code: err.code } : { code: 0, res: res as O });
      }),
    );
  }

  it("answers bob's image and operation ids NOT_FOUND to alice there too", async () => {
    const image = await rawCall(
      "/yandex.cloud.containerregistry.v1.ImageService/Get",
      (m) => toBinary(GetImageRequestSchema, m),
      (b) => fromBinary(ImageSchema, b),
      create(GetImageRequestSchema, { imageId: bobImages["reg-b/team/app:v1"] }),
    );
    expect(image.code).toBe(NOT_FOUND);
    const op = await rawCall(
      "/yandex.cloud.operation.OperationService/Get",
      (m) => toBinary(GetOperationRequestSchema, m),
      (b) => fromBinary(OperationSchema, b),
      create(GetOperationRequestSchema, { operationId: bobOps[0] }),
    );
    expect(op.code).toBe(NOT_FOUND);
  });
});
