import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Code } from "../src/core/errors.js";
import { OperationEngine } from "../src/core/operations.js";
import { openSqliteStore } from "../src/store/sqlite.js";
import { any } from "./support/store-contract.js";

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "..");
const MAIN = path.join(ROOT, "src/main.ts");
const tempDir = () => mkdtempSync(path.join(tmpdir(), "regplane-shutdown-"));

/** Starts regplane with stdout piped, resolving once it logged "regplane serving" (read line by line until then). */
async function startServing(): Promise<{ child: ChildProcess; httpPort: number; exited: Promise<number | null> }> {
  const dir = tempDir();
  const file = path.join(dir, "regplane.yaml");
  writeFileSync(file, "server: {shutdownGrace: 2s}\n");
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "--data-dir", dir, "--config", file, "--grpc-port", "0", "--http-port", "0"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! });
  const httpPort = await new Promise<number>((resolve, reject) => {
    lines.on("line", (line) => {
      const entry = JSON.parse(line) as { msg: string; http?: string };
      if (entry.msg === "regplane serving") resolve(Number(entry.http!.split(":").pop()));
    });
    void exited.then((code) => reject(new Error(`exited with ${code} before serving`)));
  });
  lines.removeAllListeners("line");
  lines.pause();
  return { child, httpPort, exited };
}

/** Calls that each write a log line. */
async function listCalls(httpPort: number, n: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const res = await fetch(`http://127.0.0.1:${httpPort}/regplane.v1.ImageService/List`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    await res.text();
    if (res.ok) ok++;
  }
  return ok;
}

describe("shutdown", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("ends on SIGTERM with exit 0 while stdout is full and nobody reads it", async () => {
    const { child, httpPort, exited } = await startServing();
    child.stdout!.pause();
    // Far more log lines than the pipe and the paused reader hold, so writes to stdout no longer complete.
    expect(await listCalls(httpPort, 2000)).toBe(2000);
    child.kill("SIGTERM");
    const code = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve("still running"), 90_000))]);
    if (code === "still running") child.kill("SIGKILL");
    expect(code).toBe(0);
  }, 120_000);

  it("ends on SIGTERM with exit 0 when stdout was closed", async () => {
    const { child, httpPort, exited } = await startServing();
    child.stdout!.destroy();
    expect(await listCalls(httpPort, 50)).toBe(50);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  }, 60_000);

  it("waits for an operation handler it asked to stop before it is done", async () => {
    const store = openSqliteStore(":memory:");
    const engine = new OperationEngine({
      store,
      leaseMs: 60_000,
      encodeError: (err) => ({ code: Code.UNKNOWN, message: String(err), details: [] }),
      cancelledStatus: () => ({ code: Code.CANCELLED, message: "cancelled", details: [] }),
    });
    const events: string[] = [];
    let started!: () => void;
    const handlerStarted = new Promise<void>((resolve) => (started = resolve));
    let letGo!: () => void;
    const handlerMayEnd = new Promise<void>((resolve) => (letGo = resolve));
    engine.register("test.work", async (_params, ctx) => {
      started();
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      events.push("asked to stop");
      await handlerMayEnd;
      events.push("handler ended");
      throw ctx.signal.reason;
    });
    engine.start();
    const request = {
      kind: "test.work",
      resourceId: "img1",
      registryId: "local",
      description: "work",
      createdBy: "alice",
      metadata: any("type.googleapis.com/regplane.v1.DeleteImageMetadata", [1]),
      params: {},
    };
    const { operation } = await engine.submit(request);
    await handlerStarted;
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const stopped = engine.stop(4000).then(() => events.push("engine stopped"));
    // Most of the grace is the handler's own to finish; then it is asked to stop, and stop waits for it.
    await vi.advanceTimersByTimeAsync(3000);
    expect(events).toEqual(["asked to stop"]);
    letGo();
    await stopped;
    expect(events).toEqual(["asked to stop", "handler ended", "engine stopped"]);
    // Left for the next start to run again, its lease given up.
    const op = await store.getOperation(operation.id);
    expect(op?.state).toBe("running");
    expect(op?.leaseExpiresAt?.getTime() ?? 0).toBeLessThanOrEqual(Date.now());
    await store.close();
  });
});

describe("version and log format", () => {
  it("--version prints the package version", async () => {
    const { version } = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
    const { stdout } = await exec(process.execPath, ["--import", "tsx", MAIN, "--version"], { cwd: ROOT });
    expect(stdout).toBe(`regplane ${version}\n`);
  }, 30_000);

  // A taken gRPC port makes regplane log one line (grpc-js's own) and exit, with no signal needed.
  async function takenPortRun(viaTerminal: boolean): Promise<string> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    const command = [process.execPath, "--import", "tsx", MAIN, "--data-dir", tempDir(), "--grpc-port", String(port), "--http-port", "0"];
    try {
      const run = viaTerminal ? exec("script", ["-qec", command.map((a) => `'${a}'`).join(" "), "/dev/null"], { cwd: ROOT }) : exec(command[0], command.slice(1), { cwd: ROOT });
      const out = await run.then(
        () => "",
        (e: { code: number; stdout: string }) => {
          expect(e.code).toBe(2);
          return e.stdout;
        },
      );
      return out;
    } finally {
      server.close();
    }
  }

  it("logs human-readable lines when stdout is a terminal, JSON lines otherwise", async () => {
    const terminal = await takenPortRun(true);
    expect(terminal).toMatch(/\[\d\d:\d\d:\d\d\.\d{3}\] .*WARN.*: .*No address added/);
    expect(terminal).not.toMatch(/^\{/m);
    const piped = await takenPortRun(false);
    const lines = piped.trimEnd().split("\n");
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ service: "regplane" });
    expect(piped).toContain('"level":40');
  }, 60_000);
});
