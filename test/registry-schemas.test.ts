// Each provider's entry schema (adapters/<provider>/config.ts): strict at every level, naming the full key
// path and the closest known key, and dispatched to by `provider:` when the config file is loaded.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { registrySchemas } from "../src/adapters/index.js";
import { loadConfig } from "../src/core/config.js";
import { entryProblems } from "../src/core/registry-config.js";

const valid: Record<string, Record<string, unknown>> = {
  local: { path: "/tmp/regplane-registry" },
  oci: { endpoint: "https://registry.example" },
  ibm: { region: "us-south", account: "a", apiKey: "k" },
  scaleway: { region: "fr-par", projectId: "p", secretKey: "k" },
  ionos: { token: "t" },
  yandex: { folderId: "b1gfolder", iamToken: "t" },
};

function configFile(yaml: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "regplane-schemas-")), "regplane.yaml");
  writeFileSync(file, yaml);
  return file;
}

describe("provider entry schemas", () => {
  it("has one for every provider kind, and each accepts a valid entry", () => {
    expect(Object.keys(registrySchemas).sort()).toEqual(Object.keys(valid).sort());
    for (const [provider, fields] of Object.entries(valid)) {
      expect(entryProblems(registrySchemas[provider], { id: "lab", provider, ...fields }), provider).toEqual([]);
    }
  });

  it("refuses an unknown key of each provider with its path and the closest known key", () => {
    for (const [provider, fields] of Object.entries(valid)) {
      const known = Object.keys(fields)[0];
      const typo = `${known.slice(0, -1)}${known.slice(-1).toUpperCase()}x`;
      expect(entryProblems(registrySchemas[provider], { id: "lab", provider, ...fields, [typo]: 1 }), provider).toEqual([
        `registries[lab].${typo}: unknown field for provider ${provider} (did you mean ${known}?)`,
      ]);
    }
  });

  it("refuses an unknown key inside a nested item, naming the full path (IONOS registryTokens)", () => {
    const entry = { id: "lab", provider: "ionos", token: "t", registryTokens: [{ registry: "r", username: "u", password: "p" }, { registry: "s", username: "u", pasword: "p" }] };
    expect(entryProblems(registrySchemas.ionos, entry)[0]).toBe("registries[lab].registryTokens[1].pasword: unknown field for provider ionos (did you mean password?)");
  });

  it("is what the config loader dispatches each entry to, refusing a bad one before anything starts", () => {
    const file = configFile("registries:\n  - {id: lab, provider: ionos, token: t, registryTokens: [{registry: r, username: u, pasword: p}]}\n");
    expect(() => loadConfig({ flags: { config: file }, env: {} })).not.toThrow();
    expect(() => loadConfig({ flags: { config: file }, env: {}, registrySchemas })).toThrow(
      "registries[lab].registryTokens[0].pasword: unknown field for provider ionos (did you mean password?)",
    );
    const unknown = configFile("registries: [{id: lab, provider: nope}]\n");
    expect(() => loadConfig({ flags: { config: unknown }, env: {}, registrySchemas })).toThrow(/^registries\[lab\]\.provider: unknown provider "nope" \(known: local, oci/);
  });
});
