// Three replicas on one PostgreSQL and one data dir, serving the embedded registry and a real CNCF
// registry: 300 deletes spread over them with duplicates and idempotency keys, one replica killed
// with -9 in the middle; every accepted operation finishes once, and every remaining image is whole.
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import type { Operation } from "../src/gen/regplane/v1/operation_pb.js";
import { ageBlobs, blobFile, buildBaseLayout, copyToLayout, deriveImage, gcLayout, listBlobs, makeTempDir, readBlobJson, readIndexJson, REF_NAME, run, skopeoInspect } from "./support/images.js";
import { startGateRegistry, type GateRegistry } from "./support/delete-gate.js";
import { startPostgres, type PostgresServer } from "./support/postgres.js";
import { pushImage, startRegistry, type RunningRegistry } from "./support/registry.js";
import { alive, gateOperation, runningCount, startReplica, stopReplica, until, type Gate, type Replica } from "./support/replicas.js";
import { tempDir } from "./support/server.js";

const TAGS = ["base", "v1", "v2", "v3"] as const;
type Tag = (typeof TAGS)[number];
const LOCAL_REPOS = Array.from({ length: 8 }, (_, i) => `shared/r${i}`);
const CNCF_REPOS = Array.from({ length: 4 }, (_, i) => `cncf/r${i}`);

let pgServer: PostgresServer;
let registry: RunningRegistry;
let gateRegistry: GateRegistry;
let dataDir: string;
let work: string;
let built: string;
const digests = {} as Record<Tag, string>;
const replicas: Replica[] = [];

beforeAll(async () => {
  pgServer = await startPostgres();
  registry = await startRegistry();
  gateRegistry = await startGateRegistry();
  dataDir = tempDir("regplane-replicas-deletes-");
  work = await makeTempDir();
  const base = await buildBaseLayout(path.join(work, "built"));
  await deriveImage(base.dir, "v1", "v3");
  await gcLayout(base.dir);
  built = base.dir;
  for (const repo of LOCAL_REPOS) {
    for (const tag of TAGS) digests[tag] = await copyToLayout(built, tag, path.join(dataDir, "registry", repo), tag);
    // Seeded long before the deletes: past the collection grace period, so what they free is collected.
    await ageBlobs(path.join(dataDir, "registry", repo));
  }
  for (const repo of CNCF_REPOS) for (const tag of TAGS) await pushImage(built, tag, registry.host, repo, tag);
  const databaseUrl = await pgServer.createDatabase();
  const config = [
    "operations:\n  concurrency: 1\n  lease: 1s",
    "registries:",
    "  - {id: local, provider: local}",
    `  - {id: cncf, provider: oci, endpoint: ${JSON.stringify(registry.url)}, insecure: true, listingCacheTtl: 0s}`,
    gateRegistry.configEntry,
    "",
  ].join("\n");
  for (let i = 0; i < 3; i++) replicas.push(await startReplica({ dataDir, databaseUrl, config }));
}, 240_000);

afterAll(async () => {
  for (const r of replicas) await stopReplica(r);
  await registry?.stop();
  await gateRegistry?.close();
  await pgServer?.destroy();
  await fs.rm(dataDir, { recursive: true, force: true });
  await fs.rm(work, { recursive: true, force: true });
});

type Manifest = { config: { digest: string }; layers: Array<{ digest: string }> };

/** index.json, every blob it reaches and nothing else; umoci and skopeo read what remains. */
async function expectLayoutWhole(dir: string, present: Tag[]): Promise<void> {
  const index = await readIndexJson(dir);
  const reachable = new Set<string>();
  const tags: string[] = [];
  for (const m of index.manifests) {
    reachable.add(m.digest);
    const manifest = await readBlobJson<Manifest>(dir, m.digest);
    for (const b of [manifest.config, ...manifest.layers]) {
      reachable.add(b.digest);
      expect(existsSync(blobFile(dir, b.digest)), `${dir}: blob ${b.digest} missing`).toBe(true);
    }
    tags.push(m.annotations?.[REF_NAME] ?? "");
  }
  expect(await listBlobs(dir), `${dir}: orphaned blobs`).toEqual([...reachable].sort());
  expect(tags.sort()).toEqual([...present].sort());
  for (const tag of present) {
    expect((await skopeoInspect(dir, tag)).Digest).toBe(digests[tag]);
    await run("umoci", ["stat", "--image", `${dir}:${tag}`]);
  }
}

describe("three replicas, 300 deletes, one killed", () => {
  it("one operation per image and per key; the survivors finish every accepted one; what remains is whole", async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const targets: Array<{ imageId: string; where: string; tag: Tag }> = [];
    const kept = new Map<string, Tag>();
    for (const [i, repo] of [...LOCAL_REPOS.map((r) => `local/${r}`), ...CNCF_REPOS.map((r) => `cncf/${r}`)].entries()) {
      const res = (await a.images.call("list", { repositoryName: repo, pageSize: 1000n })) as { images: Image[] };
      kept.set(repo, TAGS[i % 4]!);
      for (const tag of TAGS) {
        if (tag === TAGS[i % 4]) continue;
        const image = res.images.find((im) => im.digest === digests[tag]);
        expect(image, `${repo}:${tag} listed`).toBeDefined();
        targets.push({ imageId: image!.id, where: repo, tag });
      }
    }

    // One gate per replica holds every worker (concurrency 1), so all 300 requests meet unfinished operations.
    const gates: Gate[] = [];
    for (const [i, r] of replicas.entries()) gates.push(await gateOperation(r, gateRegistry, `gate${i}`));
    await until(async () => (await runningCount(a.server)) === 3);

    const send = async (j: number, via: Replica) => {
      const target = targets[(j * 7) % targets.length]!;
      const round = Math.floor(j / targets.length);
      const key = round % 2 === 0 ? `key-${target.imageId}-${round % 4 === 0 ? "a" : "b"}` : undefined;
      const op = (await via.images.call("delete", { imageId: target.imageId }, { metadata: key ? { "idempotency-key": key } : {} })) as Operation;
      return { target, key, op };
    };
    // The first half over all three replicas; then C dies with -9, holding a running operation; the rest go to A and B.
    const first = await Promise.all(Array.from({ length: 150 }, (_, j) => send(j, replicas[j % 3]!)));
    await c.server.kill();
    const second = await Promise.all(Array.from({ length: 150 }, (_, j) => send(150 + j, j % 2 === 0 ? a : b)));
    const answers = [...first, ...second];

    const byImage = new Map<string, Set<string>>();
    const byKey = new Map<string, Set<string>>();
    for (const x of answers) {
      byImage.set(x.target.imageId, (byImage.get(x.target.imageId) ?? new Set()).add(x.op.id));
      if (x.key) byKey.set(x.key, (byKey.get(x.key) ?? new Set()).add(x.op.id));
    }
    expect(byImage.size).toBe(targets.length);
    for (const [image, ids] of byImage) expect([...ids], `operations for ${image}`).toHaveLength(1);
    for (const [key, ids] of byKey) expect([...ids], `operations for key ${key}`).toHaveLength(1);

    // C's held DELETE died with it; a survivor takes its gate over after the lease and sends it again.
    for (const g of gates) await g.release();
    for (const ids of byImage.values()) {
      const done = (await a.ops.call("wait", { operationId: [...ids][0]!, timeout: { seconds: 60n } }, { deadlineMs: 70_000 })) as Operation;
      expect(done.done).toBe(true);
      expect(done.result.case, `operation ${done.id}`).toBe("response");
    }
    expect(alive(c)).toBe(false);

    for (const repo of LOCAL_REPOS) await expectLayoutWhole(path.join(dataDir, "registry", repo), [kept.get(`local/${repo}`)!]);
    for (const repo of CNCF_REPOS) {
      const keep = kept.get(`cncf/${repo}`)!;
      const inspected = JSON.parse(await run("skopeo", ["inspect", "--tls-verify=false", `docker://${registry.host}/${repo}:${keep}`])) as { Digest: string };
      expect(inspected.Digest).toBe(digests[keep]);
      await fs.mkdir(path.join(work, "check", "cncf"), { recursive: true });
      await run("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${registry.host}/${repo}:${keep}`, `oci:${path.join(work, "check", repo)}:${keep}`]);
      await run("umoci", ["stat", "--image", `${path.join(work, "check", repo)}:${keep}`]);
      for (const tag of TAGS.filter((t) => t !== keep)) {
        await expect(run("skopeo", ["inspect", "--tls-verify=false", `docker://${registry.host}/${repo}@${digests[tag]}`])).rejects.toThrow();
      }
    }
  }, 600_000);
});
