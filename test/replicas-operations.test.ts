// Several regplane processes on one PostgreSQL and one data dir: operations started on one replica
// are waited on, cancelled and taken over on others; page tokens and image ids work on every replica.
import { constants as fsConstants } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { NamespaceService } from "../src/gen/regplane/v1/namespace_service_pb.js";
import type { Operation } from "../src/gen/regplane/v1/operation_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { GrpcClient } from "./support/clients.js";
import { buildBaseLayout, copyToLayout, makeTempDir, run } from "./support/images.js";
import { startPostgres, type PostgresServer } from "./support/postgres.js";
import { startServer, tempDir, type ServerProcess } from "./support/server.js";

/** Repeats a check until it holds; the test's own timeout bounds it, not a wall-clock margin here. */
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await sleep(10);
}

async function runningCount(s: ServerProcess): Promise<number> {
  const text = await (await fetch(`${s.httpUrl}/metrics`)).text();
  const m = /^regplane_operations\{state="running"\}\s+(\S+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

const alive = (r: Replica): boolean => r.server.child.exitCode === null && r.server.child.signalCode === null;

interface Replica {
  server: ServerProcess;
  images: GrpcClient;
  ops: GrpcClient;
  namespaces: GrpcClient;
}

const CONFIG = "operations:\n  concurrency: 1\n  lease: 1s\n";

let pgServer: PostgresServer;
let databaseUrl: string;
let dataDir: string;
let work: string;
const replicas: Replica[] = [];

async function startReplica(): Promise<Replica> {
  const server = await startServer({
    dataDir,
    config: CONFIG,
    env: { REGPLANE_STATE_DRIVER: "postgres", REGPLANE_DATABASE_URL: databaseUrl },
  });
  const replica = {
    server,
    images: new GrpcClient(ImageService, server.grpcAddress),
    ops: new GrpcClient(OperationService, server.grpcAddress),
    namespaces: new GrpcClient(NamespaceService, server.grpcAddress),
  };
  replicas.push(replica);
  return replica;
}

/** A namespace update that blocks reading a FIFO until released: an operation that stays running. */
async function gateOperation(on: Replica, name: string): Promise<{ op: Operation; release(options?: { removeNamespace?: boolean }): Promise<void> }> {
  const dir = path.join(dataDir, "registry", name);
  await fs.mkdir(dir, { recursive: true });
  const fifo = path.join(dir, ".regplane-namespace.json");
  await run("mkfifo", [fifo]);
  const op = (await on.namespaces.call("update", { namespaceId: `local/${name}`, description: "held", updateMask: { paths: ["description"] } })) as Operation;
  return {
    op,
    /** Unblocks the handler; with `removeNamespace` its directory is gone first, so the handler's next step fails. */
    async release(options: { removeNamespace?: boolean } = {}) {
      let handle: fs.FileHandle | undefined;
      // Opening for writing without blocking fails (ENXIO) until some replica has it open for reading.
      await until(async () => {
        try {
          handle = await fs.open(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
          return true;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENXIO") return false;
          throw err;
        }
      });
      if (options.removeNamespace) await fs.rm(dir, { recursive: true, force: true });
      await handle!.writeFile(JSON.stringify({ description: "held" }));
      await handle!.close();
    },
  };
}

beforeAll(async () => {
  pgServer = await startPostgres();
  databaseUrl = await pgServer.createDatabase();
  dataDir = tempDir("regplane-replicas-");
  work = await makeTempDir();
  const built = await buildBaseLayout(path.join(work, "built"));
  for (const repo of ["alpha", "beta", "gamma", "delta"]) {
    for (const tag of ["base", "v1", "v2"]) await copyToLayout(built.dir, tag, path.join(dataDir, "registry", "team", repo), tag);
  }
}, 120_000);

afterAll(async () => {
  for (const r of replicas) {
    r.images.close();
    r.ops.close();
    r.namespaces.close();
    await r.server.kill();
  }
  await pgServer?.destroy();
  await fs.rm(dataDir, { recursive: true, force: true });
  await fs.rm(work, { recursive: true, force: true });
});

describe("replicas on one PostgreSQL", () => {
  it("Wait on C for an operation running on A returns once Cancel sent to B has ended it", async () => {
    // Only A runs at first, so the operation is A's; B and C join once it is running.
    const a = await startReplica();
    const gate = await gateOperation(a, "held-cancel");
    await until(async () => (await runningCount(a.server)) === 1);
    const b = await startReplica();
    const c = await startReplica();

    const waited = c.ops.call("wait", { operationId: gate.op.id, timeout: { seconds: 60n } }, { deadlineMs: 70_000 }) as Promise<Operation>;
    const cancelled = (await b.ops.call("cancel", { operationId: gate.op.id })) as Operation;
    expect(cancelled.id).toBe(gate.op.id);
    await until(async () => a.server.logs.some((l) => l.msg === "operation asked to stop" && l.operationId === gate.op.id && l.reason === "cancelled"));
    // The handler on A is blocked reading the FIFO; its next step now fails, and a worker that knows
    // of the cancel records CANCELLED rather than that failure.
    await gate.release({ removeNamespace: true });
    const done = await waited;
    expect(done.done).toBe(true);
    expect(done.result.case).toBe("error");
    if (done.result.case === "error") expect(done.result.value.code).toBe(grpc.status.CANCELLED);
  }, 120_000);

  it("kill -9 of the replica running an operation: another takes it over after the lease and finishes it", async () => {
    const [a] = replicas;
    await until(async () => (await runningCount(a!.server)) === 0);
    // Any replica may claim it: find the one that did from the lease owner ("host:pid:random").
    const gate = await gateOperation(a!, "held-kill");
    await until(async () => (await runningCount(a!.server)) === 1);
    const owner = await ownerOf(gate.op.id);
    const victim = replicas.find((r) => String(r.server.child.pid) === owner.split(":")[1])!;
    expect(victim).toBeDefined();
    await victim.server.kill();
    const survivor = replicas.find((r) => r !== victim && alive(r))!;
    await gate.release();
    const done = (await survivor.ops.call("wait", { operationId: gate.op.id, timeout: { seconds: 60n } }, { deadlineMs: 70_000 })) as Operation;
    expect(done.done).toBe(true);
    expect(done.result.case).toBe("response");
    expect(await ownerOf(gate.op.id, true)).toBe("");
  }, 120_000);

  it("a page-token walk alternating replicas returns exactly a one-replica walk, and every image id resolves anywhere", async () => {
    const live = replicas.filter((r) => alive(r));
    expect(live.length).toBeGreaterThanOrEqual(2);
    // A replica that starts now reads the signing key the first one put in the store.
    live.push(await startReplica());
    type Page = { images: Array<{ id: string; name: string; digest: string }>; nextPageToken: string };
    const walk = async (pick: (page: number) => Replica, orderBy: string): Promise<string[]> => {
      const seen: string[] = [];
      let token = "";
      for (let page = 0; ; page++) {
        const res = (await pick(page).images.call("list", { pageSize: 2n, pageToken: token, orderBy })) as Page;
        seen.push(...res.images.map((i) => `${i.id} ${i.name}@${i.digest}`));
        token = res.nextPageToken;
        if (token === "") return seen;
      }
    };
    for (const orderBy of ["", "name"]) {
      const single = await walk(() => live[0]!, orderBy);
      expect(single).toHaveLength(12);
      expect(await walk((page) => live[page % live.length]!, orderBy)).toEqual(single);
    }
    // Ids a List on one replica hands out are resolved by the others.
    const listed = (await live[0]!.images.call("list", { pageSize: 100n })) as Page;
    for (const [i, image] of listed.images.entries()) {
      const got = (await live[1 + (i % (live.length - 1))]!.images.call("get", { imageId: image.id })) as Page["images"][number];
      expect(`${got.name}@${got.digest}`).toBe(`${image.name}@${image.digest}`);
    }
  }, 120_000);
});

/** The lease owner ("host:pid:random") the store records for an operation. */
async function ownerOf(operationId: string, allowNone = false): Promise<string> {
  const pg = (await import("pg")).default;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ lease_owner: string | null }>("SELECT lease_owner FROM operations WHERE id = $1", [operationId]);
    const owner = rows[0]?.lease_owner ?? "";
    if (!allowNone) expect(owner).not.toBe("");
    return owner;
  } finally {
    await client.end();
  }
}
