// What a person at a terminal sees, on a pseudo-terminal made by `script`: tables, the confirmation before
// a delete, the progress line while an operation runs, and Ctrl-C asking to cancel or leave it running.
// Deletes are held at a real CNCF registry behind a gate, so each state lasts until the test moves on.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { inTerminal } from "./support/cli.js";
import { connectClient } from "./support/clients.js";
import { startDeleteGate, type DeleteGate } from "./support/delete-gate.js";
import { buildBaseLayout, makeTempDir, writeSyntheticImage } from "./support/images.js";
import { inspectRaw, pushImage, startRegistry, type RunningRegistry } from "./support/registry.js";
import { startServer, type ServerProcess } from "./support/server.js";

const cleanups: Array<() => Promise<unknown>> = [];
let server: ServerProcess;
let lab: RunningRegistry;
let gate: DeleteGate;
let env: Record<string, string>;
let images: ReturnType<typeof connectClient<typeof ImageService>>;
let operations: ReturnType<typeof connectClient<typeof OperationService>>;
const REPOS = ["first", "second", "third", "fourth", "fifth"];

/** The id of the one image in a repository of the lab registry. */
async function labImage(repo: string): Promise<string> {
  const res = await images.list({ repositoryName: `lab/${repo}` });
  expect(res.images).toHaveLength(1);
  return res.images[0].id;
}

const OPERATION_PROGRESS = /(op[a-z0-9]{20,}) Delete image lab\/\S+ \d+s/;

beforeAll(async () => {
  const work = await makeTempDir("regplane-cli-tty-");
  cleanups.push(() => fs.rm(work, { recursive: true, force: true }));
  const base = await buildBaseLayout(path.join(work, "umoci"));
  lab = await startRegistry();
  cleanups.push(() => lab.stop());
  for (const repo of REPOS) await pushImage(base.dir, "v1", lab.host, repo, "v1");
  gate = await startDeleteGate(lab);
  cleanups.push(() => gate.close());
  const layouts = path.join(work, "layouts");
  for (let i = 0; i < 3; i++) await writeSyntheticImage(path.join(layouts, "team/app"), { tag: `v${i}` });
  server = await startServer({
    config: [
      "server: {registryTimeout: 600s}",
      "operations: {concurrency: 1}",
      "registries:",
      `  - {id: local, provider: local, path: ${JSON.stringify(layouts)}}`,
      `  - {id: lab, provider: oci, endpoint: ${JSON.stringify(gate.proxy.url)}, insecure: true, listingCacheTtl: 0s}`,
      "",
    ].join("\n"),
  });
  cleanups.push(() => server.kill(), () => fs.rm(server.dataDir, { recursive: true, force: true }));
  env = { REGPLANE_ENDPOINT: server.httpUrl, XDG_CONFIG_HOME: path.join(work, "xdg") };
  images = connectClient(ImageService, server.httpUrl, "connect-binary");
  operations = connectClient(OperationService, server.httpUrl, "connect-binary");
}, 120_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe("on a terminal", { timeout: 240_000 }, () => {
  it("a list is a table", async () => {
    const term = inTerminal(["image", "list", "--registry", "local"], { env });
    const done = await term.exited;
    expect(done.code, done.stdout).toBe(0);
    const lines = done.stdout.replace(/\r/g, "").trim().split("\n");
    expect(lines[0]).toMatch(/^ID +NAME +TAGS +DIGEST +SIZE +CREATED$/);
    expect(lines.slice(1).filter((l) => /^i\w+ +local\/team\/app /.test(l))).toHaveLength(3);
  });

  it("delete asks first, and anything but y leaves the image alone", async () => {
    const id = await labImage("first");
    const term = inTerminal(["image", "delete", id], { env });
    await term.waitFor(new RegExp(`Delete image ${id} and all its tags\\? \\[y/N\\] `));
    term.type("n\r");
    const done = await term.exited;
    expect(done.code).toBe(1);
    expect(done.stdout).toContain("regplane: not confirmed: nothing changed (pass -y to skip this question)");
    expect((await images.get({ imageId: id })).id).toBe(id);
  });

  it("y deletes, with a progress line naming the operation while the registry holds the DELETE", async () => {
    const id = await labImage("second");
    const held = gate.hold();
    const term = inTerminal(["image", "delete", id], { env });
    await term.waitFor(/\[y\/N\] /);
    term.type("y\r");
    await held.arrived;
    const [, operationId] = OPERATION_PROGRESS.exec(await term.waitFor(OPERATION_PROGRESS))!;
    expect((await operations.get({ operationId })).done).toBe(false);
    held.release();
    const done = await term.exited;
    expect(done.code, done.stdout).toBe(0);
    expect(done.stdout).toMatch(new RegExp(`id +${operationId}\\r?\\n`));
    expect(done.stdout).toMatch(/status +done\r?\n/);
    await expect(inspectRaw(lab.host, "second:v1")).rejects.toThrow();
  });

  it("Ctrl-C while waiting asks; leave keeps the operation running and says how to follow it", async () => {
    const id = await labImage("third");
    const held = gate.hold();
    try {
      const term = inTerminal(["image", "delete", id, "-y"], { env });
      await held.arrived;
      const [, operationId] = OPERATION_PROGRESS.exec(await term.waitFor(OPERATION_PROGRESS))!;
      term.type("\x03");
      await term.waitFor(new RegExp(`Operation ${operationId} is still running\\. \\[c\\]ancel it or \\[l\\]eave it running\\? `));
      term.type("l\r");
      const done = await term.exited;
      expect(done.code).toBe(130);
      expect(done.stdout).toContain(`regplane: operation ${operationId} left running; follow it with: regplane operation wait ${operationId}`);
      expect((await operations.get({ operationId })).done).toBe(false);
      held.release();
      const finished = await operations.wait({ operationId, timeout: { seconds: 30n } });
      expect(finished.done && finished.result.case).toBe("response");
    } finally {
      held.release();
    }
  });

  it("Ctrl-C then c cancels the operation it was waiting for", async () => {
    const blocker = await labImage("fourth");
    const id = await labImage("fifth");
    const held = gate.hold();
    try {
      // The only worker is busy with the held delete, so the one the terminal waits for stays pending.
      const first = await images.delete({ imageId: blocker });
      await held.arrived;
      const term = inTerminal(["image", "delete", id, "-y"], { env });
      const [, operationId] = OPERATION_PROGRESS.exec(await term.waitFor(OPERATION_PROGRESS))!;
      term.type("\x03");
      await term.waitFor(/\[c\]ancel it or \[l\]eave it running\? /);
      term.type("c\r");
      const done = await term.exited;
      expect(done.code).toBe(130);
      expect(done.stdout).toContain(`regplane: asked to cancel operation ${operationId}`);
      expect(done.stdout).toMatch(/status +failed\r?\n/);
      const cancelled = await operations.get({ operationId });
      expect(cancelled.done && cancelled.result.case === "error" && cancelled.result.value.code).toBe(1);
      held.release();
      expect((await operations.wait({ operationId: first.id, timeout: { seconds: 30n } })).done).toBe(true);
      await expect(inspectRaw(lab.host, "fifth:v1")).resolves.toMatchObject({ size: expect.any(Number) });
    } finally {
      held.release();
    }
  });
});
