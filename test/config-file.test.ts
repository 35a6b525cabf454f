import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { configProblems } from "../src/core/config-schema.js";
import { ConfigError, configWarnings, loadConfig } from "../src/core/config.js";

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "..");
const MAIN = path.join(ROOT, "src/main.ts");

function configFile(yaml: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "regplane-config-")), "regplane.yaml");
  writeFileSync(file, yaml);
  return file;
}

function refusal(yaml: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    loadConfig({ flags: { config: configFile(yaml) }, env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`accepted:\n${yaml}`);
}

describe("config file schema", () => {
  it("refuses an unknown key at every level, naming its path and the key it is close to", () => {
    expect(refusal("server: {shutdownGrce: 5s}\n")).toBe("server.shutdownGrce: unknown key (did you mean shutdownGrace?)");
    expect(refusal("folder: [{id: a, registries: [local]}]\n")).toBe("folder: unknown key (did you mean folders?)");
    expect(refusal("auth: {kyes: []}\n")).toBe("auth.kyes: unknown key (did you mean keys?)");
    expect(refusal("operations: {concurency: 4}\n")).toBe("operations.concurency: unknown key (did you mean concurrency?)");
    expect(refusal("pageTokens: {ttl: 1h, key: [x]}\n")).toBe("pageTokens.key: unknown key (did you mean keys?)");
    expect(refusal("limits: {maxDeadlin: 5m}\n")).toBe("limits.maxDeadlin: unknown key (did you mean maxDeadline?)");
    expect(refusal("tls: {certFile: /x}\n")).toMatch(/^tls\.certFile: unknown key/);
    expect(refusal("folders: [{id: a, registries: [local], registres: x}]\n")).toBe("folders[0].registres: unknown key (did you mean registries?)");
    expect(refusal("auth: {keys: [{name: ci, hash: x, folders: ['*'], rol: editor}]}\n")).toBe("auth.keys[0].rol: unknown key (did you mean role?)");
    expect(refusal("auth: {clientCerts: [{subjct: CN=x, folders: ['*']}]}\n")).toBe("auth.clientCerts[0].subjct: unknown key (did you mean subject?)");
    expect(refusal("colour: blue\n")).toBe("colour: unknown key");
  });

  it("range-checks numbers and durations, naming the path and what it got", () => {
    expect(refusal("operations: {concurrency: eight}\n")).toBe('operations.concurrency: expected a whole number 1-1024 (got "eight")');
    expect(refusal("operations: {concurrency: 0}\n")).toBe("operations.concurrency: expected a whole number 1-1024 (got 0)");
    expect(refusal("operations: {concurrency: '${N}'}\n", { N: "2.5" })).toBe('operations.concurrency: expected a whole number 1-1024 (got "2.5")');
    expect(refusal("operations: {lease: 10ms}\n")).toBe('operations.lease: expected a duration from 1s to 1d (got "10ms")');
    expect(refusal("server: {shutdownGrace: soon}\n")).toBe('server.shutdownGrace: expected a duration like 500ms, 30s, 5m, 24h or 7d (got "soon")');
    expect(refusal("server: {grpcPort: 70000}\n")).toBe("server.grpcPort: expected a whole number 0-65535 (got 70000)");
    expect(refusal("server: {logLevel: verbose}\n")).toMatch(/^server\.logLevel: expected one of trace, debug, info/);
    expect(refusal("server: {yandexCompat: maybe}\n")).toBe('server.yandexCompat: expected true or false (got "maybe")');
    expect(refusal("limits: {maxConcurrentStreams: -1}\n")).toBe("limits.maxConcurrentStreams: expected a whole number 1-100000 (got -1)");
    expect(refusal("limits: {ratePerSecond: fast}\n")).toBe('limits.ratePerSecond: expected a number from 0 to 1000000 (got "fast")');
    expect(refusal("limits: {maxMessageBytes: 4GB}\n")).toMatch(/^limits\.maxMessageBytes: expected a size in bytes/);
    expect(refusal("pageTokens: {ttl: 99999d}\n")).toBe('pageTokens.ttl: expected a duration from 1s to 365d (got "99999d")');
    expect(refusal("registries: {id: x}\n")).toBe("registries: expected a list");
    expect(refusal("server: [1]\n")).toBe("server: expected a mapping");
    expect(() => loadConfig({ flags: { logLevel: "verbose" }, env: {} })).toThrow('--log-level (server.logLevel): expected one of trace, debug, info, warn, error, fatal, silent (got "verbose")');
    expect(refusal("operations: {concurrency: x, lease: y}\n")).toMatch(/^operations\.concurrency: .* \(and 1 more problems\)$/);
  });

  it("accepts every documented key, with empty sections and values taken as defaults", () => {
    const file = configFile(
      [
        "dataDir: ./state",
        "server: {host: 127.0.0.1, grpcPort: 0, httpPort: '0', corsOrigins: ['*'], logLevel: warn, shutdownGrace: 0s, registryTimeout: 2s, yandexCompat: 'off', heapHeadroom: 0}",
        "registries: [{id: local, provider: local, cacheBytes: 1MiB}]",
        "folders: [{id: team, registries: [local]}]",
        "pageTokens: {ttl: 1h, keys: []}",
        "operations: {retention: 1d, concurrency: '3', lease: 5s}",
        "auth: {keys: [], clientCerts: [], protectReflection: true, protectHealth: false}",
        "limits: {maxMessageBytes: 1MiB, maxConcurrentStreams: 10, ratePerSecond: 0.5, burst: 2, defaultDeadline: 5s, maxDeadline: 1m}",
        "tls:",
        "",
      ].join("\n"),
    );
    const config = loadConfig({ flags: { config: file }, env: {} });
    expect(config.operations.concurrency).toBe(3);
    expect(config.server.shutdownGrace).toBe(0);
    expect(config.limits.ratePerSecond).toBe(0.5);
    expect(config.server.yandexCompat).toBe(false);
  });

  it("accepts every YAML example in the README", () => {
    const examples = [...readFileSync(path.join(ROOT, "README.md"), "utf8").matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(examples.length).toBeGreaterThan(2);
    // As at start, with the variable the example reads the database URL from set.
    const withEnv = (yaml: string) => yaml.replaceAll("${REGPLANE_DATABASE_URL}", "postgres://regplane@db.example:5432/regplane");
    for (const yaml of examples) expect(configProblems(parseYaml(withEnv(yaml))), yaml).toEqual([]);
  });

  it("warns, naming it, when a local registry's path does not exist; relative paths resolve against the config file", () => {
    const file = configFile("registries: [{id: disk, provider: local, path: ./missing}]\n");
    const config = loadConfig({ flags: { config: file }, env: {} });
    const missing = path.join(path.dirname(file), "missing");
    expect(config.registries[0].path).toBe(missing);
    expect(configWarnings(config)).toEqual([expect.stringMatching(new RegExp(`^registries\\[disk\\]\\.path: ${missing} does not exist`))]);
    expect(configWarnings(loadConfig({ flags: { config: configFile("registries: [{id: disk, provider: local, path: .}]\n") }, env: {} }))).toEqual([]);
  });

  it("says where a YAML file is broken (line and column) without quoting it", () => {
    const message = refusal("server:\n  host: 127.0.0.1\n   password: hunter2-secret\n");
    expect(message).toMatch(/regplane\.yaml:2:9: not valid YAML: Nested mappings/);
    expect(message).not.toContain("hunter2");
    expect(message).not.toContain("\n");
  });

  it("exits 2 with one line naming the path, and never starts open on a misspelt auth section", async () => {
    for (const [yaml, says] of [
      ["auth:\n  kyes:\n    - {name: ci, hash: 'sha256:" + "a".repeat(64) + "', folders: ['*']}\n", "regplane: auth.kyes: unknown key (did you mean keys?)"],
      ["server: {shutdownGrce: 5s}\n", "regplane: server.shutdownGrce: unknown key (did you mean shutdownGrace?)"],
      ["operations: {concurrency: eight}\n", 'regplane: operations.concurrency: expected a whole number 1-1024 (got "eight")'],
    ]) {
      const dataDir = mkdtempSync(path.join(tmpdir(), "regplane-config-"));
      const file = path.join(dataDir, "regplane.yaml");
      writeFileSync(file, yaml);
      const args = ["--import", "tsx", MAIN, "--data-dir", dataDir, "--config", file, "--grpc-port", "0", "--http-port", "0"];
      // The timeout ends a server that wrongly started, so the assertion below reports it.
      const err = (await exec(process.execPath, args, { cwd: ROOT, timeout: 30_000 }).then(
        () => undefined,
        (e: { code: number; stderr: string; stdout: string }) => e,
      ))!;
      expect(err, yaml).toBeDefined();
      expect(err.code).toBe(2);
      expect(err.stderr).toBe(`${says}\n`);
      expect(err.stdout).not.toContain("regplane serving");
      expect(existsSync(path.join(dataDir, "regplane.db"))).toBe(false);
    }
  }, 60_000);
});
