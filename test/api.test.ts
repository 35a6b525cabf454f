// The API edge: the real server process, called with grpc-js, connect-node (Connect JSON and binary,
// gRPC-Web, gRPC over h2c), curl, and a reflection client; images built by umoci and copied in by skopeo.
import { execFile } from "node:child_process";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as path from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { Code as ConnectCode, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { NamespaceService } from "../src/gen/regplane/v1/namespace_service_pb.js";
import { RegistryService } from "../src/gen/regplane/v1/registry_service_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import { BadRequestSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { connectClient, fieldViolations, GrpcClient, grpcFailure, type Protocol, reflectionClient } from "./support/clients.js";
import { buildBaseLayout, copyToLayout, digestOfTag, makeTempDir, skopeoRawManifest, type BaseLayout } from "./support/images.js";
import { startServer, type ServerProcess } from "./support/server.js";

const exec = promisify(execFile);
let server: ServerProcess;
let base: BaseLayout;
let images: GrpcClient;
const registryDir = () => path.join(server.dataDir, "registry");

async function skopeoView(repo: string, tag: string) {
  return skopeoRawManifest(`oci:${path.join(registryDir(), repo)}:${tag}`);
}

beforeAll(async () => {
  const src = await makeTempDir();
  base = await buildBaseLayout(path.join(src, "layout"));
  const dataDir = await makeTempDir();
  const reg = path.join(dataDir, "registry");
  await copyToLayout(base.dir, "v1", path.join(reg, "team/app"), "v1");
  await copyToLayout(base.dir, "v2", path.join(reg, "team/app"), "v2");
  await copyToLayout(base.dir, "v1", path.join(reg, "team/app"), "latest");
  await copyToLayout(base.dir, "base", path.join(reg, "tools/base"), "1");
  await copyToLayout(base.dir, "v2", path.join(reg, "tools/base"), "2", { format: "v2s2" });
  server = await startServer({ dataDir, args: ["--cors-origin", "https://console.example"] });
  images = new GrpcClient(ImageService, server.grpcAddress);
}, 120_000);

afterAll(async () => {
  images?.close();
  if (server) expect(await server.stop()).toBe(0);
});

describe("ImageService over gRPC (grpc-js)", () => {
  it("lists every image of the embedded registry with digests and sizes equal to skopeo's view", async () => {
    const res = await images.call("list", {});
    const got = (res.images as Image[]).map((i) => `${i.name}@${i.digest}`).sort();
    const app1 = await skopeoView("team/app", "v1");
    const app2 = await skopeoView("team/app", "v2");
    const base1 = await skopeoView("tools/base", "1");
    // skopeo's oci: transport reads only OCI media types; the Docker manifest is read from the layout.
    const base2Digest = (await digestOfTag(path.join(registryDir(), "tools/base"), "2"))!;
    const base2 = { digest: base2Digest };
    expect(got).toEqual(
      [`local/team/app@${app1.digest}`, `local/team/app@${app2.digest}`, `local/tools/base@${base1.digest}`, `local/tools/base@${base2.digest}`].sort(),
    );
    expect(res.nextPageToken).toBe("");
    const v1 = (res.images as Image[]).find((i) => i.digest === app1.digest)!;
    expect(v1.tags).toEqual(["latest", "v1"]);
    expect(v1.config?.digest).toBe(app1.manifest.config.digest);
    expect(v1.layers.map((l) => l.digest)).toEqual(app1.manifest.layers.map((l: any) => l.digest));
    const expectedSize = app1.manifest.config.size + app1.manifest.layers.reduce((n: number, l: any) => n + l.size, 0);
    expect(Number(v1.compressedSize)).toBe(expectedSize);
    expect(v1.id.length).toBeLessThanOrEqual(50);
    expect(v1.createdAt).toBeDefined();
    const docker = (res.images as Image[]).find((i) => i.digest === base2.digest)!;
    expect(docker.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
  });

  it("gets an image by the id List returned, and the same id after a restart", async () => {
    const list = await images.call("list", { repositoryName: "local/team/app", orderBy: "name" });
    const first = list.images[0] as Image;
    const got = (await images.call("get", { imageId: first.id })) as Image;
    expect(got.digest).toBe(first.digest);
    expect(got.tags).toEqual(first.tags);
  });

  it("pages inside the registry with opaque tokens of at most 100 characters", async () => {
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const res = await images.call("list", { pageSize: 1n, pageToken: token });
      expect(res.images.length).toBe(1);
      seen.push(...res.images.map((i: Image) => i.id));
      token = res.nextPageToken;
      expect(token.length).toBeLessThanOrEqual(100);
      expect(() => JSON.parse(Buffer.from(token, "base64").toString())).toThrow();
      pages++;
    } while (token !== "");
    expect(pages).toBe(4);
    expect(new Set(seen).size).toBe(4);
  });

  it("filters by name and orders by name, digest and created_at", async () => {
    const filtered = await images.call("list", { filter: 'name="local/tools/base"' });
    expect(filtered.images.map((i: Image) => i.name)).toEqual(["local/tools/base", "local/tools/base"]);
    for (const orderBy of ["name", "name desc", "digest", "digest desc", "created_at", "created_at desc, name"]) {
      const res = await images.call("list", { orderBy });
      const list = res.images as Image[];
      const [field, dir] = orderBy.split(",")[0].split(" ");
      const key = (i: Image) => (field === "name" ? i.name : field === "digest" ? i.digest : Number(i.createdAt?.seconds ?? 0n) * 1e9 + (i.createdAt?.nanos ?? 0));
      const keys = list.map(key);
      const sorted = [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      expect(keys).toEqual(dir === "desc" ? sorted.reverse() : sorted);
    }
  });

  it("answers NOT_FOUND for an unknown image and an unknown registry or folder", async () => {
    expect((await grpcFailure(images.call("get", { imageId: "i" + "a".repeat(32) }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await grpcFailure(images.call("list", { registryId: "nope" }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await grpcFailure(images.call("list", { folderId: "nope" }))).code).toBe(grpc.status.NOT_FOUND);
  });
});

describe("validation at the edge", () => {
  const cases: Array<[string, Record<string, unknown>, string, string]> = [
    ["image_id over 50 characters", { imageId: "x".repeat(51) }, "get", "image_id"],
    ["image_id missing", { imageId: "" }, "get", "image_id"],
    ["page_size 1001", { pageSize: 1001n }, "list", "page_size"],
    ["page_size -1", { pageSize: -1n }, "list", "page_size"],
    ["page_token over 100 characters", { pageToken: "a".repeat(101) }, "list", "page_token"],
    ["page_token not one of ours", { pageToken: "bm90LWEtdG9rZW4" }, "list", "page_token"],
    ["repository_name not matching its pattern", { repositoryName: "Local/App!" }, "list", "repository_name"],
    ["a filter other than name=", { filter: 'tag="v1"' }, "list", "filter"],
    ["an unknown order_by field", { orderBy: "size desc" }, "list", "order_by"],
  ];
  for (const [title, req, method, field] of cases) {
    it(`${title} → INVALID_ARGUMENT naming ${field} (gRPC)`, async () => {
      const err = await grpcFailure(images.call(method, req as never));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(fieldViolations(err.status).map((v) => v.field)).toContain(field);
    });
    it(`${title} → invalid_argument naming ${field} (Connect)`, async () => {
      const client = connectClient(ImageService, server.httpUrl) as any;
      const err = await client[method](req).then(
        () => {
          throw new Error("expected failure");
        },
        (e: unknown) => ConnectError.from(e),
      );
      expect(err.code).toBe(ConnectCode.InvalidArgument);
      const violations = err.findDetails(BadRequestSchema).flatMap((b: any) => b.fieldViolations.map((v: any) => v.field));
      expect(violations).toContain(field);
    });
  }
});

describe("the HTTP port", () => {
  const protocols: Protocol[] = ["connect", "connect-binary", "grpc-web", "grpc-http"];
  for (const protocol of protocols) {
    it(`serves ImageService.List and Get over ${protocol}`, async () => {
      const client = connectClient(ImageService, server.httpUrl, protocol);
      const res = await client.list({ registryId: "local", orderBy: "name" });
      expect(res.images.length).toBe(4);
      const got = await client.get({ imageId: res.images[0].id });
      expect(got.digest).toBe(res.images[0].digest);
    });
  }

  it("serves Connect JSON to curl over HTTP/1.1 and h2c", async () => {
    for (const extra of [["--http1.1"], ["--http2-prior-knowledge"]]) {
      const { stdout } = await exec("curl", [
        "-sS", ...extra, "-H", "Content-Type: application/json", "-d", '{"orderBy":"name"}', "-w", "\n%{http_version}",
        `${server.httpUrl}/regplane.v1.ImageService/List`,
      ]);
      const [body, version] = stdout.split("\n");
      expect(version).toBe(extra[0] === "--http1.1" ? "1.1" : "2");
      expect(JSON.parse(body).images).toHaveLength(4);
    }
  });

  it("answers an HTTP/1.0 call without a Host header and keeps serving", async () => {
    const port = Number(new URL(server.httpUrl).port);
    const reply = await new Promise<string>((resolve, reject) => {
      const body = '{"orderBy":"name"}';
      const socket = net.connect(port, "127.0.0.1", () =>
        socket.write(`POST /regplane.v1.ImageService/List HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`),
      );
      let text = "";
      socket.on("data", (d) => (text += d.toString()));
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 200/);
    expect(JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4)).images).toHaveLength(4);
    expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
  });

  it("serves the other three services", async () => {
    const regs = await connectClient(RegistryService, server.httpUrl).list({});
    expect(regs.registries.map((r) => [r.id, r.provider, r.folderId])).toEqual([["local", "local", "default"]]);
    const ns = await connectClient(NamespaceService, server.httpUrl).list({ registryId: "local" });
    expect(ns.namespaces.map((n) => n.id)).toEqual(["local/team", "local/tools"]);
    const got = await connectClient(NamespaceService, server.httpUrl).get({ namespaceId: "local/team" });
    expect(Number(got.imageCount)).toBe(2);
    const ops = await connectClient(OperationService, server.httpUrl).list({});
    expect(ops.operations).toEqual([]);
  });

  it("answers /healthz and /metrics", async () => {
    const health = await fetch(`${server.httpUrl}/healthz`);
    expect(health.status).toBe(200);
    await connectClient(ImageService, server.httpUrl).list({});
    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    expect(metrics).toContain('regplane_rpc_total{method="regplane.v1.ImageService/List"');
  });

  it("allows a configured browser origin and refuses others", async () => {
    const pre = await fetch(`${server.httpUrl}/regplane.v1.ImageService/List`, {
      method: "OPTIONS",
      headers: { origin: "https://console.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type,connect-protocol-version" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://console.example");
    const res = await fetch(`${server.httpUrl}/regplane.v1.ImageService/List`, {
      method: "POST",
      headers: { origin: "https://console.example", "content-type": "application/json" },
      body: "{}",
    });
    expect(res.headers.get("access-control-expose-headers")?.toLowerCase()).toContain("grpc-status");
    const refused = await fetch(`${server.httpUrl}/regplane.v1.ImageService/List`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("answers garbage and wrong content types with a protocol error and keeps serving", async () => {
    const wrongType = await fetch(`${server.httpUrl}/regplane.v1.ImageService/List`, { method: "POST", headers: { "content-type": "text/plain" }, body: "hello" });
    expect(wrongType.status).toBe(415);
    const garbage = await fetch(`${server.httpUrl}/regplane.v1.ImageService/List`, { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" });
    expect(garbage.status).toBe(400);
    const garbageProto = await fetch(`${server.httpUrl}/regplane.v1.ImageService/List`, { method: "POST", headers: { "content-type": "application/proto" }, body: new Uint8Array([0xff, 0xff, 0xff, 0x07]) });
    expect(garbageProto.status).toBe(400);
    expect((await garbageProto.json()).code).toBe("invalid_argument");
    const frame = Buffer.from([0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0x07]);
    const web = await fetch(`${server.httpUrl}/regplane.v1.ImageService/List`, { method: "POST", headers: { "content-type": "application/grpc-web+proto" }, body: frame });
    const webBody = Buffer.from(await web.arrayBuffer()).toString("latin1");
    expect(webBody).toMatch(/grpc-status: ?3/);
    const res = await connectClient(ImageService, server.httpUrl).list({});
    expect(res.images.length).toBe(4);
  });
});

/** A raw HTTP/2 gRPC call with an arbitrary body, to send what no well-behaved client would. */
function rawGrpc(pathName: string, body: Buffer, contentType = "application/grpc"): Promise<{ status?: number; grpcStatus?: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${server.grpcAddress}`);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": pathName, "content-type": contentType, te: "trailers" });
    const out: { status?: number; grpcStatus?: string } = {};
    req.on("response", (h) => {
      out.status = Number(h[":status"]);
      if (h["grpc-status"] !== undefined) out.grpcStatus = String(h["grpc-status"]);
    });
    req.on("trailers", (t) => (out.grpcStatus = String(t["grpc-status"])));
    req.on("close", () => {
      session.close();
      resolve(out);
    });
    req.on("data", () => {});
    req.end(body);
  });
}

describe("the gRPC port", () => {
  it("answers undecodable request bytes with INVALID_ARGUMENT and keeps serving", async () => {
    const payload = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, payload.length]), payload]);
    const res = await rawGrpc("/regplane.v1.ImageService/Get", frame);
    expect(res.grpcStatus).toBe(String(grpc.status.INVALID_ARGUMENT));
    const wrong = await rawGrpc("/regplane.v1.ImageService/Get", Buffer.from("hello"), "text/plain");
    expect(wrong.status === 415 || (wrong.grpcStatus !== undefined && wrong.grpcStatus !== "0")).toBe(true);
    const list = await images.call("list", {});
    expect(list.images.length).toBe(4);
  });

  it("serves grpc.health.v1 Check and Watch per service", async () => {
    const def = protoLoader.loadSync(path.resolve("node_modules/grpc-health-check/proto/health/v1/health.proto"), { enums: String });
    const Health = (grpc.loadPackageDefinition(def) as any).grpc.health.v1.Health;
    const client = new Health(server.grpcAddress, grpc.credentials.createInsecure());
    for (const service of ["", "regplane.v1.ImageService", "regplane.v1.OperationService", "regplane.v1.RegistryService", "regplane.v1.NamespaceService"]) {
      const res = await new Promise<any>((resolve, reject) => client.check({ service }, (e: unknown, r: unknown) => (e ? reject(e) : resolve(r))));
      expect(res.status).toBe("SERVING");
    }
    const unknown = await new Promise<any>((resolve) => client.check({ service: "no.such.Service" }, (e: unknown) => resolve(e)));
    expect(unknown.code).toBe(grpc.status.NOT_FOUND);
    const watched = await new Promise<string>((resolve, reject) => {
      const call = client.watch({ service: "regplane.v1.ImageService" });
      call.on("data", (d: any) => {
        resolve(d.status);
        call.cancel();
      });
      call.on("error", (e: grpc.ServiceError) => {
        if (e.code !== grpc.status.CANCELLED) reject(e);
      });
    });
    expect(watched).toBe("SERVING");
    client.close();
  });

  for (const version of ["v1", "v1alpha"]) {
    it(`lists and describes the four services through server reflection ${version}`, async () => {
      const { ask, close } = reflectionClient(server.grpcAddress, version as "v1" | "v1alpha");
      const listed = await ask({ list_services: "*" });
      const names = listed.list_services_response.service.map((s: any) => s.name);
      for (const s of ["regplane.v1.ImageService", "regplane.v1.OperationService", "regplane.v1.RegistryService", "regplane.v1.NamespaceService"]) {
        expect(names).toContain(s);
      }
      const described = await ask({ file_containing_symbol: "regplane.v1.ImageService" });
      expect(described.file_descriptor_response.file_descriptor_proto.length).toBeGreaterThan(0);
      close();
    });
  }

  it("is described by buf curl through reflection, with no proto files", async () => {
    const { stdout } = await exec("npx", ["--no-install", "buf", "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-methods", `http://${server.grpcAddress}`]);
    expect(stdout).toContain("regplane.v1.ImageService/List");
    const call = await exec("npx", ["--no-install", "buf", "curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", '{"pageSize":"2"}', `http://${server.grpcAddress}/regplane.v1.ImageService/List`]);
    expect(JSON.parse(call.stdout).images).toHaveLength(2);
  });
});
