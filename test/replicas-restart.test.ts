// The PostgreSQL store going away: NOT_SERVING and UNAVAILABLE + RetryInfo while it is down, recovery on
// its own when it returns (Wait woken again), and a start against an unreachable database exits 2.
import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Operation } from "../src/gen/regplane/v1/operation_pb.js";
import { GrpcError } from "./support/clients.js";
import { startPostgres, type PostgresServer } from "./support/postgres.js";
import { gateOperation, startReplica, stopReplica, until, type Replica } from "./support/replicas.js";
import { tempDir } from "./support/server.js";

let pgServer: PostgresServer;
let dataDir: string;
let databaseUrl: string;
const replicas: Replica[] = [];

beforeAll(async () => {
  pgServer = await startPostgres();
  databaseUrl = await pgServer.createDatabase();
  dataDir = tempDir("regplane-restart-");
  for (let i = 0; i < 2; i++) replicas.push(await startReplica({ dataDir, databaseUrl, config: "operations:\n  concurrency: 1\n  lease: 1s\n" }));
}, 120_000);

afterAll(async () => {
  for (const r of replicas) await stopReplica(r);
  await pgServer?.destroy();
  await fs.rm(dataDir, { recursive: true, force: true });
});

async function readyz(r: Replica): Promise<number> {
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
    const gate = await gateOperation(a, path.join(dataDir, "registry"), "after-restart");
    const waited = b.ops.call("wait", { operationId: gate.op.id, timeout: { seconds: 60n } }, { deadlineMs: 70_000 }) as Promise<Operation>;
    await gate.release();
    expect((await waited).done).toBe(true);
  }, 120_000);

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
