// Yandex Cloud compatibility: the real server process driven through the Yandex method paths by a gRPC
// client generated at test time from protos written per the Yandex contract (test/fixtures/yandex),
// never from src/gen, so a drift between our protos and Yandex's would show here.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/core/config.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { GrpcClient, reflectionClient } from "./support/clients.js";
import { buildBaseLayout, copyToLayout, makeTempDir } from "./support/images.js";
import { startServer, tempDir, type ServerProcess } from "./support/server.js";

const exec = promisify(execFile);
const IMAGE_SERVICE = "yandex.cloud.containerregistry.v1.ImageService";
const OPERATION_SERVICE = "yandex.cloud.operation.OperationService";
const REPOSITORY_SERVICE = "yandex.cloud.containerregistry.v1.RepositoryService";
const CONTAINER_REGISTRY_URL = "type.googleapis.com/yandex.cloud.containerregistry.v1.";
const METADATA_URL = "type.googleapis.com/yandex.cloud.containerregistry.v1.DeleteImageMetadata";
const EMPTY_URL = "type.googleapis.com/google.protobuf.Empty";

// json: true makes protobufjs unpack an Any whose type URL names a fixture message into
// { "@type", ...fields }: the fixture schema, not ours, decodes DeleteImageMetadata.
const yandexDef = protoLoader.loadSync(
  [
    "yandex/cloud/containerregistry/v1/image_service.proto",
    "yandex/cloud/containerregistry/v1/repository_service.proto",
    "yandex/cloud/containerregistry/v1/lifecycle_policy_service.proto",
    "yandex/cloud/operation/operation_service.proto",
  ],
  {
  includeDirs: [path.resolve("test/fixtures/yandex"), path.resolve("third_party")],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  json: true,
  },
);
const yandex = grpc.loadPackageDefinition(yandexDef) as any;

/** A Yandex client of one service: unary calls by RPC name, failures as grpc-js ServiceErrors. */
class YandexClient {
  private readonly client: grpc.Client & Record<string, Function>;
  constructor(Ctor: new (address: string, creds: grpc.ChannelCredentials) => grpc.Client, address: string) {
    this.client = new Ctor(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
  }
  call(rpc: string, req: object): Promise<any> {
    return new Promise((resolve, reject) =>
      this.client[rpc](req, { deadline: Date.now() + 30_000 }, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res))),
    );
  }
  async fails(rpc: string, req: object): Promise<grpc.ServiceError> {
    try {
      await this.call(rpc, req);
    } catch (err) {
      return err as grpc.ServiceError;
    }
    throw new Error(`expected ${rpc} to fail`);
  }
  close(): void {
    this.client.close();
  }
}


async function listAll(images: YandexClient): Promise<{ images: any[]; pages: number; tokens: string[] }> {
  const out: any[] = [];
  const tokens: string[] = [];
  let token = "";
  let pages = 0;
  do {
    const res = await images.call("List", { folder_id: "default", page_size: 2, page_token: token });
    expect(res.images.length).toBeLessThanOrEqual(2);
    out.push(...res.images);
    token = res.next_page_token;
    tokens.push(token);
    pages++;
    expect(pages).toBeLessThan(20);
  } while (token !== "");
  return { images: out, pages, tokens };
}

describe("the Yandex Cloud method paths", () => {
  let server: ServerProcess;
  let images: YandexClient;
  let operations: YandexClient;
  let repositories: YandexClient;
  let lifecycle: YandexClient;

  /** Polls as a Yandex client does; the bound only names the failure, just inside the 60 s test timeout. */
  async function finished(op: any): Promise<any> {
    let current = op;
    const until = Date.now() + 50_000;
    while (!current.done) {
      expect(Date.now()).toBeLessThan(until);
      await new Promise((r) => setTimeout(r, 100));
      current = await operations.call("Get", { operation_id: op.id });
    }
    return current;
  }

  beforeAll(async () => {
    const src = await makeTempDir();
    const base = await buildBaseLayout(path.join(src, "layout"));
    const dataDir = await makeTempDir();
    const reg = path.join(dataDir, "registry");
    await copyToLayout(base.dir, "v1", path.join(reg, "team/app"), "v1");
    await copyToLayout(base.dir, "v2", path.join(reg, "team/app"), "v2");
    await copyToLayout(base.dir, "v1", path.join(reg, "team/app"), "latest");
    await copyToLayout(base.dir, "base", path.join(reg, "tools/base"), "1");
    await copyToLayout(base.dir, "v2", path.join(reg, "tools/base"), "2", { format: "v2s2" });
    await copyToLayout(base.dir, "v1", path.join(reg, "web/site"), "1");
    server = await startServer({ dataDir });
    images = new YandexClient(yandex.yandex.cloud.containerregistry.v1.ImageService, server.grpcAddress);
    operations = new YandexClient(yandex.yandex.cloud.operation.OperationService, server.grpcAddress);
    repositories = new YandexClient(yandex.yandex.cloud.containerregistry.v1.RepositoryService, server.grpcAddress);
    lifecycle = new YandexClient(yandex.yandex.cloud.containerregistry.v1.LifecyclePolicyService, server.grpcAddress);
  }, 120_000);

  afterAll(async () => {
    images?.close();
    operations?.close();
    repositories?.close();
    lifecycle?.close();
    if (server) expect(await server.stop()).toBe(0);
  });

  it("serves RepositoryService: List page by page in order of name, Get and GetByName of each, Create as an Operation", async () => {
    const listed: any[] = [];
    let token = "";
    do {
      const res = await repositories.call("List", { folder_id: "default", page_size: 2, page_token: token, order_by: "name" });
      expect(res.repositories.length).toBeLessThanOrEqual(2);
      listed.push(...res.repositories);
      token = res.next_page_token;
      expect(token.length).toBeLessThanOrEqual(100);
    } while (token !== "");
    expect(listed.map((r) => r.name)).toEqual(["local/team/app", "local/tools/base", "local/web/site"]);
    for (const repository of listed) {
      expect(repository.id.length).toBeLessThanOrEqual(50);
      expect(await repositories.call("Get", { repository_id: repository.id })).toEqual(repository);
      expect(await repositories.call("GetByName", { repository_name: repository.name })).toEqual(repository);
    }
    expect((await repositories.fails("Get", { repository_id: "r" + "a".repeat(32) })).code).toBe(grpc.status.NOT_FOUND);
    expect((await repositories.fails("List", { order_by: "name desc" })).code).toBe(grpc.status.INVALID_ARGUMENT);

    const op = await repositories.call("Create", { name: "local/yandex/made" });
    expect(op.metadata["@type"]).toBe(`${CONTAINER_REGISTRY_URL}CreateRepositoryMetadata`);
    const done = await finished(op);
    expect(done.result).toBe("response");
    expect(done.response["@type"]).toBe(`${CONTAINER_REGISTRY_URL}Repository`);
    expect(done.response.name).toBe("local/yandex/made");
    expect(done.response.id).toBe(op.metadata.repository_id);
    expect(await repositories.call("GetByName", { repository_name: "local/yandex/made" })).toEqual({ name: "local/yandex/made", id: done.response.id });
  });

  it("serves LifecyclePolicyService: Create and Get a policy, DryRun it as an Operation, GetDryRunResult of the run", async () => {
    const repository = await repositories.call("GetByName", { repository_name: "local/team/app" });
    const rules = [{ description: "keep the newest", tag_regexp: ".*", retained_top: 1 }];
    const op = await lifecycle.call("Create", { repository_id: repository.id, name: "keep-one", status: "DISABLED", rules });
    expect(op.metadata["@type"]).toBe(`${CONTAINER_REGISTRY_URL}CreateLifecyclePolicyMetadata`);
    const created = await finished(op);
    expect(created.response["@type"]).toBe(`${CONTAINER_REGISTRY_URL}LifecyclePolicy`);
    const policy = await lifecycle.call("Get", { lifecycle_policy_id: op.metadata.lifecycle_policy_id });
    expect(policy).toMatchObject({ id: op.metadata.lifecycle_policy_id, repository_id: repository.id, name: "keep-one", status: "DISABLED" });
    expect(policy.rules).toMatchObject([{ description: "keep the newest", tag_regexp: ".*", untagged: false, retained_top: "1" }]);

    const run = await lifecycle.call("DryRun", { lifecycle_policy_id: policy.id });
    expect(run.metadata["@type"]).toBe(`${CONTAINER_REGISTRY_URL}DryRunLifecyclePolicyMetadata`);
    const ran = await finished(run);
    expect(ran.response["@type"]).toBe(`${CONTAINER_REGISTRY_URL}DryRunLifecyclePolicyResult`);
    // team/app holds two images (v1 and latest share one): the newest is kept, the other is affected.
    expect(ran.response.affected_images_count).toBe("1");
    const result = await lifecycle.call("GetDryRunResult", { dry_run_lifecycle_policy_result_id: run.metadata.dry_run_lifecycle_policy_result_id });
    expect(result).toMatchObject({ dry_run_lifecycle_policy_result_id: run.metadata.dry_run_lifecycle_policy_result_id, lifecycle_policy_id: policy.id, affected_images_count: "1" });
    const affected = await lifecycle.call("ListDryRunResultAffectedImages", { dry_run_lifecycle_policy_result_id: result.dry_run_lifecycle_policy_result_id });
    expect(affected.affected_images).toHaveLength(1);
    expect(affected.affected_images[0].name).toBe("local/team/app");
  });

  it("lists a folder page by page until next_page_token is empty, every image once, and gets each", async () => {
    const { images: listed, pages, tokens } = await listAll(images);
    expect(listed).toHaveLength(5);
    expect(pages).toBe(3);
    expect(new Set(listed.map((i) => i.id)).size).toBe(5);
    for (const t of tokens) expect(t.length).toBeLessThanOrEqual(100);
    expect(listed.map((i) => i.name).sort()).toEqual(["local/team/app", "local/team/app", "local/tools/base", "local/tools/base", "local/web/site"]);
    for (const image of listed) {
      expect(image.id.length).toBeLessThanOrEqual(50);
      expect(image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      for (const size of [image.compressed_size, image.config?.size, ...image.layers.map((l: any) => l.size)].filter((s) => s !== undefined)) {
        expect(BigInt(size) > 0n && BigInt(size) < 2n ** 53n).toBe(true);
      }
      const got = await images.call("Get", { image_id: image.id });
      expect(got).toEqual(image);
    }
    expect(listed.find((i) => i.name === "local/team/app" && i.tags.includes("v1"))?.tags).toEqual(["latest", "v1"]);
  });

  it("deletes an image as an Operation with the Yandex type URLs, polled through OperationService.Get", async () => {
    const before = (await listAll(images)).images;
    const victim = before.find((i) => i.name === "local/web/site")!;
    const op = await images.call("Delete", { image_id: victim.id });
    expect(op.id).not.toBe("");
    expect(op.metadata["@type"]).toBe(METADATA_URL);
    expect(op.metadata.image_id).toBe(victim.id);

    const current = await finished(op);
    expect(current.result).toBe("response");
    expect(current.response.type_url).toBe(EMPTY_URL);
    expect(current.metadata["@type"]).toBe(METADATA_URL);
    expect(current.metadata.image_id).toBe(victim.id);

    const err = await images.fails("Get", { image_id: victim.id });
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    const after = (await listAll(images)).images;
    expect(after.map((i) => i.id).sort()).toEqual(before.filter((i) => i.id !== victim.id).map((i) => i.id).sort());

    const cancelled = await operations.call("Cancel", { operation_id: op.id });
    expect(cancelled.done).toBe(true);
    expect(cancelled.response.type_url).toBe(EMPTY_URL);
    expect(cancelled.metadata["@type"]).toBe(METADATA_URL);
  });

  it("answers with gRPC statuses: validation errors, unknown ids, unknown folders", async () => {
    const pageSize = await images.fails("List", { folder_id: "default", page_size: 1001 });
    expect(pageSize.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(pageSize.details).toContain("page_size");
    expect((await images.fails("List", { page_token: "a".repeat(101) })).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await images.fails("Get", { image_id: "x".repeat(51) })).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await images.fails("Delete", { image_id: "" })).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await images.fails("Get", { image_id: "i" + "a".repeat(32) })).code).toBe(grpc.status.NOT_FOUND);
    expect((await images.fails("List", { folder_id: "nope" })).code).toBe(grpc.status.NOT_FOUND);
    expect((await operations.fails("Get", { operation_id: "nope" })).code).toBe(grpc.status.NOT_FOUND);
    expect((await operations.fails("Get", { operation_id: "" })).code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("goes through the same pipeline: metrics name the Yandex paths", async () => {
    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/regplane_rpc_total\{method="yandex\.cloud\.containerregistry\.v1\.ImageService\/List",protocol="grpc",code="OK"\} [1-9]/);
    expect(metrics).toContain(`regplane_rpc_total{method="yandex.cloud.containerregistry.v1.ImageService/List",protocol="grpc",code="INVALID_ARGUMENT"}`);
    expect(metrics).toContain(`regplane_rpc_total{method="yandex.cloud.operation.OperationService/Get"`);
  });

  it("lists and describes the Yandex services through server reflection", async () => {
    const reflection = reflectionClient(server.grpcAddress);
    try {
      const listed = await reflection.ask({ list_services: "*" });
      const names = listed.list_services_response.service.map((s: any) => s.name);
      expect(names).toEqual(expect.arrayContaining([IMAGE_SERVICE, OPERATION_SERVICE, "regplane.v1.ImageService", "regplane.v1.OperationService"]));

      const expected: Array<[string, string, string[]]> = [
        [IMAGE_SERVICE, "yandex/cloud/containerregistry/v1/image_service.proto", ["Get", "List", "Delete"]],
        [OPERATION_SERVICE, "yandex/cloud/operation/operation_service.proto", ["Get", "Cancel"]],
        [REPOSITORY_SERVICE, "yandex/cloud/containerregistry/v1/repository_service.proto", ["Get", "GetByName", "List", "Create", "Delete"]],
      ];
      for (const [symbol, file, rpcs] of expected) {
        const described = await reflection.ask({ file_containing_symbol: symbol });
        const files: FileDescriptorProto[] = described.file_descriptor_response.file_descriptor_proto.map((b: Buffer) => fromBinary(FileDescriptorProtoSchema, b));
        const proto = files.find((f) => f.name === file)!;
        expect(proto.package).toBe(symbol.slice(0, symbol.lastIndexOf(".")));
        expect(proto.service.map((s) => s.name)).toEqual([symbol.slice(symbol.lastIndexOf(".") + 1)]);
        expect(proto.service[0].method.map((m) => m.name)).toEqual(rpcs);
        const refs = proto.service[0].method.flatMap((m) => [m.inputType, m.outputType]);
        for (const r of refs) expect(r).toMatch(/^\.yandex\.cloud\./);
      }
      const op = await reflection.ask({ file_containing_symbol: "yandex.cloud.operation.Operation" });
      const opFiles: FileDescriptorProto[] = op.file_descriptor_response.file_descriptor_proto.map((b: Buffer) => fromBinary(FileDescriptorProtoSchema, b));
      expect(opFiles.map((f) => f.name)).toContain("yandex/cloud/operation/operation.proto");
    } finally {
      reflection.close();
    }
  });

  it("reports the Yandex services SERVING through grpc.health.v1", async () => {
    const def = protoLoader.loadSync(path.resolve("node_modules/grpc-health-check/proto/health/v1/health.proto"), { enums: String });
    const Health = (grpc.loadPackageDefinition(def) as any).grpc.health.v1.Health;
    const client = new Health(server.grpcAddress, grpc.credentials.createInsecure());
    try {
      for (const service of [IMAGE_SERVICE, OPERATION_SERVICE, REPOSITORY_SERVICE]) {
        const res = await new Promise<any>((resolve, reject) => client.check({ service }, (e: unknown, r: unknown) => (e ? reject(e) : resolve(r))));
        expect(res.status).toBe("SERVING");
      }
    } finally {
      client.close();
    }
  });

  it("is callable by buf curl from reflection alone", async () => {
    const base = ["--no-install", "buf", "curl", "--protocol", "grpc", "--http2-prior-knowledge"];
    const { stdout: methods } = await exec("npx", [...base, "--list-methods", `http://${server.grpcAddress}`]);
    expect(methods).toContain(`${IMAGE_SERVICE}/List`);
    expect(methods).toContain(`${OPERATION_SERVICE}/Cancel`);
    expect(methods).not.toContain(`${OPERATION_SERVICE}/Wait`);
    const call = await exec("npx", [...base, "-d", '{"folderId":"default","pageSize":"2"}', `http://${server.grpcAddress}/${IMAGE_SERVICE}/List`]);
    expect(JSON.parse(call.stdout).images).toHaveLength(2);
  });
});

describe("--no-yandex-compat", () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServer({ args: ["--no-yandex-compat"] });
  }, 60_000);

  afterAll(async () => {
    if (server) expect(await server.stop()).toBe(0);
  });

  it("leaves the Yandex paths UNIMPLEMENTED and out of reflection, and serves regplane.v1 as before", async () => {
    const images = new YandexClient(yandex.yandex.cloud.containerregistry.v1.ImageService, server.grpcAddress);
    const operations = new YandexClient(yandex.yandex.cloud.operation.OperationService, server.grpcAddress);
    const ours = new GrpcClient(ImageService, server.grpcAddress);
    const reflection = reflectionClient(server.grpcAddress);
    try {
      expect((await images.fails("List", { folder_id: "default" })).code).toBe(grpc.status.UNIMPLEMENTED);
      expect((await operations.fails("Get", { operation_id: "x" })).code).toBe(grpc.status.UNIMPLEMENTED);
      expect((await ours.call("list", { folderId: "default" })).images).toEqual([]);
      const listed = await reflection.ask({ list_services: "*" });
      const names: string[] = listed.list_services_response.service.map((s: any) => s.name);
      expect(names).toContain("regplane.v1.ImageService");
      expect(names.filter((n) => n.startsWith("yandex."))).toEqual([]);
    } finally {
      images.close();
      operations.close();
      ours.close();
      reflection.close();
    }
  });
});

describe("the yandexCompat setting", () => {
  const load = (flags: { yandexCompat?: boolean; config?: string }, env: Record<string, string> = {}) =>
    loadConfig({ flags, env }).server.yandexCompat;

  it("is on by default; the flag, REGPLANE_YANDEX_COMPAT and server.yandexCompat turn it off, in that precedence", () => {
    const file = path.join(tempDir(), "regplane.yaml");
    writeFileSync(file, "server:\n  yandexCompat: false\n");
    expect(load({})).toBe(true);
    expect(load({ yandexCompat: false })).toBe(false);
    expect(load({}, { REGPLANE_YANDEX_COMPAT: "false" })).toBe(false);
    expect(load({ config: file })).toBe(false);
    expect(load({ config: file }, { REGPLANE_YANDEX_COMPAT: "true" })).toBe(true);
    expect(load({ yandexCompat: false }, { REGPLANE_YANDEX_COMPAT: "true" })).toBe(false);
    expect(() => load({}, { REGPLANE_YANDEX_COMPAT: "maybe" })).toThrow(ConfigError);
  });
});
