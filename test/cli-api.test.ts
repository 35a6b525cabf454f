// The `regplane` command line against a started server: two embedded registries with a few hundred
// images, a real CNCF registry behind a gate that holds deletes, and one registry that is down.
// Every verb in table, json, yaml and -q form; lists equal the API's own walk; errors and exit codes.
import * as fs from "node:fs/promises";
import * as net from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { spawn } from "node:child_process";
import { cliEnv, regplane, regplaneOnPath, spawnRegplane } from "./support/cli.js";
import { connectClient } from "./support/clients.js";
import { startDeleteGate, type DeleteGate } from "./support/delete-gate.js";
import { buildBaseLayout, copyToLayout, makeTempDir, run, writeSyntheticImage } from "./support/images.js";
import { inspectRaw, pushImage, startRegistry, type RunningRegistry } from "./support/registry.js";
import { startServer, type ServerProcess } from "./support/server.js";

const cleanups: Array<() => Promise<unknown>> = [];
let work: string;
let server: ServerProcess;
let lab: RunningRegistry;
let gate: DeleteGate;
let env: Record<string, string>;
let images: ReturnType<typeof connectClient<typeof ImageService>>;
let operations: ReturnType<typeof connectClient<typeof OperationService>>;
/** The embedded layouts' root per registry. */
const roots: Record<string, string> = {};
const PER_REPO = 30;
const REPOS = { alpha: ["team/a", "team/b", "team/c", "tools/x", "tools/y"], beta: ["lib/p", "lib/q", "lib/r", "zeta"] };

/** The API's own walk over every page, ids in order. */
async function apiWalk(req: Record<string, unknown>): Promise<Image[]> {
  const out: Image[] = [];
  let pageToken = "";
  do {
    const res = await images.list({ ...req, pageToken, pageSize: 100n });
    out.push(...res.images);
    pageToken = res.nextPageToken;
  } while (pageToken !== "");
  return out;
}

const cli = (args: string[], extra: Record<string, string> = {}) => regplane(args, { env: { ...env, ...extra } });

async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

beforeAll(async () => {
  work = await makeTempDir("regplane-cli-");
  cleanups.push(() => fs.rm(work, { recursive: true, force: true }));
  for (const [registry, repos] of Object.entries(REPOS)) {
    roots[registry] = path.join(work, registry);
    for (const repo of repos) {
      for (let i = 0; i < PER_REPO; i++) {
        await writeSyntheticImage(path.join(roots[registry], repo), { tag: `t${i}`, created: `2024-01-${String(1 + (i % 28)).padStart(2, "0")}T00:00:00Z` });
      }
    }
  }
  const base = await buildBaseLayout(path.join(work, "umoci"));
  await copyToLayout(base.dir, "v1", path.join(roots.alpha, "demo/app"), "v1");
  await copyToLayout(base.dir, "v2", path.join(roots.alpha, "demo/app"), "v2");
  lab = await startRegistry();
  cleanups.push(() => lab.stop());
  for (const tag of ["v1", "v2", "base"]) await pushImage(base.dir, tag, lab.host, "held/app", tag);
  gate = await startDeleteGate(lab);
  cleanups.push(() => gate.close());
  const entries = [
    `  - {id: alpha, provider: local, path: ${JSON.stringify(roots.alpha)}}`,
    `  - {id: beta, provider: local, path: ${JSON.stringify(roots.beta)}}`,
    `  - {id: lab, provider: oci, endpoint: ${JSON.stringify(gate.proxy.url)}, insecure: true, listingCacheTtl: 0s}`,
    `  - {id: gone, provider: oci, endpoint: "http://127.0.0.1:${await deadPort()}", insecure: true}`,
  ];
  server = await startServer({
    config: [
      "server: {registryTimeout: 600s}",
      "operations: {concurrency: 1}",
      "registries:",
      ...entries,
      "folders:",
      "  - {id: default, registries: [alpha, beta, lab]}",
      "  - {id: mixed, registries: [alpha, gone]}",
      "  - {id: down, registries: [gone]}",
      "",
    ].join("\n"),
  });
  cleanups.push(() => server.kill(), () => fs.rm(server.dataDir, { recursive: true, force: true }));
  env = { REGPLANE_ENDPOINT: server.httpUrl, XDG_CONFIG_HOME: path.join(work, "xdg") };
  images = connectClient(ImageService, server.httpUrl, "connect-binary");
  operations = connectClient(OperationService, server.httpUrl, "connect-binary");
}, 180_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe("regplane image list", { timeout: 240_000 }, () => {
  it("-o json holds every page's images in the API's order, across both registries", async () => {
    const walk = await apiWalk({ folderId: "default" });
    expect(walk.length).toBe(PER_REPO * 9 + 2 + 3);
    for (const pageSize of ["7", "100", "1000"]) {
      const res = await cli(["image", "list", "--folder", "default", "--page-size", pageSize, "-o", "json"]);
      expect(res.code, res.stderr).toBe(0);
      const doc = JSON.parse(res.stdout) as { images: Array<{ id: string; compressedSize: string }>; nextPageToken?: string };
      expect(doc.images.map((i) => i.id)).toEqual(walk.map((i) => i.id));
      expect(doc.nextPageToken).toBeUndefined();
      expect(doc.images[0].compressedSize).toBe(String(walk[0].compressedSize));
    }
  });

  it("-q prints ids only, yaml is the same document as json, and the table shows every image with readable sizes", async () => {
    const walk = await apiWalk({ registryId: "beta", orderBy: "created_at desc" });
    const scope = ["--registry", "beta", "--order-by", "created_at desc"];
    const quiet = await cli(["image", "list", ...scope, "-q"]);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toBe(walk.map((i) => `${i.id}\n`).join(""));
    const json = JSON.parse((await cli(["image", "list", ...scope, "-o", "json"])).stdout);
    expect(parseYaml((await cli(["image", "list", ...scope, "-o", "yaml"])).stdout)).toEqual(json);
    const table = await cli(["image", "list", ...scope, "--page-size", "50"]);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+NAME\s+TAGS\s+DIGEST\s+SIZE\s+CREATED$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(walk.map((i) => i.id));
    expect(lines[1]).toMatch(/ \d+(\.\d)? (B|KiB) +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });

  it("--limit stops early and prints a token that --page-token resumes from exactly", async () => {
    const walk = await apiWalk({ repositoryName: "alpha/team/b" });
    const first = JSON.parse((await cli(["image", "list", "--repository", "alpha/team/b", "--limit", "12", "--page-size", "5", "-o", "json"])).stdout);
    expect(first.images.map((i: { id: string }) => i.id)).toEqual(walk.slice(0, 12).map((i) => i.id));
    expect(first.nextPageToken).toMatch(/./);
    const rest = await cli(["image", "list", "--repository", "alpha/team/b", "--page-token", first.nextPageToken, "-q"]);
    expect(rest.stdout.trim().split("\n")).toEqual(walk.slice(12).map((i) => i.id));
    const table = await cli(["image", "list", "--repository", "alpha/team/b", "--limit", "3"]);
    expect(table.stdout.trim().split("\n")).toHaveLength(4);
    expect(table.stderr).toMatch(/more items: --page-token \S+/);
  });

  it("stops quietly when the reader of its output goes away (| head)", async () => {
    const bin = await regplaneOnPath(path.join(work, "bin"));
    const script = "regplane image list --folder default -o json | head -c 100 >/dev/null";
    const res = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn("bash", ["-o", "pipefail", "-c", script], { env: cliEnv({ ...env, PATH: `${bin}:${process.env.PATH}` }), stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      child.on("close", (code) => resolve({ code, stderr }));
    });
    expect(res).toEqual({ code: 0, stderr: "" });
  });

  it("--filter and --order-by reach the API", async () => {
    const res = await cli(["image", "list", "--registry", "alpha", "--filter", 'name="alpha/demo/app"', "--order-by", "digest desc", "-o", "json"]);
    const want = await apiWalk({ registryId: "alpha", filter: 'name="alpha/demo/app"', orderBy: "digest desc" });
    expect(want).toHaveLength(2);
    expect(JSON.parse(res.stdout).images.map((i: { id: string }) => i.id)).toEqual(want.map((i) => i.id));
  });

  it("names unreachable registries on stderr and still exits 0 when something was listed; 3 when nothing could be", async () => {
    const partial = await cli(["image", "list", "--folder", "mixed", "-q"]);
    expect(partial.code, partial.stderr).toBe(0);
    expect(partial.stdout.trim().split("\n")).toHaveLength((await apiWalk({ registryId: "alpha" })).length);
    expect(partial.stderr).toBe("regplane: partial results: unreachable registries: gone\n");
    const json = JSON.parse((await cli(["image", "list", "--folder", "mixed", "-o", "json"])).stdout);
    expect(json.unreachable).toEqual(["gone"]);
    const nothing = await cli(["image", "list", "--folder", "down"]);
    expect(nothing.code).toBe(3);
    expect(nothing.stdout).toBe("");
    expect(nothing.stderr).toMatch(/^regplane: nothing listed: every registry in scope is unreachable \(gone\)[^\n]*\n$/);
  });
});

describe("regplane image get and delete", { timeout: 240_000 }, () => {
  it("get in every form", async () => {
    const [img] = await apiWalk({ repositoryName: "alpha/demo/app", filter: "", orderBy: "name" });
    const table = await cli(["image", "get", img.id]);
    expect(table.stdout).toMatch(new RegExp(`^id +${img.id}\\n`));
    expect(table.stdout).toMatch(new RegExp(`\\ndigest +${img.digest}\\n`));
    expect(table.stdout).toMatch(/\nsize +\d+(\.\d)? (B|KiB)\n/);
    const json = JSON.parse((await cli(["image", "get", img.id, "-o", "json"])).stdout);
    expect(json).toMatchObject({ id: img.id, name: img.name, digest: img.digest, compressedSize: String(img.compressedSize) });
    expect(parseYaml((await cli(["image", "get", img.id, "-o", "yaml"])).stdout)).toEqual(json);
    expect((await cli(["image", "get", img.id, "-q"])).stdout).toBe(`${img.id}\n`);
  });

  it("delete waits until the image is gone from the layout (skopeo no longer reads the tag)", async () => {
    const layout = path.join(roots.alpha, "tools/y");
    await run("skopeo", ["inspect", `oci:${layout}:t3`]);
    const [img] = (await apiWalk({ repositoryName: "alpha/tools/y" })).filter((i) => i.tags.includes("t3"));
    const res = await cli(["image", "delete", img.id, "-o", "json"]);
    expect(res.code, res.stderr).toBe(0);
    const op = JSON.parse(res.stdout);
    expect(op).toMatchObject({ done: true, response: { "@type": "type.googleapis.com/google.protobuf.Empty" } });
    await expect(run("skopeo", ["inspect", `oci:${layout}:t3`])).rejects.toThrow();
    expect((await cli(["image", "get", img.id])).code).toBe(1);
  });

  it("--async returns the operation while the registry still holds the DELETE; operation wait then sees it done", async () => {
    const [img] = (await apiWalk({ repositoryName: "lab/held/app" })).filter((i) => i.tags.includes("v2"));
    const held = gate.hold();
    try {
      const res = await cli(["image", "delete", img.id, "--async", "-y", "-o", "json"]);
      expect(res.code, res.stderr).toBe(0);
      const op = JSON.parse(res.stdout);
      // The API's JSON leaves out a false "done".
      expect(op.done).toBeUndefined();
      await held.arrived;
      expect((await operations.get({ operationId: op.id })).done).toBe(false);

      const waiting = spawnRegplane(["operation", "wait", op.id, "-q"], { env });
      const got = JSON.parse((await cli(["operation", "get", op.id, "-o", "json"])).stdout);
      expect(got).toMatchObject({ id: op.id, description: op.description });
      expect(got.done).toBeUndefined();
      held.release();
      const waited = await waiting.exited;
      expect(waited.code, waited.stderr).toBe(0);
      expect(waited.stdout).toBe(`${op.id}\n`);
      await expect(inspectRaw(lab.host, "held/app:v2")).rejects.toThrow();
      const listed = await cli(["operation", "list", "--resource", img.id, "-q"]);
      expect(listed.stdout).toBe(`${op.id}\n`);
      const table = await cli(["operation", "get", op.id]);
      expect(table.stdout).toMatch(/\nstatus +done\n/);
    } finally {
      held.release();
    }
  });

  it("operation cancel ends a pending operation with CANCELLED and exits 1 (the operation failed)", async () => {
    const images = await apiWalk({ repositoryName: "lab/held/app" });
    const first = images.find((i) => i.tags.includes("v1"))!;
    const second = images.find((i) => i.tags.includes("base"))!;
    const held = gate.hold();
    try {
      const running = JSON.parse((await cli(["image", "delete", first.id, "--async", "-y", "-o", "json"])).stdout);
      await held.arrived;
      // One worker (operations.concurrency 1) is busy with the held delete, so this one stays pending.
      const pending = JSON.parse((await cli(["image", "delete", second.id, "--async", "-y", "-o", "json"])).stdout);
      const cancelled = await cli(["operation", "cancel", pending.id, "-o", "json"]);
      expect(cancelled.code).toBe(1);
      expect(JSON.parse(cancelled.stdout)).toMatchObject({ id: pending.id, done: true, error: { code: 1 } });
      expect(cancelled.stderr).toBe(`regplane: operation ${pending.id} failed: CANCELLED: the operation was cancelled\n`);
      held.release();
      expect((await cli(["operation", "wait", running.id, "-q"])).code).toBe(0);
    } finally {
      held.release();
    }
    await expect(inspectRaw(lab.host, "held/app:base")).resolves.toMatchObject({ size: expect.any(Number) });
  });

  it("operation list filters by --done and --running, every form", async () => {
    const all = await cli(["operation", "list", "-o", "json"]);
    const ops = JSON.parse(all.stdout).operations as Array<{ id: string; done: boolean }>;
    expect(ops.length).toBeGreaterThanOrEqual(4);
    const done = await cli(["operation", "list", "--done", "-q"]);
    expect(done.stdout.trim().split("\n").sort()).toEqual(ops.filter((o) => o.done).map((o) => o.id).sort());
    expect((await cli(["operation", "list", "--running", "-q"])).stdout).toBe("");
    expect(parseYaml((await cli(["operation", "list", "-o", "yaml"])).stdout)).toEqual(JSON.parse(all.stdout));
    const table = await cli(["operation", "list"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+DESCRIPTION\s+STATUS\s+CREATED BY\s+CREATED\s+MODIFIED$/);
    expect(await cli(["operation", "list", "--done", "--running"])).toMatchObject({ code: 2, stderr: "regplane: --done and --running exclude each other\n" });
  });
});

describe("regplane registry and namespace", { timeout: 240_000 }, () => {
  it("registry list and get in every form", async () => {
    const quiet = await cli(["registry", "list", "-q"]);
    expect(quiet.stdout).toBe("alpha\nbeta\ngone\nlab\n");
    const json = JSON.parse((await cli(["registry", "list", "--folder", "default", "-o", "json"])).stdout);
    expect(json.registries.map((r: { id: string; provider: string }) => [r.id, r.provider])).toEqual([["alpha", "local"], ["beta", "local"], ["lab", "oci"]]);
    expect(parseYaml((await cli(["registry", "list", "--folder", "default", "-o", "yaml"])).stdout)).toEqual(json);
    expect((await cli(["registry", "list"])).stdout).toMatch(/^ID +NAME +FOLDER +PROVIDER +LOCATION +STATUS +ENDPOINT\nalpha +/);
    const get = await cli(["registry", "get", "lab"]);
    expect(get.stdout).toMatch(/^id +lab\n/);
    expect(get.stdout).toMatch(/\nprovider +oci\n/);
    expect(JSON.parse((await cli(["registry", "get", "lab", "-o", "json"])).stdout)).toMatchObject({ id: "lab", provider: "oci" });
  });

  it("namespace create, list, get and delete, each waiting for its operation", async () => {
    const created = await cli(["namespace", "create", "scratch", "--registry", "beta", "--description", "made by the cli"]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/\nstatus +done\n/);
    await fs.access(path.join(roots.beta, "scratch"));
    const listed = await cli(["namespace", "list", "--registry", "beta", "-q"]);
    expect(listed.stdout.split("\n")).toContain("beta/scratch");
    const json = JSON.parse((await cli(["namespace", "get", "beta/scratch", "-o", "json"])).stdout);
    expect(json).toMatchObject({ id: "beta/scratch", registryId: "beta", name: "scratch" });
    expect(parseYaml((await cli(["namespace", "get", "beta/scratch", "-o", "yaml"])).stdout)).toEqual(json);
    expect((await cli(["namespace", "list", "--registry", "beta"])).stdout).toMatch(/^ID +REGISTRY +NAME +IMAGES +SIZE/);
    const deleted = await cli(["namespace", "delete", "beta/scratch", "-q"]);
    expect(deleted.code, deleted.stderr).toBe(0);
    await expect(fs.access(path.join(roots.beta, "scratch"))).rejects.toThrow();
    expect((await cli(["namespace", "get", "beta/scratch"])).code).toBe(1);
  });
});

describe("errors and exit codes", { timeout: 240_000 }, () => {
  it("a bad flag or missing argument is exit 2 with one line, and nothing is sent", async () => {
    for (const args of [["image", "list", "--page-size", "0"], ["image", "list", "--bogus"], ["image", "get"], ["image", "list", "-o", "xml"], ["nosuch"]]) {
      const res = await cli(args);
      expect(res.code, args.join(" ")).toBe(2);
      expect(res.stdout).toBe("");
      expect(res.stderr).toMatch(/^regplane: [^\n]+\n$/);
    }
  });

  it("an unknown id is exit 1 naming the status code", async () => {
    const res = await cli(["image", "get", "inosuchimage"]);
    expect(res).toMatchObject({ code: 1, stdout: "" });
    expect(res.stderr).toMatch(/^regplane: NOT_FOUND: [^\n]+\n$/);
    const op = await cli(["operation", "wait", "opnosuch"]);
    expect(op.code).toBe(1);
    expect(op.stderr).toMatch(/^regplane: NOT_FOUND: /);
  });

  it("an invalid argument the server rejects names the field", async () => {
    const res = await cli(["image", "list", "--order-by", "size"]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^regplane: INVALID_ARGUMENT: [^\n]*order_by[^\n]*\n$/);
  });

  it("an unreachable server is exit 1 saying where it looked and what to do", async () => {
    const res = await cli(["image", "list"], { REGPLANE_ENDPOINT: `http://127.0.0.1:${await deadPort()}` });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^regplane: cannot reach regplane at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); is it running\? [^\n]*--endpoint[^\n]*\n$/);
  });

  it("--help for every noun and verb has usage and an example; --version prints the package version", async () => {
    const pkg = JSON.parse(await fs.readFile(path.join(import.meta.dirname, "../package.json"), "utf8"));
    expect(await cli(["--version"])).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const verbs: Record<string, string[]> = {
      image: ["list", "get", "delete"],
      operation: ["list", "get", "wait", "cancel"],
      registry: ["list", "get", "create", "update", "delete"],
      namespace: ["list", "get", "create", "update", "delete"],
      config: ["set", "use"],
    };
    for (const [noun, list] of Object.entries(verbs)) {
      const nounHelp = await cli([noun, "--help"]);
      expect(nounHelp.code).toBe(0);
      for (const verb of list) {
        expect(nounHelp.stdout).toContain(verb);
        const help = await cli([noun, verb, "--help"]);
        expect(help.code).toBe(0);
        expect(help.stdout).toMatch(new RegExp(`^Usage: regplane ${noun}`));
        expect(help.stdout).toMatch(new RegExp(`Examples:\\n  \\$ regplane ${noun} ${verb}`));
      }
    }
  });
});
