import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "..");
const MAIN = path.join(ROOT, "src/main.ts");

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs regplane until it exits on its own (a start-up failure), with `args` after the defaults. With
 * `asOwnerOnly`, a root process loses the capabilities that let it ignore file permissions.
 */
function run(args: string[], o: { asOwnerOnly?: boolean } = {}): Promise<Exit> {
  const node = [process.execPath, "--import", "tsx", MAIN, "--grpc-port", "0", "--http-port", "0", ...args];
  const command = o.asOwnerOnly && process.getuid?.() === 0 ? ["setpriv", "--bounding-set=-dac_override,-dac_read_search", ...node] : node;
  return new Promise((resolve) => {
    const child = execFile(command[0], command.slice(1), { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (child.exitCode ?? -1) : 0, stdout, stderr }),
    );
  });
}

const tempDir = () => mkdtempSync(path.join(tmpdir(), "regplane-startup-"));

function expectOneLine(exit: Exit, says: string | RegExp): void {
  expect(exit.code, exit.stderr).toBe(2);
  expect(exit.stderr.endsWith("\n")).toBe(true);
  expect(exit.stderr.trimEnd().split("\n"), exit.stderr).toHaveLength(1);
  if (typeof says === "string") expect(exit.stderr).toBe(`regplane: ${says}\n`);
  else expect(exit.stderr).toMatch(says);
  expect(exit.stdout).not.toContain("regplane serving");
}

async function occupiedPort(): Promise<{ port: number; close: () => void }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

describe("start-up failures are one line and exit 2", () => {
  it("names the port in use and the flag to pass, for either port", async () => {
    const taken = await occupiedPort();
    try {
      expectOneLine(await run(["--data-dir", tempDir(), "--grpc-port", String(taken.port)]), `gRPC port ${taken.port} is in use; pass --grpc-port`);
      expectOneLine(await run(["--data-dir", tempDir(), "--http-port", String(taken.port)]), `HTTP port ${taken.port} is in use; pass --http-port`);
    } finally {
      taken.close();
    }
  }, 120_000);

  it("shows the stack as well only at --log-level debug", async () => {
    const taken = await occupiedPort();
    try {
      const exit = await run(["--data-dir", tempDir(), "--http-port", String(taken.port), "--log-level", "debug"]);
      expect(exit.code).toBe(2);
      expect(exit.stderr.split("\n")[0]).toBe(`regplane: HTTP port ${taken.port} is in use; pass --http-port`);
      expect(exit.stderr).toMatch(/^\s+at /m);
    } finally {
      taken.close();
    }
  }, 60_000);

  it("says where YAML is broken, by line and column", async () => {
    const dir = tempDir();
    const file = path.join(dir, "regplane.yaml");
    writeFileSync(file, "server:\n  host: 127.0.0.1\n   grpcPort: 1\n");
    expectOneLine(await run(["--data-dir", dir, "--config", file]), `${file}:2:9: not valid YAML: Nested mappings are not allowed in compact mappings\n`.trimEnd());
  }, 60_000);

  it("names a damaged state file and what to do about it", async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, "regplane.db"), "this is not a database, though it is long enough to look like one to a reader\n".repeat(20));
    expectOneLine(
      await run(["--data-dir", dir]),
      `state file ${path.join(dir, "regplane.db")} is not a regplane database or is damaged (file is not a database); restore it from a backup, or move it aside to start with empty state (operations and page tokens are lost)`,
    );
  }, 60_000);

  it("names a data dir that is a file, or lies under one", async () => {
    const file = path.join(tempDir(), "plain-file");
    writeFileSync(file, "");
    expectOneLine(await run(["--data-dir", file]), `data dir ${file} is not a directory; pass --data-dir with a directory, or move the file away`);
    expectOneLine(await run(["--data-dir", path.join(file, "data")]), `data dir ${path.join(file, "data")}: a part of the path is a file, not a directory; pass --data-dir with a directory`);
  }, 60_000);

  it("names a data dir it may not write", async () => {
    const parent = tempDir();
    const dir = path.join(parent, "data");
    mkdirSync(dir);
    chmodSync(dir, 0o555);
    expectOneLine(await run(["--data-dir", dir], { asOwnerOnly: true }), `data dir ${dir} is not writable (EACCES); give the user regplane runs as write access, or pass --data-dir`);
    expectOneLine(await run(["--data-dir", path.join(dir, "inner")], { asOwnerOnly: true }), `data dir ${path.join(dir, "inner")} is not writable (EACCES); give the user regplane runs as write access, or pass --data-dir`);
  }, 60_000);

  it("names a state file it may not write", async () => {
    const dir = tempDir();
    const file = path.join(dir, "regplane.db");
    new Database(file).close();
    chmodSync(file, 0o444);
    expectOneLine(
      await run(["--data-dir", dir], { asOwnerOnly: true }),
      `state file ${file} cannot be opened for writing (attempt to write a readonly database); check that the user regplane runs as may write it and its directory`,
    );
  }, 60_000);

  it("never echoes the user-info of an endpoint URL", async () => {
    const dir = tempDir();
    const file = path.join(dir, "regplane.yaml");
    for (const entry of [
      '{id: lab, provider: oci, endpoint: "https://ci:s3cretpw@registry.example:99999"}',
      '{id: lab, provider: oci, endpoint: "https://ci:pa/s3cretpw@reg@istry.example"}',
      '{id: lab, provider: ionos, token: t, endpoint: "https://ci:s3cretpw@api example"}',
      '{id: lab, provider: yandex, folderId: b1g, iamToken: t, endpoint: "grpcs://ci:s3cretpw@[::1"}',
    ]) {
      writeFileSync(file, `registries: [${entry}]\n`);
      const exit = await run(["--data-dir", dir, "--config", file]);
      expectOneLine(exit, /^regplane: registries\[lab\]\.endpoint: /);
      expect(exit.stderr + exit.stdout).not.toContain("s3cretpw");
      expect(exit.stderr).not.toContain("ci:");
    }
  }, 120_000);
});
