// The state store on a disk that is really full (a 4 MiB tmpfs holding the data directory, filled to the
// last byte): Create, Delete and List answer the one documented status — UNAVAILABLE with ErrorInfo
// STATE_STORE_UNAVAILABLE and RetryInfo — on both ports, the cause is logged, and once space is freed
// the same calls succeed.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { NamespaceService } from "../src/gen/regplane/v1/namespace_service_pb.js";
import { callAt, PORTS, type Outcome } from "./support/edge-call.js";
import { tempDir, startServer, type ServerProcess } from "./support/server.js";
import { writeSyntheticImage } from "./support/images.js";

const UNAVAILABLE = 14;
let mount: string;
let server: ServerProcess;
let imageId = "";
const filler = () => path.join(mount, "filler");

/** Writes until the file system refuses another byte. */
function fillDisk(): void {
  const fd = fs.openSync(filler(), "a");
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try {
          fs.writeSync(fd, chunk);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
          break;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

function expectStoreUnavailable(out: Outcome, what: string): void {
  expect(out.code, `${what}: ${out.message}`).toBe(UNAVAILABLE);
  expect(out.reason, what).toBe("STATE_STORE_UNAVAILABLE");
  expect(out.retryDelayMs, what).toBeGreaterThan(0);
  // The cause (SQLite's words, file paths) is for the log only.
  expect(out.message).not.toMatch(/SQLITE|disk|regplane\.db/i);
}

beforeAll(async () => {
  mount = tempDir("regplane-full-");
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mount]);
  const dataDir = path.join(mount, "data");
  await writeSyntheticImage(path.join(dataDir, "registry", "team/app"), { tag: "v1" });
  // Not listed before the disk fills: listing it then must write its id to the store.
  await writeSyntheticImage(path.join(dataDir, "registry", "team/unseen"), { tag: "v1" });
  server = await startServer({ dataDir });
  const listed = await callAt(server, "grpc", ImageService, "list", { repositoryName: "local/team/app" });
  expect(listed.code, listed.message).toBe(0);
  imageId = listed.res.images[0].id;
}, 60_000);

afterAll(async () => {
  if (server) await server.stop();
  if (mount) execFileSync("umount", [mount]);
  fs.rmSync(mount, { recursive: true, force: true });
});

describe("a full disk under the state store", () => {
  it("answers Create, Delete and List with STATE_STORE_UNAVAILABLE and RetryInfo on both ports, and logs the cause", async () => {
    fillDisk();
    expect(() => fs.appendFileSync(filler(), "x")).toThrow(/ENOSPC/);
    for (const port of PORTS) {
      expectStoreUnavailable(await callAt(server, port, NamespaceService, "create", { registryId: "local", name: `full-${port}` }), `${port} NamespaceService.Create`);
      expectStoreUnavailable(await callAt(server, port, ImageService, "delete", { imageId }), `${port} ImageService.Delete`);
      expectStoreUnavailable(await callAt(server, port, ImageService, "list", {}), `${port} ImageService.List`);
    }
    const logged = server.logs.filter((l) => l.msg === "state store failed");
    expect(logged.map((l) => l.method)).toEqual(expect.arrayContaining(["createOperation", "recordImageIds"]));
    expect(JSON.stringify(logged)).toMatch(/SQLITE_FULL|disk is full/);
  });

  it("serves the same calls again once space is freed", async () => {
    fs.rmSync(filler());
    for (const port of PORTS) {
      const created = await callAt(server, port, NamespaceService, "create", { registryId: "local", name: `freed-${port}` });
      expect(created.code, created.message).toBe(0);
      const listed = await callAt(server, port, ImageService, "list", {});
      expect(listed.code, listed.message).toBe(0);
    }
  });
});
