// RepositoryService at the API edge: the real server process over two embedded registries (real OCI
// layouts on disk) and the real CNCF registry, called with grpc-js and Connect as three callers: an
// editor and a viewer of one folder, and an editor of another folder who must learn nothing of the first.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ConnectError } from "@connectrpc/connect";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repositoryId } from "../src/core/ids.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import type { Operation } from "../src/gen/regplane/v1/operation_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { RepositorySchema, type Repository } from "../src/gen/regplane/v1/repository_pb.js";
import { CreateRepositoryMetadataSchema, DeleteRepositoryMetadataSchema, RepositoryService } from "../src/gen/regplane/v1/repository_service_pb.js";
import { connectClient, errorInfo, fieldViolations, GrpcClient, grpcFailure } from "./support/clients.js";
import { makeTempDir, writeSyntheticImage } from "./support/images.js";
import { freePort, pushImage, startRegistry, type RunningRegistry } from "./support/registry.js";
import { callersAuthYaml, newCallerKeys, type Caller } from "./support/callers.js";
import { startServer, type ServerProcess } from "./support/server.js";

type Who = Caller;
const keys = newCallerKeys();
const bearer = (who: Who) => ({ authorization: `Bearer ${keys[who]}` });

/** team-a's repositories in order of name; the folder lists beta before alpha, so the walk must sort. */
const TEAM_A = ["alpha/team/app", "alpha/tools/base", "alpha/zed/last", "beta/apps/web", "beta/nested/deep/one", "beta/team/app", "lab/mirror/base", "lab/mirror/tools"];

const cleanups: Array<() => Promise<unknown>> = [];
let dir: string;
let reg: RunningRegistry;
let server: ServerProcess;
const clients = new Map<string, GrpcClient>();

function client(service: typeof RepositoryService | typeof ImageService | typeof OperationService): GrpcClient {
  let c = clients.get(service.typeName);
  if (!c) clients.set(service.typeName, (c = new GrpcClient(service, server.grpcAddress)));
  return c;
}

const repos = (who: Who, method: string, req: object) => client(RepositoryService).call(method, req, { metadata: bearer(who) });

/** What a caller can compare of two failures: the code and the ErrorInfo reason (messages name the id asked for). */
async function outcome(p: Promise<unknown>): Promise<{ code: number; reason?: string }> {
  const err = await grpcFailure(p);
  return { code: err.code, reason: errorInfo(err.status)?.reason };
}

async function listAll(who: Who, req: object, pageSize: bigint): Promise<{ names: string[]; pages: number }> {
  const names: string[] = [];
  let pageToken = "";
  let pages = 0;
  do {
    const res = await repos(who, "list", { ...req, pageSize, pageToken });
    expect(res.repositories.length).toBeLessThanOrEqual(Number(pageSize));
    names.push(...(res.repositories as Repository[]).map((r) => r.name));
    pageToken = res.nextPageToken;
    expect(pageToken.length).toBeLessThanOrEqual(100);
    pages++;
  } while (pageToken !== "");
  return { names, pages };
}

/** Waits on the server for the operation to end (OperationService.Wait), never on a clock of ours. */
async function finished(op: Operation): Promise<Operation> {
  let current = op;
  while (!current.done) current = await client(OperationService).call("wait", { operationId: op.id }, { metadata: bearer("alice") });
  return current;
}

async function imagesOf(registryId: string): Promise<Image[]> {
  return (await client(ImageService).call("list", { registryId, pageSize: 1000n }, { metadata: bearer("alice") })).images as Image[];
}

beforeAll(async () => {
  dir = await makeTempDir("regplane-repos-api-");
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  for (const name of TEAM_A.filter((n) => !n.startsWith("lab/"))) {
    const [registry, ...rest] = name.split("/");
    await writeSyntheticImage(path.join(dir, registry, ...rest), { tag: "v1" });
  }
  await writeSyntheticImage(path.join(dir, "alpha/team/app"), { tag: "v2" });
  await writeSyntheticImage(path.join(dir, "other/secret/app"), { tag: "v1" });
  reg = await startRegistry();
  cleanups.push(() => reg.stop());
  const layout = path.join(dir, "push");
  await writeSyntheticImage(layout, { tag: "v1" });
  for (const repository of ["mirror/base", "mirror/tools"]) await pushImage(layout, "v1", reg.host, repository, "v1");
  const config = `
registries:
  - { id: alpha, provider: local, path: ${path.join(dir, "alpha")} }
  - { id: beta, provider: local, path: ${path.join(dir, "beta")} }
  - { id: lab, provider: oci, endpoint: ${JSON.stringify(reg.url)}, insecure: true, listingCacheTtl: 0s }
  - { id: other, provider: local, path: ${path.join(dir, "other")} }
folders:
  - { id: team-a, registries: [beta, alpha, lab] }
  - { id: team-b, registries: [other] }
${await callersAuthYaml(keys)}`;
  server = await startServer({ dataDir: await makeTempDir(), config });
  cleanups.push(() => server.kill(), () => fs.rm(server.dataDir, { recursive: true, force: true }));
}, 120_000);

afterAll(async () => {
  for (const c of clients.values()) c.close();
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe("RepositoryService.List", () => {
  it("pages a folder across three registries in order of name, every repository exactly once", async () => {
    for (const pageSize of [1n, 3n, 1000n]) {
      const { names, pages } = await listAll("alice", { folderId: "team-a" }, pageSize);
      expect(names).toEqual(TEAM_A);
      expect(pages).toBe(Math.ceil(TEAM_A.length / Number(pageSize)));
    }
    expect((await listAll("alice", { folderId: "team-a", orderBy: "name" }, 3n)).names).toEqual(TEAM_A);
    expect((await listAll("alice", { orderBy: " name  asc " }, 3n)).names).toEqual(TEAM_A);
  });

  it("hands out page tokens that a Connect call with the same request resumes", async () => {
    const first = await repos("alice", "list", { folderId: "team-a", pageSize: 4n });
    const rest = await connectClient(RepositoryService, server.httpUrl, "connect").list({ folderId: "team-a", pageSize: 4n, pageToken: first.nextPageToken }, { headers: bearer("alice") });
    expect([...first.repositories, ...rest.repositories].map((r: Repository) => r.name)).toEqual(TEAM_A);
    expect(rest.nextPageToken).toBe("");
    const otherScope = await grpcFailure(repos("alice", "list", { registryId: "alpha", pageSize: 4n, pageToken: first.nextPageToken }));
    expect(otherScope.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("takes registry_id over folder_id, and filters by the whole name", async () => {
    expect((await listAll("alice", { registryId: "beta", folderId: "team-a" }, 2n)).names).toEqual(TEAM_A.filter((n) => n.startsWith("beta/")));
    for (const name of ["alpha/tools/base", "beta/team/app", "lab/mirror/tools"]) {
      expect((await listAll("alice", { filter: `name="${name}"` }, 10n)).names).toEqual([name]);
    }
    // Names no repository could have (paths out of the layout tree, links, spaces) find nothing, never an error.
    for (const name of ["alpha/nope", "alpha", "nope/team/app", "other/secret/app", "alpha/../other/secret/app", "alpha/team/../team/app", "lab/a b", "beta//team/app", "/alpha/team/app"]) {
      expect((await listAll("alice", { filter: `name="${name}"` }, 10n)).names, name).toEqual([]);
    }
  });

  it("refuses any order but by name with a BadRequest field violation", async () => {
    for (const orderBy of ["name desc", "digest", "created_at", "name, digest"]) {
      const err = await grpcFailure(repos("alice", "list", { orderBy }));
      expect(err.code, orderBy).toBe(grpc.status.INVALID_ARGUMENT);
      expect(fieldViolations(err.status).map((v) => v.field)).toEqual(["order_by"]);
    }
    const filter = await grpcFailure(repos("alice", "list", { filter: "name~x" }));
    expect(fieldViolations(filter.status).map((v) => v.field)).toEqual(["filter"]);
  });
});

describe("RepositoryService.Get and GetByName", () => {
  it("round-trip every listed repository under ids derived from registry and path", async () => {
    const listed = (await repos("alice", "list", { folderId: "team-a" })).repositories as Repository[];
    for (const r of listed) {
      const [registryId, ...rest] = r.name.split("/");
      expect(r.id).toBe(repositoryId(registryId, rest.join("/")));
      expect(r.id).toMatch(/^r[a-z2-7]{32}$/);
      expect(await repos("alice", "get", { repositoryId: r.id })).toEqual(r);
      expect(await repos("carol", "getByName", { repositoryName: r.name })).toEqual(r);
    }
  });

  it("answers NOT_FOUND for unknown ids and names, INVALID_ARGUMENT for a name without a path", async () => {
    expect((await grpcFailure(repos("alice", "get", { repositoryId: "r" + "a".repeat(32) }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await grpcFailure(repos("alice", "getByName", { repositoryName: "alpha/nope" }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await grpcFailure(repos("alice", "getByName", { repositoryName: "nope/team/app" }))).code).toBe(grpc.status.NOT_FOUND);
    const bare = await grpcFailure(repos("alice", "getByName", { repositoryName: "alpha" }));
    expect(bare.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fieldViolations(bare.status).map((v) => v.field)).toEqual(["repository_name"]);
    expect((await grpcFailure(repos("alice", "getByName", { repositoryName: "Alpha/App" }))).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await grpcFailure(repos("alice", "get", { repositoryId: "x".repeat(51) }))).code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe("another tenant", () => {
  it("sees only its own repositories and gets the answers of things that do not exist", async () => {
    expect((await listAll("bob", {}, 10n)).names).toEqual(["other/secret/app"]);
    const aliceId = repositoryId("alpha", "team/app");
    // The id is in the index (alice listed it), yet bob's answers match those for ids and names never seen.
    expect(await outcome(repos("bob", "get", { repositoryId: aliceId }))).toEqual(await outcome(repos("bob", "get", { repositoryId: repositoryId("nope", "x") })));
    expect(await outcome(repos("bob", "delete", { repositoryId: aliceId }))).toEqual(await outcome(repos("bob", "delete", { repositoryId: repositoryId("nope", "x") })));
    expect(await outcome(repos("bob", "getByName", { repositoryName: "alpha/team/app" }))).toEqual(await outcome(repos("bob", "getByName", { repositoryName: "nope/team/app" })));
    expect(await outcome(repos("bob", "list", { registryId: "alpha" }))).toEqual(await outcome(repos("bob", "list", { registryId: "nope" })));
    expect(await outcome(repos("bob", "create", { name: "alpha/bob/was/here" }))).toEqual(await outcome(repos("bob", "create", { name: "nope/bob/was/here" })));
    expect((await outcome(repos("bob", "get", { repositoryId: aliceId }))).code).toBe(grpc.status.NOT_FOUND);
    expect(await fs.stat(path.join(dir, "alpha/bob")).catch(() => undefined)).toBeUndefined();
  });

  it("lets a viewer read but not create or delete", async () => {
    expect((await repos("carol", "list", { registryId: "alpha" })).repositories.length).toBeGreaterThan(0);
    expect((await grpcFailure(repos("carol", "create", { name: "alpha/carol/app" }))).code).toBe(grpc.status.PERMISSION_DENIED);
    expect((await grpcFailure(repos("carol", "delete", { repositoryId: repositoryId("alpha", "zed/last") }))).code).toBe(grpc.status.PERMISSION_DENIED);
  });
});

describe("RepositoryService.Create and Delete", () => {
  it("creates an empty repository as an Operation, on disk and in every listing", async () => {
    const op = (await repos("alice", "create", { name: "alpha/made/new" })) as Operation;
    const meta = anyUnpack(op.metadata!, CreateRepositoryMetadataSchema)!;
    expect(meta.repositoryId).toBe(repositoryId("alpha", "made/new"));
    const done = await finished(op);
    expect(done.result.case).toBe("response");
    const created = anyUnpack(done.result.value as never, RepositorySchema)!;
    expect({ name: created.name, id: created.id }).toEqual({ name: "alpha/made/new", id: meta.repositoryId });
    const index = JSON.parse(await fs.readFile(path.join(dir, "alpha/made/new/index.json"), "utf8"));
    expect(index.manifests).toEqual([]);
    expect((await fs.stat(path.join(dir, "alpha/made/new/oci-layout"))).isFile()).toBe(true);
    expect((await listAll("alice", { registryId: "alpha" }, 2n)).names).toEqual(["alpha/made/new", "alpha/team/app", "alpha/tools/base", "alpha/zed/last"]);
    expect((await repos("alice", "get", { repositoryId: meta.repositoryId })).name).toBe("alpha/made/new");

    for (const name of ["alpha", "alpha/../escape", "alpha/made//twice", "alpha/Upper", `alpha/${"a".repeat(300)}`]) {
      const err = await grpcFailure(repos("alice", "create", { name }));
      expect(err.code, name).toBe(grpc.status.INVALID_ARGUMENT);
      expect(fieldViolations(err.status).map((v) => v.field), name).toEqual(["name"]);
    }
    expect(await fs.stat(path.join(dir, "escape")).catch(() => undefined)).toBeUndefined();

    const again = await finished(await repos("alice", "create", { name: "alpha/made/new" }));
    expect(again.result.case).toBe("error");
    expect((again.result.value as { code: number }).code).toBe(grpc.status.ALREADY_EXISTS);
  });

  it("deletes a repository with every image in it, and a second delete of it succeeds too", async () => {
    const id = repositoryId("alpha", "team/app");
    expect((await imagesOf("alpha")).filter((i) => i.name === "alpha/team/app")).toHaveLength(2);
    for (let round = 0; round < 2; round++) {
      const op = (await repos("alice", "delete", { repositoryId: id })) as Operation;
      expect(anyUnpack(op.metadata!, DeleteRepositoryMetadataSchema)!.repositoryId).toBe(id);
      const done = await finished(op);
      expect(done.result.case, JSON.stringify(done.result.value)).toBe("response");
      expect((done.result.value as { typeUrl: string }).typeUrl).toBe("type.googleapis.com/google.protobuf.Empty");
    }
    expect(await fs.stat(path.join(dir, "alpha/team/app")).catch(() => undefined)).toBeUndefined();
    expect((await imagesOf("alpha")).map((i) => i.name)).not.toContain("alpha/team/app");
    expect((await grpcFailure(repos("alice", "get", { repositoryId: id }))).code).toBe(grpc.status.NOT_FOUND);
    // beta's repository of the same path is another repository, untouched.
    expect((await repos("alice", "getByName", { repositoryName: "beta/team/app" })).id).toBe(repositoryId("beta", "team/app"));
  });

  it("deletes every image of a repository in the CNCF registry", async () => {
    expect((await imagesOf("lab")).map((i) => i.name).sort()).toEqual(["lab/mirror/base", "lab/mirror/tools"]);
    const done = await finished(await repos("alice", "delete", { repositoryId: repositoryId("lab", "mirror/tools") }));
    expect(done.result.case, JSON.stringify(done.result.value)).toBe("response");
    expect((await imagesOf("lab")).map((i) => i.name)).toEqual(["lab/mirror/base"]);
  });

  it("answers FAILED_PRECONDITION naming the capability where the provider cannot create repositories", async () => {
    const err = await grpcFailure(repos("alice", "create", { name: "lab/mirror/new" }));
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(errorInfo(err.status)).toMatchObject({ reason: "CAPABILITY_UNSUPPORTED", metadata: { registry_id: "lab", provider: "oci", capability: "create_repositories" } });
    const viaConnect = await connectClient(RepositoryService, server.httpUrl, "connect-binary")
      .create({ name: "lab/mirror/new" }, { headers: bearer("alice") })
      .catch((e: unknown) => e);
    expect(viaConnect).toBeInstanceOf(ConnectError);
    expect((viaConnect as ConnectError).code).toBe(grpc.status.FAILED_PRECONDITION);
  });
});

describe("a registry that cannot be reached", () => {
  let lonely: ServerProcess;
  let list: GrpcClient;

  beforeAll(async () => {
    const closed = await freePort();
    lonely = await startServer({
      dataDir: await makeTempDir(),
      config: `
registries:
  - { id: near, provider: local, path: ${path.join(dir, "beta")} }
  - { id: gone, provider: oci, endpoint: "http://127.0.0.1:${closed}", insecure: true }
folders:
  - { id: mixed, registries: [gone, near] }
`,
    });
    list = new GrpcClient(RepositoryService, lonely.grpcAddress);
  }, 60_000);

  afterAll(async () => {
    list?.close();
    await lonely?.kill();
    if (lonely) await fs.rm(lonely.dataDir, { recursive: true, force: true });
  });

  it("is named in unreachable while the others' repositories come back; alone, its own error", async () => {
    const res = await list.call("list", { folderId: "mixed" });
    expect((res.repositories as Repository[]).map((r) => r.name)).toEqual(["near/apps/web", "near/nested/deep/one", "near/team/app"]);
    expect(res.unreachable).toEqual(["gone"]);
    expect((await grpcFailure(list.call("list", { registryId: "gone" }))).code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe("a page token across a change of configuration", () => {
  it("is refused once the folder's registries changed, rather than resumed in another registry", async () => {
    const dataDir = await makeTempDir();
    const entries = `  - { id: one, provider: local, path: ${path.join(dir, "beta")} }\n  - { id: two, provider: local, path: ${path.join(dir, "other")} }\n`;
    const configWith = (registries: string) => `registries:\n${entries}folders:\n  - { id: f, registries: [${registries}] }\n`;
    let s = await startServer({ dataDir, config: configWith("one, two") });
    let c = new GrpcClient(RepositoryService, s.grpcAddress);
    try {
      const first = await c.call("list", { folderId: "f", pageSize: 1n });
      expect(first.repositories.map((r: Repository) => r.name)).toEqual(["one/apps/web"]);
      expect((await c.call("list", { folderId: "f", pageSize: 1n, pageToken: first.nextPageToken })).repositories.map((r: Repository) => r.name)).toEqual(["one/nested/deep/one"]);
      c.close();
      await s.stop();
      s = await startServer({ dataDir, config: configWith("two") });
      c = new GrpcClient(RepositoryService, s.grpcAddress);
      const err = await grpcFailure(c.call("list", { folderId: "f", pageSize: 1n, pageToken: first.nextPageToken }));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(fieldViolations(err.status).map((v) => v.field)).toEqual(["page_token"]);
    } finally {
      c.close();
      await s.kill();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
