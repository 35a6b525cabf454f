// The PostgreSQL store going away: NOT_SERVING and UNAVAILABLE + RetryInfo while it is down, recovery on
// its own when it returns (Wait woken again), and a start against an unreachable database exits 2.
import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import type { Operation } from "../src/gen/regplane/v1/operation_pb.js";
import { buildBaseLayout, copyToLayout, makeTempDir, readIndexJson } from "./support/images.js";
import { GrpcError } from "./support/clients.js";
import { startGateRegistry, type GateRegistry } from "./support/delete-gate.js";
import { startPostgres, type PostgresServer } from "./support/postgres.js";
import { alive, gateOperation, startReplica, stopReplica, until, type Replica } from "./support/replicas.js";
import { tempDir } from "./support/server.js";

let pgServer: PostgresServer;
let dataDir: string;
let databaseUrl: string;
let gateRegistry: GateRegistry;
const replicas: Replica[] = [];

beforeAll(async () => {
  pgServer = await startPostgres();
  databaseUrl = await pgServer.createDatabase();
  dataDir = tempDir("regplane-restart-");
  gateRegistry = await startGateRegistry();
  const config = `operations:\n  concurrency: 1\n  lease: 1s\nregistries:\n  - {id: local, provider: local}\n${gateRegistry.configEntry}\n`;
  for (let i = 0; i < 2; i++) replicas.push(await startReplica({ dataDir, databaseUrl, config }));
}, 120_000);

afterAll(async () => {
  for (const r of replicas) await stopReplica(r);
  await gateRegistry?.close();
  await pgServer?.destroy();
  await fs.rm(dataDir, { recursive: true, force: true });
});

async function readyz(r: Replica): Promise<number> {
  if (!alive(r)) throw new Error(`replica exited: ${r.server.stderr()}`);
  return (await fetch(`${r.server.httpUrl}/readyz`)).status;
}

function healthOf(r: Replica): Promise<string> {
  const def = protoLoader.loadSync(path.resolve("node_modules/grpc-health-check/proto/health/v1/health.proto"), { enums: String });
  const Health = (grpc.loadPackageDefinition(def) as any).grpc.health.v1.Health;
  const client = new Health(r.server.grpcAddress, grpc.credentials.createInsecure());
  return new Promise<string>((resolve, reject) =>
    client.check({ service: "regplane.v1.OperationService" }, (e: unknown, res: { status: string }) => {
      client.close();
      return e ? reject(e) : resolve(res.status);
    }),
  );
}

describe("PostgreSQL restart", () => {
  it("not ready and UNAVAILABLE with RetryInfo while it is down; serving again on its own; Wait still woken", async () => {
    const [a, b] = replicas as [Replica, Replica];
    expect(await readyz(a)).toBe(200);
    await pgServer.stop();
    await until(async () => (await readyz(a)) === 503);
    expect(await healthOf(a)).toBe("NOT_SERVING");
    const failed = await a.ops.call("get", { operationId: "a".repeat(32) }).then(
      () => undefined,
      (e: unknown) => e as GrpcError,
    );
    expect(failed).toBeInstanceOf(GrpcError);
    expect(failed!.code).toBe(grpc.status.UNAVAILABLE);
    expect(failed!.status?.details.map((d) => d.typeUrl)).toContain("type.googleapis.com/google.rpc.RetryInfo");
    expect(JSON.stringify(failed!.status)).not.toContain("postgres://");

    await pgServer.start();
    await until(async () => (await readyz(a)) === 200 && (await readyz(b)) === 200);
    expect(await healthOf(a)).toBe("SERVING");
    // Both LISTEN connections came back: a Wait on B for an operation A's side finishes is woken.
    const gate = await gateOperation(a, gateRegistry, "after-restart");
    const waited = b.ops.call("wait", { operationId: gate.op.id, timeout: { seconds: 60n } }, { deadlineMs: 70_000 }) as Promise<Operation>;
    await gate.release();
    expect((await waited).done).toBe(true);
  }, 120_000);

  it("a burst of deletes across a restart: each accepted one finishes once, each refused one is UNAVAILABLE", async () => {
    const [a, b] = replicas as [Replica, Replica];
    const work = await makeTempDir();
    const built = await buildBaseLayout(path.join(work, "built"));
    const repos = ["burst/r0", "burst/r1", "burst/r2", "burst/r3"];
    for (const repo of repos) for (const tag of ["base", "v1", "v2"]) await copyToLayout(built.dir, tag, path.join(dataDir, "registry", repo), tag);
    const ids: string[] = [];
    for (const repo of repos) {
      const res = (await a.images.call("list", { repositoryName: `local/${repo}`, pageSize: 100n })) as { images: Image[] };
      ids.push(...res.images.map((i) => i.id));
    }
    expect(ids).toHaveLength(12);

    // Deletes go out (each twice, over both replicas) while the database stops under them.
    const sends = [...ids, ...ids].map((imageId, i) =>
      (i % 2 === 0 ? a : b).images.call("delete", { imageId }).then(
        (op: Operation) => ({ imageId, op }),
        (err: unknown) => ({ imageId, err: err as GrpcError }),
      ),
    );
    const [answers] = await Promise.all([Promise.all(sends), pgServer.stop()]);
    await pgServer.start();
    await until(async () => (await readyz(a)) === 200 && (await readyz(b)) === 200);

    const opsByImage = new Map<string, Set<string>>();
    for (const x of answers) {
      if ("err" in x) {
        expect(x.err.code, x.err.message).toBe(grpc.status.UNAVAILABLE);
        continue;
      }
      opsByImage.set(x.imageId, (opsByImage.get(x.imageId) ?? new Set()).add(x.op.id));
    }
    for (const [, opIds] of opsByImage) {
      // Both sends of an image met the same unfinished operation, or the first had finished already.
      for (const id of opIds) {
        const done = (await b.ops.call("wait", { operationId: id, timeout: { seconds: 60n } }, { deadlineMs: 70_000 })) as Operation;
        expect(done.done).toBe(true);
        expect(done.result.case).toBe("response");
      }
    }
    // What was refused is sent again now, and the registry ends with every image deleted exactly as asked.
    for (const imageId of ids.filter((id) => !opsByImage.has(id))) {
      const op = (await a.images.call("delete", { imageId })) as Operation;
      expect(((await a.ops.call("wait", { operationId: op.id, timeout: { seconds: 60n } }, { deadlineMs: 70_000 })) as Operation).done).toBe(true);
    }
    for (const repo of repos) expect((await readIndexJson(path.join(dataDir, "registry", repo))).manifests).toEqual([]);
    await fs.rm(work, { recursive: true, force: true });
  }, 180_000);

  it("a start against an unreachable database exits 2 naming the host, never the password", async () => {
    const url = `postgres://regplane:pw-s3cret@127.0.0.1:${pgServer.port + 1}/regplane`;
    const run = promisify(execFile);
    const dir = tempDir("regplane-unreachable-");
    const result = await run(process.execPath, ["--import", "tsx", "src/main.ts", "--data-dir", dir, "--grpc-port", "0", "--http-port", "0"], {
      env: { ...process.env, REGPLANE_STATE_DRIVER: "postgres", REGPLANE_DATABASE_URL: url },
    }).then(
      () => ({ code: 0, stderr: "", stdout: "" }),
      (e: { code: number; stderr: string; stdout: string }) => e,
    );
    await fs.rm(dir, { recursive: true, force: true });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`127.0.0.1:${pgServer.port + 1}`);
    expect(result.stderr + result.stdout).not.toContain("pw-s3cret");
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  }, 60_000);
});
