import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { providerFactories } from "../src/adapters/index.js";
import { Catalog, type ProviderContext } from "../src/core/catalog.js";
import { ConfigError, loadConfig, type RegistryConfig } from "../src/core/config.js";

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "..");
const MAIN = path.join(ROOT, "src/main.ts");

function configFile(yaml: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "regplane-config-")), "regplane.yaml");
  writeFileSync(file, yaml);
  return file;
}

describe("server.heapGrowingPercent", () => {
  it("defaults to 30, and the file and then the environment override it", () => {
    expect(loadConfig({ flags: {}, env: {} }).heapGrowingPercent).toBe(30);
    const file = configFile("server: {heapGrowingPercent: 0}\n");
    expect(loadConfig({ flags: { config: file }, env: {} }).heapGrowingPercent).toBe(0);
    expect(loadConfig({ flags: { config: file }, env: { REGPLANE_HEAP_GROWING_PERCENT: "75" } }).heapGrowingPercent).toBe(75);
  });

  it("refuses what is not a whole number from 0 to 1000, naming the field", () => {
    for (const bad of ["-1", "1001", "12.5", "lots", " "]) {
      expect(() => loadConfig({ flags: {}, env: { REGPLANE_HEAP_GROWING_PERCENT: bad } })).toThrow(ConfigError);
      expect(() => loadConfig({ flags: {}, env: { REGPLANE_HEAP_GROWING_PERCENT: bad } })).toThrow(/server\.heapGrowingPercent: expected a whole number 0-1000/);
    }
  });
});

describe("registry entry fields", () => {
  const ctx: ProviderContext = { dataDir: mkdtempSync(path.join(tmpdir(), "regplane-config-")), warn: () => {} };

  async function build(entry: Record<string, unknown>): Promise<void> {
    const cfg = { id: "lab", ...entry } as RegistryConfig;
    await providerFactories[cfg.provider](cfg, ctx).close?.();
  }

  async function refusal(entry: Record<string, unknown>): Promise<ConfigError> {
    const err = await build(entry).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }

  const oci = { provider: "oci", endpoint: "https://registry.example" };
  const scaleway = { provider: "scaleway", region: "fr-par", projectId: "p", secretKey: "k" };
  const ibm = { provider: "ibm", region: "us-south", account: "a", apiKey: "k" };
  const yandex = { provider: "yandex", folderId: "b1gfolder", iamToken: "t" };
  const ionos = { provider: "ionos", token: "t" };

  it("accepts what each adapter accepted before, numeric strings and empty OCI credentials included", async () => {
    await build({ ...oci, username: "", password: "", insecure: false, repositories: ["team/app"], maxConcurrency: 4, catalogPageSize: 50 });
    await build({ ...scaleway, maxAttempts: "3", maxConcurrency: 64, pollInterval: "2s" });
    await build({ ...ibm, maxAttempts: 10, listManifests: true, resourceGroup: "", requestTimeout: "5s" });
    await build({ ...yandex, registryId: null, endpoint: "" });
    await build({ ...ionos, pageSize: "1000", endpoint: null });
    await build({ provider: "local", path: ctx.dataDir, cacheBytes: "64MiB" });
  });

  it("names the entry and the field of a missing required field", async () => {
    expect((await refusal({ provider: "oci" })).message).toBe("registries[lab].endpoint: required");
    expect((await refusal({ ...scaleway, secretKey: "" })).message).toMatch(/^registries\[lab\]\.secretKey: required/);
    expect((await refusal({ ...ibm, account: null })).message).toBe("registries[lab].account: required");
    expect((await refusal({ ...yandex, folderId: undefined })).message).toBe("registries[lab].folderId: required");
  });

  it("names the field of a value of the wrong type", async () => {
    expect((await refusal({ ...oci, insecure: "yes" })).message).toBe("registries[lab].insecure: must be true or false");
    expect((await refusal({ ...oci, username: null, password: "p" })).message).toBe("registries[lab].username: must be a string");
    expect((await refusal({ ...oci, repositories: "team/app" })).message).toBe("registries[lab].repositories: must be a list of strings");
    expect((await refusal({ ...oci, maxConcurrency: "4" })).message).toBe("registries[lab].maxConcurrency: must be a positive number");
    expect((await refusal({ ...ibm, listManifests: "yes" })).message).toBe("registries[lab].listManifests: must be true or false");
    expect((await refusal({ ...yandex, folderId: 42 })).message).toBe("registries[lab].folderId: must be a string");
    expect((await refusal({ ...ionos, endpoint: 5 })).message).toBe("registries[lab].endpoint: must be a string");
    expect((await refusal({ provider: "local", path: ctx.dataDir, cacheBytes: "lots" })).message).toMatch(/^registries\[lab\]\.cacheBytes\b/);
  });

  it("names the field and the range of a whole number out of range", async () => {
    expect((await refusal({ ...scaleway, maxConcurrency: 65 })).message).toBe("registries[lab].maxConcurrency: must be a whole number 1-64");
    expect((await refusal({ ...scaleway, maxAttempts: "2.5" })).message).toBe("registries[lab].maxAttempts: must be a whole number 1-10");
    expect((await refusal({ ...ibm, maxAttempts: 0 })).message).toBe("registries[lab].maxAttempts: must be a whole number 1-10");
    expect((await refusal({ ...ionos, pageSize: 1001 })).message).toBe("registries[lab].pageSize: must be a whole number 1-1000");
  });

  it("refuses an unknown provider as a configuration error", () => {
    const registries = [{ id: "lab", provider: "nope" }];
    expect(() => Catalog.fromConfig(registries, [], providerFactories, ctx)).toThrow(ConfigError);
    expect(() => Catalog.fromConfig(registries, [], providerFactories, ctx)).toThrow(/^registries\[lab\]\.provider: unknown provider "nope"/);
  });

  it("stops regplane at start with exit 2 and the message, no stack trace", async () => {
    for (const [entry, says] of [
      ["{id: lab, provider: oci}", "registries[lab].endpoint: required"],
      ["{id: lab, provider: local, cacheBytes: lots}", "registries[lab].cacheBytes"],
      ["{id: lab, provider: nope}", "registries[lab].provider: unknown provider"],
    ]) {
      const dataDir = mkdtempSync(path.join(tmpdir(), "regplane-config-"));
      const file = path.join(dataDir, "regplane.yaml");
      writeFileSync(file, `registries: [${entry}]\n`);
      const args = ["--import", "tsx", MAIN, "--data-dir", dataDir, "--config", file, "--grpc-port", "0", "--http-port", "0"];
      const err = (await exec(process.execPath, args, { cwd: ROOT }).then(
        () => undefined,
        (e: { code: number; stderr: string }) => e,
      ))!;
      expect(err.code).toBe(2);
      expect(err.stderr).toContain(`regplane: ${says}`);
      expect(err.stderr).not.toMatch(/^\s{4}at /m);
    }
  }, 60_000);
});
