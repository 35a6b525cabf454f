// One URL policy for every provider (core/url-policy.ts): each endpoint field of each provider, IAM and
// token endpoints included, takes https, or plain http only when the entry sets insecure: true. A
// loopback host gets no exception. A refusal is one ConfigError line naming registries[<id>].<field>.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { providerFactories } from "../src/adapters/index.js";
import type { ProviderContext } from "../src/core/catalog.js";
import { ConfigError, type RegistryConfig } from "../src/core/config.js";

const ctx: ProviderContext = { dataDir: mkdtempSync(path.join(tmpdir(), "regplane-url-policy-")), warn: () => {} };

/** Every endpoint field, with an entry that is valid apart from it. */
const FIELDS: Array<{ field: string; entry: Record<string, unknown>; path?: string }> = [
  { field: "endpoint", entry: { provider: "oci" } },
  { field: "registryUrl", entry: { provider: "ibm", account: "a", apiKey: "k" } },
  { field: "iamUrl", entry: { provider: "ibm", region: "us-south", account: "a", apiKey: "k" } },
  { field: "apiUrl", entry: { provider: "scaleway", region: "fr-par", projectId: "p", secretKey: "k" } },
  { field: "endpoint", entry: { provider: "ionos", token: "t" }, path: "/containerregistries" },
  { field: "endpoint", entry: { provider: "yandex", folderId: "b1gfolder", iamToken: "t" } },
  { field: "operationEndpoint", entry: { provider: "yandex", folderId: "b1gfolder", iamToken: "t" } },
  { field: "iamEndpoint", entry: { provider: "yandex", folderId: "b1gfolder", iamToken: "t" }, path: "/iam/v1/tokens" },
];

async function outcome(entry: Record<string, unknown>): Promise<unknown> {
  const cfg = { id: "lab", ...entry } as RegistryConfig;
  try {
    await providerFactories[cfg.provider](cfg, ctx).close?.();
    return undefined;
  } catch (e) {
    return e;
  }
}

describe("the URL policy of every provider's endpoint fields", () => {
  for (const { field, entry, path: urlPath = "" } of FIELDS) {
    const name = `${entry.provider}.${field}`;

    it(`${name}: plain http to a remote host without insecure is refused, naming the field`, async () => {
      const err = await outcome({ ...entry, [field]: `http://registry.example.com${urlPath}` });
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toBe(`registries[lab].${field}: plain http needs insecure: true`);
    });

    it(`${name}: plain http to a loopback host without insecure is refused too`, async () => {
      const err = await outcome({ ...entry, [field]: `http://127.0.0.1:5000${urlPath}` });
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toBe(`registries[lab].${field}: plain http needs insecure: true`);
    });

    it(`${name}: plain http with insecure: true is accepted`, async () => {
      expect(await outcome({ ...entry, [field]: `http://registry.example.com${urlPath}`, insecure: true })).toBeUndefined();
    });

    it(`${name}: https is accepted`, async () => {
      expect(await outcome({ ...entry, [field]: `https://registry.example.com${urlPath}` })).toBeUndefined();
    });

    it(`${name}: a URL carrying credentials is refused without echoing them`, async () => {
      const err = await outcome({ ...entry, [field]: `https://someone:s3cret@registry.example.com${urlPath}`, insecure: true });
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toMatch(new RegExp(`^registries\\[lab\\]\\.${field}: must not carry credentials`));
      expect((err as ConfigError).message).not.toContain("s3cret");
    });
  }

  it("insecure must be true or false", async () => {
    for (const { field, entry, path: urlPath = "" } of FIELDS) {
      const err = await outcome({ ...entry, [field]: `https://registry.example.com${urlPath}`, insecure: "yes" });
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toBe("registries[lab].insecure: must be true or false");
    }
  });
});
