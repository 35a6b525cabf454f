// The embedded registry's own keys on its registry entry: gcGracePeriod, maxMetadataBytes, maxIndexDepth.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { providerFactories } from "../src/adapters/index.js";
import { ConfigError } from "../src/core/config.js";
import type { Provider } from "../src/core/provider.js";
import { ageBlobs, listBlobs, makeTempDir, writeSyntheticImage } from "./support/images.js";

const signal = new AbortController().signal;
let work: string;

beforeAll(async () => {
  work = await makeTempDir("regplane-local-config-");
});

afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

function build(fields: Record<string, unknown>): Provider {
  return providerFactories.local({ id: "lab", provider: "local", ...fields }, { dataDir: work, warn: () => {} });
}

describe("local registry entry keys", () => {
  it("collects a just-written image's blobs only with gcGracePeriod 0s; the default keeps them", async () => {
    for (const [name, fields, kept] of [
      ["default", {}, true],
      ["zero", { gcGracePeriod: "0s" }, false],
    ] as const) {
      const root = path.join(work, name);
      const layout = path.join(root, "team", "app");
      const image = await writeSyntheticImage(layout, { tag: "v1" });
      const before = await listBlobs(layout);
      await build({ path: root, ...fields }).deleteImage("team/app", image.digest, signal);
      expect(await listBlobs(layout), name).toEqual(kept ? before : []);
    }
  });

  it("reads no index.json over maxMetadataBytes", async () => {
    const root = path.join(work, "bounded");
    await writeSyntheticImage(path.join(root, "team", "app"), { tag: "v1" });
    const listed = async (fields: Record<string, unknown>) =>
      (await build({ path: root, ...fields }).listImages({ order: [], limit: 10, signal })).images.length;
    expect(await listed({ maxMetadataBytes: "100B" })).toBe(0);
    expect(await listed({})).toBe(1);
  });

  it("refuses bad values naming the field", () => {
    for (const [fields, field] of [
      [{ gcGracePeriod: "soon" }, "gcGracePeriod"],
      [{ maxMetadataBytes: "lots" }, "maxMetadataBytes"],
      [{ maxIndexDepth: 0 }, "maxIndexDepth"],
      [{ maxIndexDepth: 65 }, "maxIndexDepth"],
    ] as const) {
      expect(() => build({ path: work, ...fields })).toThrow(ConfigError);
      expect(() => build({ path: work, ...fields })).toThrow(new RegExp(`^registries\\[lab\\]\\.${field}\\b`));
    }
  });
});

describe("collection beside another writer", () => {
  it("keeps an old blob that a manifest written within the grace period reuses, and collects the rest of the deleted image", async () => {
    const root = path.join(work, "reuse");
    const layout = path.join(root, "team", "app");
    const old = await writeSyntheticImage(layout, { tag: "old" });
    await ageBlobs(layout);
    // A copy in progress: its manifest and config are written, it reuses old's layer, index.json comes last.
    const copying = await writeSyntheticImage(layout, { sharedLayers: old.layers, blobsOnly: true });
    await build({ path: root }).deleteImage("team/app", old.digest, signal);
    const blobs = await listBlobs(layout);
    expect(blobs).toContain(old.layers[0].descriptor.digest);
    for (const d of [copying.digest, copying.manifest.config.digest, ...copying.ownBlobs]) expect(blobs).toContain(d);
    expect(blobs).not.toContain(old.digest);
    expect(blobs).not.toContain(old.manifest.config.digest);
  });
});
