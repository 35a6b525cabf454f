import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { createFileRegistry, create, fromBinary, toJson, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reflectionClient } from "./support/clients.js";
import { removeDir, startServer, tempDir, type ServerProcess } from "./support/server.js";

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "..");
const BUF = path.join(ROOT, "node_modules/.bin/buf");

let server: ServerProcess;

type Reflection = ReturnType<typeof reflectionClient>;
type File = ReturnType<typeof fromBinary<typeof FileDescriptorProtoSchema>>;

const filesOf = (answer: { file_descriptor_response?: { file_descriptor_proto: Buffer[] } }): File[] =>
  (answer.file_descriptor_response?.file_descriptor_proto ?? []).map((b) => fromBinary(FileDescriptorProtoSchema, b));

/**
 * The files that define `symbol`, as a client such as grpcurl gathers them: file_containing_symbol, then
 * file_by_filename for each dependency not sent yet. Ordered dependencies first, as a registry wants.
 */
async function filesFor(reflection: Reflection, symbol: string): Promise<File[]> {
  const byName = new Map<string, File>();
  for (const f of filesOf(await reflection.ask({ file_containing_symbol: symbol }))) byName.set(f.name, f);
  for (let missing = [...byName.values()].flatMap((f) => f.dependency).filter((d) => !byName.has(d)); missing.length > 0; ) {
    for (const f of filesOf(await reflection.ask({ file_by_filename: missing[0] }))) byName.set(f.name, f);
    if (!byName.has(missing[0])) throw new Error(`reflection does not serve ${missing[0]}`);
    missing = [...byName.values()].flatMap((f) => f.dependency).filter((d) => !byName.has(d));
  }
  const ordered: File[] = [];
  const pending = [...byName.values()];
  while (pending.length > 0) {
    const ready = pending.findIndex((f) => f.dependency.every((d) => ordered.some((o) => o.name === d)));
    ordered.push(...pending.splice(ready, 1));
  }
  return ordered;
}

/** `buf curl` over gRPC, resolving everything through the server's reflection; stdout and stderr as text, and the exit code. */
async function bufCurl(method: string, body: object, reflectProtocol: "grpc-v1" | "grpc-v1alpha" = "grpc-v1"): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--reflect", "--reflect-protocol", reflectProtocol, "-d", JSON.stringify(body), `http://${server.grpcAddress}/${method}`];
  return exec(BUF, args, { cwd: ROOT }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

describe("gRPC reflection serves what the port answers and what an Any may hold", () => {
  beforeAll(async () => {
    const dataDir = tempDir();
    // A namespace directory made behind regplane's back, so creating it fails inside an operation.
    mkdirSync(path.join(dataDir, "registry", "taken"), { recursive: true });
    server = await startServer({ dataDir });
  }, 60_000);

  afterAll(async () => {
    await server.stop();
    removeDir(server.dataDir);
  });

  for (const version of ["grpc-v1", "grpc-v1alpha"] as const) {
    it(`lets buf curl call grpc.health.v1.Health/Check through reflection (${version})`, async () => {
      const res = await bufCurl("grpc.health.v1.Health/Check", {}, version);
      expect(res.stderr).toBe("");
      expect(JSON.parse(res.stdout)).toEqual({ status: "SERVING" });
      const one = await bufCurl("grpc.health.v1.Health/Check", { service: "regplane.v1.ImageService" }, version);
      expect(JSON.parse(one.stdout)).toEqual({ status: "SERVING" });
    }, 30_000);
  }

  it("lists every service the port answers, health included", async () => {
    const { stdout } = await exec(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--reflect", "--list-services", `http://${server.grpcAddress}`], { cwd: ROOT });
    expect(stdout.trim().split("\n").sort()).toEqual([
      "grpc.health.v1.Health",
      "regplane.v1.BulkService",
      "regplane.v1.ImageService",
      "regplane.v1.LifecyclePolicyService",
      "regplane.v1.NamespaceService",
      "regplane.v1.OperationService",
      "regplane.v1.RegistryService",
      "regplane.v1.RepositoryService",
      "regplane.v1.TagService",
      "yandex.cloud.containerregistry.v1.ImageService",
      "yandex.cloud.containerregistry.v1.LifecyclePolicyService",
      "yandex.cloud.containerregistry.v1.RepositoryService",
      "yandex.cloud.operation.OperationService",
    ]);
  }, 30_000);

  it("lets buf curl print a failed operation's error details and metadata decoded", async () => {
    const created = await bufCurl("regplane.v1.NamespaceService/Create", { registryId: "local", name: "taken" });
    expect(created.stderr).toBe("");
    const { id } = JSON.parse(created.stdout) as { id: string };
    const waited = await bufCurl("regplane.v1.OperationService/Wait", { operationId: id, timeout: "30s" });
    expect(waited.stderr).toBe("");
    const op = JSON.parse(waited.stdout) as { done: boolean; metadata: object; error: { code: number; details: object[] } };
    expect(op.done).toBe(true);
    expect(op.metadata).toEqual({ "@type": "type.googleapis.com/regplane.v1.CreateNamespaceMetadata", namespaceId: "local/taken" });
    expect(op.error.code).toBe(6);
    expect(op.error.details).toEqual([
      { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "NAMESPACE_ALREADY_EXISTS", domain: "regplane", metadata: { namespace: "taken", registry_id: "local" } },
    ]);
  }, 60_000);

  /** Every type regplane packs into an Any: operation metadata and responses (ours and the Yandex names), and error details. */
  const ANY_TYPES = [
    "regplane.v1.DeleteImageMetadata",
    "regplane.v1.CreateNamespaceMetadata",
    "regplane.v1.UpdateNamespaceMetadata",
    "regplane.v1.DeleteNamespaceMetadata",
    "regplane.v1.CreateRegistryMetadata",
    "regplane.v1.UpdateRegistryMetadata",
    "regplane.v1.DeleteRegistryMetadata",
    "regplane.v1.CreateRepositoryMetadata",
    "regplane.v1.DeleteRepositoryMetadata",
    "regplane.v1.Namespace",
    "regplane.v1.Registry",
    "regplane.v1.Repository",
    "yandex.cloud.containerregistry.v1.DeleteImageMetadata",
    "yandex.cloud.containerregistry.v1.CreateRepositoryMetadata",
    "yandex.cloud.containerregistry.v1.DeleteRepositoryMetadata",
    "yandex.cloud.containerregistry.v1.Repository",
    "google.protobuf.Empty",
    "google.rpc.Status",
    "google.rpc.BadRequest",
    "google.rpc.ErrorInfo",
    "google.rpc.RetryInfo",
  ];

  for (const version of ["v1", "v1alpha"] as const) {
    it(`describes every type that can arrive in an Any, with all it depends on (${version})`, async () => {
      const reflection = reflectionClient(server.grpcAddress, version);
      try {
        for (const typeName of ANY_TYPES) {
          const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: await filesFor(reflection, typeName) }));
          expect(registry.getMessage(typeName), typeName).toBeDefined();
        }
      } finally {
        reflection.close();
      }
    }, 30_000);

    it(`serves google.rpc.BadRequest so a call's error details decode with nothing but reflection (${version})`, async () => {
      const res = await bufCurl("regplane.v1.ImageService/List", { folderId: "default", pageSize: 5000 });
      expect(res.code).not.toBe(0);
      // buf curl prints a call's own error details as type and bytes; the bytes decode by reflection alone.
      const printed = JSON.parse(res.stderr) as { code: string; details: Array<{ type: string; value: string }> };
      expect(printed.code).toBe("invalid_argument");
      expect(printed.details.map((d) => d.type)).toEqual(["google.rpc.BadRequest"]);

      const reflection = reflectionClient(server.grpcAddress, version);
      try {
        const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: await filesFor(reflection, "google.rpc.BadRequest") }));
        const badRequest = registry.getMessage("google.rpc.BadRequest") as DescMessage;
        expect(badRequest).toBeDefined();
        const decoded = toJson(badRequest, fromBinary(badRequest, Buffer.from(printed.details[0].value, "base64"))) as { fieldViolations: Array<{ field: string }> };
        expect(decoded.fieldViolations.map((v) => v.field)).toEqual(["page_size"]);
      } finally {
        reflection.close();
      }
    }, 30_000);
  }
});
