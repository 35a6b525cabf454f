import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { providerFactories } from "../src/adapters/index.js";
import type { OciProvider } from "../src/adapters/oci/index.js";
import { Catalog, type ProviderContext } from "../src/core/catalog.js";
import { ConfigError, loadConfig, type RegistryConfig } from "../src/core/config.js";
import { IbmFake } from "./fakes/ibm.js";

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "..");
const MAIN = path.join(ROOT, "src/main.ts");

function configFile(yaml: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "regplane-config-")), "regplane.yaml");
  writeFileSync(file, yaml);
  return file;
}

describe("server.heapHeadroom", () => {
  it("defaults to 48 MiB, and the file and then the environment override it; 0 turns it off", () => {
    expect(loadConfig({ flags: {}, env: {} }).server.heapHeadroom).toBe(48 * 1024 * 1024);
    const file = configFile("server: {heapHeadroom: 0}\n");
    expect(loadConfig({ flags: { config: file }, env: {} }).server.heapHeadroom).toBe(0);
    expect(loadConfig({ flags: { config: file }, env: { REGPLANE_HEAP_HEADROOM: "96MiB" } }).server.heapHeadroom).toBe(96 * 1024 * 1024);
  });

  it("refuses what is not a size, naming the field", () => {
    for (const bad of ["-1", "12.5", "lots", "4 GB"]) {
      expect(() => loadConfig({ flags: {}, env: { REGPLANE_HEAP_HEADROOM: bad } })).toThrow(/server\.heapHeadroom/);
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
    await build({ ...oci, endpoint: "http://127.0.0.1:5000", insecure: true, username: "u", password: "p", repositories: ["team/", "app"], maxConcurrency: 256, catalogPageSize: 1000 });
    await build({ provider: "ionos", username: "u", password: "p", registryId: "0b6f3c2e-9d4a-4e1b-8c7f-2a5d6e8f9a0b", endpoint: "http://127.0.0.1:1/cr", insecure: true });
    await build({ ...yandex, registryId: "crp0123456789abcdef", endpoint: "http://127.0.0.1:1", operationEndpoint: "https://op.example", iamEndpoint: "https://iam.example/t", insecure: true });
  });

  it("refuses a field its provider does not know, for every provider", async () => {
    const local = { provider: "local", path: ctx.dataDir };
    for (const entry of [oci, scaleway, ibm, yandex, ionos, local]) {
      expect((await refusal({ ...entry, colour: "blue" })).message).toBe(`registries[lab].colour: unknown field for provider ${entry.provider}`);
    }
  });

  it("names the known field closest to a misspelt one", async () => {
    expect((await refusal({ ...oci, catalogPagesize: 50 })).message).toBe("registries[lab].catalogPagesize: unknown field for provider oci (did you mean catalogPageSize?)");
    expect((await refusal({ ...ibm, maxAtempts: 3 })).message).toBe("registries[lab].maxAtempts: unknown field for provider ibm (did you mean maxAttempts?)");
    expect((await refusal({ provider: "local", path: ctx.dataDir, cachebytes: "1MiB" })).message).toBe("registries[lab].cachebytes: unknown field for provider local (did you mean cacheBytes?)");
  });

  it("reads OCI listingCacheTtl as a duration (30 s when not set)", async () => {
    const ttlOf = (entry: Record<string, unknown>) => (providerFactories.oci({ id: "lab", ...oci, ...entry }, ctx) as unknown as { listingCacheTtlMs: number }).listingCacheTtlMs;
    expect(ttlOf({})).toBe(30_000);
    expect(ttlOf({ listingCacheTtl: "2m" })).toBe(120_000);
    expect(ttlOf({ listingCacheTtl: "0s" })).toBe(0);
    expect((await refusal({ ...oci, listingCacheTtl: "soon" })).message).toMatch(/^registries\[lab\]\.listingCacheTtl: expected a duration/);
  });

  it("stops calling a failing OCI, IBM or Scaleway registry for the configured breakerCooldown after breakerThreshold failures", async () => {
    const closed = "http://127.0.0.1:1";
    // IBM's IAM answers (from the fake) so that its registry calls are the ones failing.
    const iam = await IbmFake.start();
    const entries = [
      { ...oci, endpoint: closed, insecure: true },
      { ...ibm, registryUrl: closed, iamUrl: iam.url, account: iam.account, apiKey: iam.apiKey, maxAttempts: 1, insecure: true },
      { ...scaleway, apiUrl: closed, maxAttempts: 1, insecure: true },
    ];
    for (const entry of entries) {
      const outcomes: string[] = [];
      for (const breaker of [{}, { breakerThreshold: 1, breakerCooldown: "7s" }]) {
        const p = providerFactories[entry.provider]({ id: "lab", ...entry, ...breaker } as RegistryConfig, ctx);
        const messages: string[] = [];
        for (let i = 0; i < 3; i++) {
          const err = await p.listNamespaces({ limit: 10, signal: AbortSignal.timeout(10_000) }).then(
            () => new Error("listed a registry that cannot be reached"),
            (e: unknown) => e as Error,
          );
          messages.push(err.message);
        }
        await p.close?.();
        outcomes.push(messages.some((m) => m.includes("skipped for 7s after 1 consecutive failures")) ? "skipped 7s" : "tried");
      }
      expect(outcomes, entry.provider).toEqual(["tried", "skipped 7s"]);
    }
    await iam.close();
    expect((await refusal({ ...oci, breakerThreshold: 0 })).message).toBe("registries[lab].breakerThreshold: must be a whole number 1-1000");
    expect((await refusal({ ...ibm, breakerCooldown: "0s" })).message).toBe("registries[lab].breakerCooldown: must be longer than 0");
    expect((await refusal({ ...scaleway, breakerCooldown: "soon" })).message).toMatch(/^registries\[lab\]\.breakerCooldown: expected a duration/);
  });

  it("keeps OCI maxConcurrency at 8 when it is not set", async () => {
    const p = providerFactories.oci({ id: "lab", ...oci }, ctx) as OciProvider;
    expect(p.client.maxConcurrency).toBe(8);
    await p.close();
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
    expect((await refusal({ ...oci, catalogPageSize: "50" })).message).toBe("registries[lab].catalogPageSize: must be a positive number");
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
    for (const bad of [2.5, "2.5", 0, 257, "four"]) {
      expect((await refusal({ ...oci, maxConcurrency: bad })).message).toBe("registries[lab].maxConcurrency: must be a whole number 1-256");
    }
    expect((await refusal({ ...oci, catalogPageSize: 2.5 })).message).toBe("registries[lab].catalogPageSize: must be a whole number 1-1000 (got 2.5)");
    expect((await refusal({ ...oci, catalogPageSize: 1001 })).message).toBe("registries[lab].catalogPageSize: must be a whole number 1-1000 (got 1001)");
  });

  it("names the field of what an OCI entry's provider refuses", async () => {
    expect((await refusal({ ...oci, endpoint: "http://registry.example" })).message).toBe("registries[lab].endpoint: plain http needs insecure: true");
    const withCredentials = await refusal({ ...oci, endpoint: "https://someone:s3cret@registry.example" });
    expect(withCredentials.message).toBe("registries[lab].endpoint: must not carry credentials (put them in the entry's credential fields)");
    expect(withCredentials.message).not.toContain("s3cret");
    expect((await refusal({ ...oci, endpoint: "registry.example" })).message).toBe('registries[lab].endpoint: "registry.example" is not a URL');
    expect((await refusal({ ...oci, endpoint: "ftp://registry.example" })).message).toBe("registries[lab].endpoint: must be http:// or https://");
    expect((await refusal({ ...oci, username: "u" })).message).toBe("registries[lab].password: required with username (they go together)");
    expect((await refusal({ ...oci, password: "" })).message).toBe("registries[lab].username: required with password (they go together)");
    expect((await refusal({ ...oci, repositories: ["team/app", "Team/App"] })).message).toBe('registries[lab].repositories: "Team/App" is not a repository name or prefix');
  });

  it("names the field of what an IONOS entry's provider refuses", async () => {
    expect((await refusal({ provider: "ionos" })).message).toBe("registries[lab].token: required (or tokenFile), unless username and password are both set");
    expect((await refusal({ provider: "ionos", username: "u" })).message).toMatch(/^registries\[lab\]\.token: required/);
    expect((await refusal({ ...ionos, registryId: "my-registry" })).message).toBe("registries[lab].registryId: must be an IONOS registry UUID");
    expect((await refusal({ ...ionos, endpoint: "api.ionos.com" })).message).toBe('registries[lab].endpoint: "api.ionos.com" is not a URL');
    expect((await refusal({ ...ionos, endpoint: "ftp://api.example" })).message).toBe("registries[lab].endpoint: must be http:// or https://");
    const withCredentials = await refusal({ ...ionos, endpoint: "https://someone:s3cret@api.example" });
    expect(withCredentials.message).toBe("registries[lab].endpoint: must not carry credentials (put them in the entry's credential fields)");
    expect(withCredentials.message).not.toContain("s3cret");
  });

  it("names the field of what a Yandex entry's provider refuses", async () => {
    expect((await refusal({ ...yandex, registryId: "CRP-1" })).message).toBe("registries[lab].registryId: not a Yandex registry id (1-50 lowercase letters and digits)");
    expect((await refusal({ ...yandex, endpoint: "container-registry" })).message).toBe('registries[lab].endpoint: "container-registry" is not a URL');
    expect((await refusal({ ...yandex, operationEndpoint: "ftp://op.example" })).message).toBe("registries[lab].operationEndpoint: must be http:// or https://");
    const withCredentials = await refusal({ ...yandex, iamEndpoint: "https://someone:s3cret@iam.example/t" });
    expect(withCredentials.message).toBe("registries[lab].iamEndpoint: must not carry credentials (put them in the entry's credential fields)");
    expect(withCredentials.message).not.toContain("s3cret");
    const key = JSON.stringify({ id: "k", service_account_id: "s", private_key: "not a key" });
    expect((await refusal({ provider: "yandex", folderId: "b1gfolder", serviceAccountKey: key })).message).toBe("registries[lab].serviceAccountKey: private_key is not a PEM private key");
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
      ['{id: lab, provider: oci, endpoint: "http://registry.example"}', "registries[lab].endpoint: plain http needs insecure: true"],
      ["{id: lab, provider: ionos, token: t, registryId: my-registry}", "registries[lab].registryId: must be an IONOS registry UUID"],
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
      // Refused before anything was opened or created.
      expect(existsSync(path.join(dataDir, "regplane.db"))).toBe(false);
    }
  }, 60_000);
});
