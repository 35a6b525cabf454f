// A delete cancelled after its DELETE may have reached the registry is reported as what happened, read
// back from the registry: gone → done with a response; still there → CANCELLED; the registry unreachable
// → UNKNOWN with ErrorInfo OPERATION_OUTCOME_UNKNOWN. A real CNCF registry behind a proxy that holds the
// DELETE (its request, or the registry's answer to it) until the test has cancelled: gates, not timing.
import * as path from "node:path";
import { createRegistry } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { startEchoProxy, type EchoProxy, type Gate } from "./fakes/echo-proxy.js";
import { GrpcClient } from "./support/clients.js";
import { buildBaseLayout, makeTempDir } from "./support/images.js";
import { pushImage, startRegistry, type RunningRegistry } from "./support/registry.js";
import { startServer, type ServerProcess } from "./support/server.js";

const Code = { CANCELLED: 1, UNKNOWN: 2, NOT_FOUND: 5 } as const;
const details = createRegistry(ErrorInfoSchema);
const DELETE_PATH = /\/manifests\/sha256:/;

let registry: RunningRegistry;
let proxy: EchoProxy;
let server: ServerProcess;
let images: GrpcClient;
let operations: GrpcClient;
const ids: Record<string, { id: string; digest: string }> = {};

/** Whether the registry itself (not through the proxy) still holds the manifest. */
async function present(repository: string): Promise<boolean> {
  const res = await fetch(`${registry.url}/v2/${repository}/manifests/${ids[repository].digest}`, {
    method: "HEAD",
    headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" },
  });
  if (res.status !== 200 && res.status !== 404) throw new Error(`HEAD answered ${res.status}`);
  return res.status === 200;
}

/** Deletes the image, waits for the DELETE to be held at `gate`, runs `then`, cancels, and waits for the end. */
async function cancelledDelete(repository: string, gate: Gate, then: () => void = () => {}) {
  const op = await images.call("delete", { imageId: ids[repository].id });
  await gate.reached;
  then();
  await operations.call("cancel", { operationId: op.id });
  let done = op;
  while (!done.done) done = await operations.call("wait", { operationId: op.id, timeout: { seconds: 20n } });
  return done;
}

beforeAll(async () => {
  registry = await startRegistry();
  const base = await buildBaseLayout(path.join(await makeTempDir("regplane-cancel-"), "layout"));
  for (const repo of ["gone/app", "kept/app", "unknown/app"]) await pushImage(base.dir, "v1", registry.host, repo, "v1");
  proxy = await startEchoProxy(registry.url);
  server = await startServer({
    config: `
registries:
  - id: oci
    provider: oci
    endpoint: ${proxy.url}
    insecure: true
    breakerThreshold: 1000
`,
  });
  images = new GrpcClient(ImageService, server.grpcAddress);
  operations = new GrpcClient(OperationService, server.grpcAddress);
  const listed = await images.call("list", { registryId: "oci" });
  for (const i of listed.images) ids[i.name.slice("oci/".length)] = { id: i.id, digest: i.digest };
  expect(Object.keys(ids).sort()).toEqual(["gone/app", "kept/app", "unknown/app"]);
}, 120_000);

afterAll(async () => {
  images?.close();
  operations?.close();
  if (server) expect(await server.stop()).toBe(0);
  await proxy?.close();
  await registry?.stop();
});

describe("cancelling a delete whose DELETE may have gone out", () => {
  it("the registry deleted it before the cancel: done, with the response", async () => {
    const gate = proxy.hold("DELETE", DELETE_PATH, "response");
    const op = await cancelledDelete("gone/app", gate);
    expect(op.result.case, JSON.stringify(op.result.value?.message)).toBe("response");
    expect(op.result.value.typeUrl).toBe("type.googleapis.com/google.protobuf.Empty");
    expect(await present("gone/app")).toBe(false);
    const got = await images.call("get", { imageId: ids["gone/app"].id }).catch((e: { code: number }) => e);
    expect(got.code).toBe(Code.NOT_FOUND);
    gate.open();
  });

  it("the DELETE never reached the registry: CANCELLED, and the image is still there", async () => {
    const gate = proxy.hold("DELETE", DELETE_PATH, "request");
    const op = await cancelledDelete("kept/app", gate);
    expect(op.result.case).toBe("error");
    expect(op.result.value.code).toBe(Code.CANCELLED);
    expect(await present("kept/app")).toBe(true);
    gate.open();
    const got = await images.call("get", { imageId: ids["kept/app"].id });
    expect(got.digest).toBe(ids["kept/app"].digest);
  });

  it("the registry cannot be asked afterwards: UNKNOWN with OPERATION_OUTCOME_UNKNOWN", async () => {
    const gate = proxy.hold("DELETE", DELETE_PATH, "request");
    const op = await cancelledDelete("unknown/app", gate, () => (proxy.down = true));
    proxy.down = false;
    expect(op.result.case).toBe("error");
    expect(op.result.value.code).toBe(Code.UNKNOWN);
    const info = op.result.value.details.map((d: never) => anyUnpack(d, details)).find((m: { $typeName?: string } | undefined) => m?.$typeName === "google.rpc.ErrorInfo");
    expect(info?.reason).toBe("OPERATION_OUTCOME_UNKNOWN");
    expect(info?.metadata.operation_id).toBe(op.id);
    expect(await present("unknown/app")).toBe(true);
    gate.open();
  });
});
