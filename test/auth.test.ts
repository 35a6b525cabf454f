// Authentication, roles, limits and the audit log on the real server process, through real clients on
// both ports: API keys made by `regplane keys create`, the open loopback default, the refusal to serve a
// public address without credentials, guarded reflection and health, rate limits, message sizes,
// HTTP/2 stream limits and server-side deadlines.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as path from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { DescService } from "@bufbuild/protobuf";
import { ConnectError, type Client } from "@connectrpc/connect";
import { parse as parseYaml, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { NamespaceService } from "../src/gen/regplane/v1/namespace_service_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { connectClient, GrpcClient, GrpcError, reflectionClient } from "./support/clients.js";
import { makeTempDir, writeSyntheticImage } from "./support/images.js";
import { startServer, tempDir, type ServerProcess } from "./support/server.js";
import { until } from "./support/gate.js";

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "..");
const MAIN = path.join(ROOT, "src/main.ts");
const S = grpc.status;

interface Outcome {
  code: number;
  res?: any;
  message?: string;
  reason?: string;
  retryDelayMs?: number;
}

/** One call over gRPC (grpc-js) or Connect (connect-node, binary), with the given headers. */
async function call(server: ServerProcess, via: "grpc" | "connect", service: DescService, method: string, req: object, headers: Record<string, string> = {}, deadlineMs?: number): Promise<Outcome> {
  if (via === "grpc") {
    const client = new GrpcClient(service, server.grpcAddress);
    try {
      return { code: 0, res: await client.call(method, req, { metadata: headers, deadlineMs }) };
    } catch (err) {
      if (!(err instanceof GrpcError)) throw err;
      return { code: err.code, message: err.message };
    } finally {
      client.close();
    }
  }
  const client = connectClient(service, server.httpUrl, "connect-binary") as Client<DescService>;
  try {
    const fn = (client as unknown as Record<string, (r: object, o: object) => Promise<unknown>>)[method];
    return { code: 0, res: await fn(req, { headers, timeoutMs: deadlineMs }) };
  } catch (err) {
    if (!(err instanceof ConnectError)) throw err;
    const retry = err.findDetails(RetryInfoSchema)[0]?.retryDelay;
    return {
      code: err.code,
      message: err.rawMessage,
      reason: err.findDetails(ErrorInfoSchema)[0]?.reason,
      retryDelayMs: retry ? Number(retry.seconds) * 1000 + retry.nanos / 1e6 : undefined,
    };
  }
}

async function both(server: ServerProcess, service: DescService, method: string, req: object, headers: Record<string, string> = {}): Promise<Outcome[]> {
  return [await call(server, "grpc", service, method, req, headers), await call(server, "connect", service, method, req, headers)];
}

function expectCodes(outcomes: Outcome[], code: number): void {
  for (const o of outcomes) expect(o.code, o.message).toBe(code);
}

/** Runs `regplane keys create` and returns the printed key and config entry. */
async function createKey(args: string[]): Promise<{ key: string; entry: Record<string, unknown> }> {
  const { stdout } = await exec(process.execPath, ["--import", "tsx", MAIN, "keys", "create", ...args], { cwd: ROOT });
  const key = /^\s+(rpk_\S+)$/m.exec(stdout)![1];
  const yaml = stdout.slice(stdout.indexOf("auth:"));
  const entry = (parseYaml(yaml) as { auth: { keys: Array<Record<string, unknown>> } }).auth.keys[0];
  return { key, entry };
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** grpc.health.v1 Check and a reflection list_services on the gRPC port, as codes. */
async function healthAndReflection(server: ServerProcess, headers: Record<string, string>): Promise<{ health: number; reflection: number }> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  const healthDef = protoLoader.loadSync(path.join(ROOT, "node_modules/grpc-health-check/proto/health/v1/health.proto"), { enums: String });
  const Health = (grpc.loadPackageDefinition(healthDef) as any).grpc.health.v1.Health;
  const health = new Health(server.grpcAddress, grpc.credentials.createInsecure());
  const healthCode = await new Promise<number>((resolve) => health.check({ service: "" }, md, (e: grpc.ServiceError | null) => resolve(e ? e.code : 0)));
  health.close();
  const reflection = reflectionClient(server.grpcAddress, "v1", md);
  const reflectionCode = await reflection.ask({ list_services: "*" }).then(
    () => 0,
    (e: grpc.ServiceError) => e.code,
  );
  reflection.close();
  return { health: healthCode, reflection: reflectionCode };
}

describe("API keys", () => {
  let server: ServerProcess;
  let editor: string;
  let viewer: string;
  let imageIds: string[];

  beforeAll(async () => {
    const [e, v] = await Promise.all([
      createKey(["--name", "ci", "--folders", "default", "--role", "editor"]),
      createKey(["--name", "dashboard", "--folders", "default", "--hash", "scrypt"]),
    ]);
    [editor, viewer] = [e.key, v.key];
    expect(e.entry).toMatchObject({ name: "ci", folders: ["default"], role: "editor" });
    expect(String(e.entry.hash)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(v.entry).toMatchObject({ name: "dashboard", role: "viewer" });
    expect(String(v.entry.hash)).toMatch(/^scrypt:/);
    const dataDir = await makeTempDir();
    for (const tag of ["v1", "v2", "v3"]) await writeSyntheticImage(path.join(dataDir, "registry/team/app"), { tag });
    server = await startServer({ dataDir, config: stringify({ auth: { keys: [e.entry, v.entry] } }) });
    const listed = await call(server, "grpc", ImageService, "list", {}, bearer(editor));
    imageIds = listed.res.images.map((i: { id: string }) => i.id);
    expect(imageIds.length).toBe(3);
  }, 120_000);

  afterAll(async () => {
    if (server) expect(await server.stop()).toBe(0);
  });

  it("answers a call without credentials, with a wrong key or a non-Bearer header UNAUTHENTICATED on both ports", async () => {
    const wrong = "rpk_" + "A".repeat(43);
    for (const headers of [{}, bearer(wrong), bearer(editor + "x"), { authorization: `Basic ${Buffer.from("ci:x").toString("base64")}` }, { authorization: "Bearer" }]) {
      for (const service of [ImageService, OperationService]) {
        const outcomes = await both(server, service, "list", {}, headers);
        expectCodes(outcomes, S.UNAUTHENTICATED);
        for (const o of outcomes) expect(o.message).not.toContain("rpk_");
      }
    }
    const http = await fetch(`${server.httpUrl}/regplane.v1.ImageService/List`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(http.status).toBe(401);
    expect(((await http.json()) as { code: string }).code).toBe("unauthenticated");
  });

  it("never writes a key, right or wrong, to the log", async () => {
    await both(server, ImageService, "list", {}, bearer("rpk_not-a-real-key-but-secret"));
    await both(server, ImageService, "list", {}, bearer(editor));
    const text = JSON.stringify(server.logs);
    expect(text).not.toContain("rpk_");
    expect(text).not.toContain(editor.slice(4));
  });

  it("lets an editor list, get and delete, with created_by the key's name", async () => {
    expectCodes(await both(server, ImageService, "get", { imageId: imageIds[0] }, bearer(editor)), 0);
    const op = await call(server, "grpc", ImageService, "delete", { imageId: imageIds[0] }, bearer(editor));
    expect(op.code).toBe(0);
    expect(op.res.createdBy).toBe("ci");
    const done = await call(server, "connect", OperationService, "wait", { operationId: op.res.id }, bearer(editor));
    expect(done.res.done).toBe(true);
    expect(done.res.createdBy).toBe("ci");
  });

  it("lets a viewer (scrypt-hashed key) call List, Get and Wait but answers Delete, Create, Update and Cancel PERMISSION_DENIED", async () => {
    for (let i = 0; i < 2; i++) expectCodes(await both(server, ImageService, "list", {}, bearer(viewer)), 0);
    expectCodes(await both(server, ImageService, "get", { imageId: imageIds[1] }, bearer(viewer)), 0);
    const denied = [
      await both(server, ImageService, "delete", { imageId: imageIds[1] }, bearer(viewer)),
      await both(server, NamespaceService, "create", { registryId: "local", name: "new-ns" }, bearer(viewer)),
      await both(server, NamespaceService, "update", { namespaceId: "local/team", description: "x" }, bearer(viewer)),
      await both(server, NamespaceService, "delete", { namespaceId: "local/team" }, bearer(viewer)),
      await both(server, OperationService, "cancel", { operationId: "op" + "a".repeat(32) }, bearer(viewer)),
    ];
    for (const outcomes of denied) {
      expectCodes(outcomes, S.PERMISSION_DENIED);
      expect(outcomes[1].reason).toBe("ROLE_LACKS_METHOD");
    }
    expectCodes(await both(server, ImageService, "get", { imageId: imageIds[1] }, bearer(editor)), 0);
  });

  it("writes one audit line per mutating call: principal, method, resource, result and operation id", async () => {
    const before = server.logs.length;
    const op = await call(server, "connect", ImageService, "delete", { imageId: imageIds[2] }, bearer(editor));
    await call(server, "grpc", ImageService, "delete", { imageId: imageIds[2] }, bearer(viewer));
    await call(server, "grpc", ImageService, "delete", { imageId: imageIds[2] }, {});
    await call(server, "grpc", ImageService, "get", { imageId: imageIds[2] }, bearer(editor));
    // ImageService lines only: an earlier case's audit lines may still be arriving from the server's stdout.
    const audited = () => server.logs.slice(before).filter((l) => l.audit === true && String(l.method).startsWith("regplane.v1.ImageService/"));
    await until(() => audited().length >= 3);
    const audit = audited();
    // A caller without credentials has its request refused before it is decoded: its line names no resource.
    expect(audit.map((l) => [l.principal, l.method, l.result, l.resource])).toEqual([
      ["ci", "regplane.v1.ImageService/Delete", "OK", imageIds[2]],
      ["dashboard", "regplane.v1.ImageService/Delete", "PERMISSION_DENIED", imageIds[2]],
      [undefined, "regplane.v1.ImageService/Delete", "UNAUTHENTICATED", undefined],
    ]);
    expect(audit[0].operationId).toBe(op.res.id);
  });

  it("keeps reflection and health open when the config does not close them", async () => {
    expect(await healthAndReflection(server, {})).toEqual({ health: 0, reflection: 0 });
    expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.httpUrl}/metrics`)).status).toBe(200);
  });
});

describe("running open", () => {
  it("serves loopback without credentials as anonymous, an editor of every folder, and says so", async () => {
    const server = await startServer();
    try {
      const ready = server.logs.find((l) => l.msg === "regplane serving")!;
      expect(ready.auth).toBe("open");
      expect(server.logs.some((l) => String(l.msg).includes("serving on a loopback address only"))).toBe(true);
      const op = await call(server, "grpc", NamespaceService, "create", { registryId: "local", name: "made-open" });
      expect(op.res.createdBy).toBe("anonymous");
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it("refuses to bind a non-loopback address without credentials: exit 2 and a message naming the fix", async () => {
    const dataDir = tempDir();
    const run = exec(process.execPath, ["--import", "tsx", MAIN, "--data-dir", dataDir, "--host", "0.0.0.0", "--grpc-port", "0", "--http-port", "0"], { cwd: ROOT });
    const err = (await run.then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    ))!;
    expect(err.code).toBe(2);
    expect(err.stderr).toContain("--insecure-no-auth");
    expect(err.stderr).toContain("regplane keys create");
  });

  it("binds a non-loopback address with no credentials only under --insecure-no-auth, and warns", async () => {
    const server = await startServer({ args: ["--host", "0.0.0.0", "--insecure-no-auth"] });
    try {
      expect(server.logs.some((l) => l.level === 40 && String(l.msg).includes("--insecure-no-auth"))).toBe(true);
      expect((await call(server, "grpc", ImageService, "list", {})).code).toBe(0);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it("rejects a bad auth section at start with exit 2", async () => {
    for (const [config, says] of [
      ["auth: { keys: [ { name: ci, hash: 'sha256:abc', folders: [default] } ] }", "auth.keys[0].hash"],
      ["auth: { keys: [ { name: ci, hash: 'sha256:" + "a".repeat(64) + "', folders: [nope] } ] }", 'unknown folder "nope"'],
      ["auth: { clientCerts: [ { subject: 'CN=x', folders: ['*'] } ] }", "tls.clientCa"],
    ]) {
      const dataDir = tempDir();
      const file = path.join(dataDir, "regplane.yaml");
      writeFileSync(file, config);
      const err = (await exec(process.execPath, ["--import", "tsx", MAIN, "--data-dir", dataDir, "--config", file], { cwd: ROOT }).then(
        () => undefined,
        (e: { code: number; stderr: string }) => e,
      ))!;
      expect(err.code).toBe(2);
      expect(err.stderr).toContain(says);
    }
  });
});

describe("guarded reflection and health, and limits", () => {
  let server: ServerProcess;
  let blackHole: net.Server;
  const held = new Set<net.Socket>();
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    // A registry endpoint that accepts connections and never answers: calls to it run until a deadline.
    blackHole = net.createServer((s) => {
      held.add(s);
      s.on("close", () => held.delete(s));
    });
    await new Promise<void>((r) => blackHole.listen(0, "127.0.0.1", r));
    const port = (blackHole.address() as net.AddressInfo).port;
    const entries = [];
    for (const name of ["rate", "other", "size", "deadline", "guard"]) {
      const { key, entry } = await createKey(["--name", name, "--folders", "*", "--role", "editor"]);
      keys[name] = key;
      entries.push(entry);
    }
    server = await startServer({
      config: stringify({
        registries: [
          { id: "local", provider: "local" },
          { id: "slow", provider: "oci", endpoint: `http://127.0.0.1:${port}`, insecure: true },
        ],
        auth: { keys: entries, protectReflection: true, protectHealth: true },
        limits: { ratePerSecond: 1, burst: 3, maxMessageBytes: 2048, maxConcurrentStreams: 7, defaultDeadline: "1s", maxDeadline: "10s" },
        server: { registryTimeout: "30s" },
      }),
    });
  }, 120_000);

  afterAll(async () => {
    if (server) expect(await server.stop()).toBe(0);
    for (const s of held) s.destroy();
    blackHole?.close();
  });

  it("closes reflection, grpc.health.v1, /healthz and /metrics to callers without credentials", async () => {
    expect(await healthAndReflection(server, {})).toEqual({ health: S.UNAUTHENTICATED, reflection: S.UNAUTHENTICATED });
    expect(await healthAndReflection(server, bearer(keys.guard))).toEqual({ health: 0, reflection: 0 });
    expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(401);
    expect((await fetch(`${server.httpUrl}/metrics`)).status).toBe(401);
    expect((await fetch(`${server.httpUrl}/healthz`, { headers: bearer(keys.guard) })).status).toBe(200);
    expect((await fetch(`${server.httpUrl}/metrics`, { headers: bearer(keys.guard) })).status).toBe(200);
  });

  it("limits each principal to its burst, then answers RESOURCE_EXHAUSTED with RetryInfo; other principals go on", async () => {
    // Alternating ports until both have refused (the last over Connect, which reads the details): the
    // burst is served, plus at most one refill per second the calls took, whatever the machine's speed.
    const outcomes: Outcome[] = [];
    const refusedVia = new Set<number>();
    const started = Date.now();
    for (let i = 0; i < 50 && !(refusedVia.size === 2 && i % 2 === 1); i++) {
      const outcome = await call(server, i % 2 === 0 ? "connect" : "grpc", OperationService, "list", {}, bearer(keys.rate));
      outcomes.push(outcome);
      if (outcome.code === S.RESOURCE_EXHAUSTED) refusedVia.add(i % 2);
    }
    const refills = Math.floor((Date.now() - started) / 1000);
    const served = outcomes.findIndex((o) => o.code !== 0);
    expect(served).toBeGreaterThanOrEqual(3);
    expect(served).toBeLessThanOrEqual(3 + refills);
    expect(outcomes.every((o) => o.code === 0 || o.code === S.RESOURCE_EXHAUSTED)).toBe(true);
    expect(refusedVia.size).toBe(2);
    const limited = outcomes[outcomes.length - 1];
    expect(limited.code).toBe(S.RESOURCE_EXHAUSTED);
    expect(limited.reason).toBe("RATE_LIMITED");
    expect(limited.retryDelayMs).toBeGreaterThan(0);
    expect(limited.retryDelayMs).toBeLessThanOrEqual(1000);
    expect((await call(server, "grpc", OperationService, "list", {}, bearer(keys.other))).code).toBe(0);
    await new Promise((r) => setTimeout(r, limited.retryDelayMs! + 50));
    expect((await call(server, "connect", OperationService, "list", {}, bearer(keys.rate))).code).toBe(0);
  });

  it("refuses a request message over the maximum size on both ports", async () => {
    const big = { filter: `name="${"x".repeat(3000)}"` };
    expectCodes(await both(server, ImageService, "list", big, bearer(keys.size)), S.RESOURCE_EXHAUSTED);
    expect((await call(server, "grpc", ImageService, "list", { filter: 'name="local"' }, bearer(keys.size))).code).toBe(0);
  });

  it("announces the maximum concurrent streams in the HTTP/2 settings of both ports", async () => {
    for (const port of [server.grpcPort, server.httpPort]) {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      const settings = await new Promise<http2.Settings>((resolve, reject) => {
        session.once("remoteSettings", resolve);
        session.once("error", reject);
      });
      session.close();
      expect(settings.maxConcurrentStreams, `port ${port}`).toBe(7);
    }
  });

  it("ends a call at the default deadline when the client sends none, and at the maximum when it asks for more", async () => {
    const req = { registryId: "slow" };
    let started = Date.now();
    const noDeadline = await call(server, "connect", ImageService, "list", req, bearer(keys.deadline));
    const noDeadlineMs = Date.now() - started;
    started = Date.now();
    const tooLong = await call(server, "grpc", ImageService, "list", req, bearer(keys.deadline), 60_000);
    const tooLongMs = Date.now() - started;
    expect(noDeadline.code).not.toBe(0);
    expect(tooLong.code).not.toBe(0);
    for (const o of [noDeadline, tooLong]) expect([S.DEADLINE_EXCEEDED, S.UNAVAILABLE]).toContain(o.code);
    // Default 1 s and maximum 10 s, with the registry's 30 s timeout and the client's 60 s far beyond:
    // each bound is several seconds from the next possible outcome, not a margin on one.
    expect(noDeadlineMs).toBeGreaterThanOrEqual(1000);
    expect(noDeadlineMs).toBeLessThan(10_000);
    expect(tooLongMs).toBeGreaterThanOrEqual(10_000);
    expect(tooLongMs).toBeLessThan(30_000);
  });
});
