// Several regplane processes on one PostgreSQL and one data dir: operations started on one replica
// are waited on, cancelled and taken over on others; page tokens, image and repository ids work on every replica.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Operation } from "../src/gen/regplane/v1/operation_pb.js";
import type { Repository } from "../src/gen/regplane/v1/repository_pb.js";
import { RepositoryService } from "../src/gen/regplane/v1/repository_service_pb.js";
import { GrpcClient } from "./support/clients.js";
import { startGateRegistry, type GateRegistry } from "./support/delete-gate.js";
import { buildBaseLayout, copyToLayout, makeTempDir } from "./support/images.js";
import { startPostgres, type PostgresServer } from "./support/postgres.js";
import { alive, gateOperation, runningCount, startReplica, stopReplica, until, type Gate, type Replica } from "./support/replicas.js";
import { tempDir } from "./support/server.js";

let pgServer: PostgresServer;
let databaseUrl: string;
let dataDir: string;
let work: string;
let gateRegistry: GateRegistry;
let config: string;
const replicas: Replica[] = [];

async function startOne(): Promise<Replica> {
  const replica = await startReplica({ dataDir, databaseUrl, config });
  replicas.push(replica);
  return replica;
}

const holdOn = (on: Replica, name: string): Promise<Gate> => gateOperation(on, gateRegistry, name);

beforeAll(async () => {
  pgServer = await startPostgres();
  databaseUrl = await pgServer.createDatabase();
  gateRegistry = await startGateRegistry();
  config = `operations:\n  concurrency: 1\n  lease: 1s\nregistries:\n  - {id: local, provider: local}\n${gateRegistry.configEntry}\n`;
  dataDir = tempDir("regplane-replicas-");
  work = await makeTempDir();
  const built = await buildBaseLayout(path.join(work, "built"));
  for (const repo of ["alpha", "beta", "gamma", "delta"]) {
    for (const tag of ["base", "v1", "v2"]) await copyToLayout(built.dir, tag, path.join(dataDir, "registry", "team", repo), tag);
  }
}, 120_000);

afterAll(async () => {
  for (const r of replicas) await stopReplica(r);
  await gateRegistry?.close();
  await pgServer?.destroy();
  await fs.rm(dataDir, { recursive: true, force: true });
  await fs.rm(work, { recursive: true, force: true });
});

describe("replicas on one PostgreSQL", () => {
  it("Wait on C for an operation running on A returns once Cancel sent to B has ended it", async () => {
    // Only A runs at first, so the operation is A's; B and C join once it is running.
    const a = await startOne();
    const gate = await holdOn(a, "held-cancel");
    await until(async () => (await runningCount(a.server)) === 1);
    const b = await startOne();
    const c = await startOne();

    // C's channel is connected first, so its Wait is in progress well before the operation can finish.
    expect(((await c.ops.call("get", { operationId: gate.op.id })) as Operation).done).toBe(false);
    const waited = c.ops.call("wait", { operationId: gate.op.id, timeout: { seconds: 60n } }, { deadlineMs: 70_000 }) as Promise<Operation>;
    const cancelled = (await b.ops.call("cancel", { operationId: gate.op.id })) as Operation;
    expect(cancelled.id).toBe(gate.op.id);
    await until(async () => a.server.logs.some((l) => l.msg === "operation asked to stop" && l.operationId === gate.op.id && l.reason === "cancelled"));
    // The handler on A is waiting on its DELETE; the registry now refuses it for good (the image stays),
    // and a worker that knows of the cancel records CANCELLED rather than that failure.
    await gate.release({ fail: true });
    // Without a wake-up C would answer only when its 60 s timeout ends (with a last re-read); half of
    // that separates "woken" from "timed out" whatever the machine's speed.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timed out">((resolve) => (timer = setTimeout(() => resolve("timed out"), 30_000)));
    const done = await Promise.race([waited, timedOut]);
    clearTimeout(timer);
    expect(done, "Wait on C woken by the finish on A").not.toBe("timed out");
    if (done === "timed out") return;
    expect(done.done).toBe(true);
    expect(done.result.case).toBe("error");
    if (done.result.case === "error") expect(done.result.value.code).toBe(grpc.status.CANCELLED);
  }, 120_000);

  it("kill -9 of the replica running an operation: another takes it over after the lease and finishes it", async () => {
    const [a] = replicas;
    await until(async () => (await runningCount(a!.server)) === 0);
    // Any replica may claim it: find the one that did from the lease owner ("host:pid:random").
    const gate = await holdOn(a!, "held-kill");
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
    live.push(await startOne());
    // The walk stays on the local registry: the gate registry holds the images the gates left.
    type Page = { images: Array<{ id: string; name: string; digest: string }>; nextPageToken: string };
    const walk = async (pick: (page: number) => Replica, orderBy: string): Promise<string[]> => {
      const seen: string[] = [];
      let token = "";
      for (let page = 0; ; page++) {
        const res = (await pick(page).images.call("list", { registryId: "local", pageSize: 2n, pageToken: token, orderBy })) as Page;
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
    const listed = (await live[0]!.images.call("list", { registryId: "local", pageSize: 100n })) as Page;
    for (const [i, image] of listed.images.entries()) {
      const got = (await live[1 + (i % (live.length - 1))]!.images.call("get", { imageId: image.id })) as Page["images"][number];
      expect(`${got.name}@${got.digest}`).toBe(`${image.name}@${image.digest}`);
    }
  }, 120_000);

  it("a repository id one replica hands out is resolved by the others", async () => {
    const live = replicas.filter((r) => alive(r));
    expect(live.length).toBeGreaterThanOrEqual(2);
    const clients = live.map((r) => new GrpcClient(RepositoryService, r.server.grpcAddress));
    try {
      const listed = (await clients[0]!.call("list", { registryId: "local", pageSize: 100n })).repositories as Repository[];
      expect(listed.map((r) => r.name)).toEqual(["local/team/alpha", "local/team/beta", "local/team/delta", "local/team/gamma"]);
      for (const [i, repository] of listed.entries()) {
        expect(await clients[1 + (i % (clients.length - 1))]!.call("get", { repositoryId: repository.id })).toEqual(repository);
      }
    } finally {
      for (const c of clients) c.close();
    }
  });
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
