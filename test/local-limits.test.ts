// Nested indexes in the embedded registry are bounded: a DAG bomb (8 levels, each listing the next 10
// times: 10^8 paths over 9 blobs) is summed once per digest, a cycle of indexes ends, maxIndexDepth
// stops the descent, and maxMetadataBytes bounds what is read.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { LocalProvider } from "../src/adapters/local/index.js";
import { Code } from "../src/core/errors.js";
import type { ImageRecord } from "../src/core/types.js";
import { makeTempDir, readBlobJson, readIndexJson } from "./support/images.js";
import { buildHostileCorpus } from "./fixtures/hostile-corpus.js";

const signal = new AbortController().signal;
let work: string;
let root: string;

beforeAll(async () => {
  work = await makeTempDir("regplane-limits-");
  root = path.join(work, "registry");
  await buildHostileCorpus(root, path.join(work, "outside"));
}, 60_000);

afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

async function listRepository(p: LocalProvider, repository: string, limit = 100): Promise<ImageRecord[]> {
  const page = await p.listImages({ order: [], limit, signal, repository });
  expect(page.done).toBe(true);
  return page.images;
}

/** config + layers of the one image at the bottom of the DAG. */
async function leafImageSize(layout: string): Promise<number> {
  let digest = (await readIndexJson(layout)).manifests[0].digest;
  for (;;) {
    const m = await readBlobJson<{ manifests?: { digest: string }[]; config?: { size: number }; layers?: { size: number }[] }>(layout, digest);
    if (m.manifests === undefined) return m.config!.size + m.layers!.reduce((n, l) => n + l.size, 0);
    digest = m.manifests[0].digest;
  }
}

describe("LocalProvider: nested index limits", () => {
  it("sums a DAG bomb once per digest: the size of all 10^8 paths, without walking them", async () => {
    const p = new LocalProvider({ id: "local", root });
    const [bomb] = await listRepository(p, "evil/dag");
    expect(bomb.tags).toEqual(["bomb"]);
    expect(bomb.compressedSize).toBe(1e8 * (await leafImageSize(path.join(root, "evil/dag"))));
  });

  it("stops at maxIndexDepth: with 3, the bomb's image below 8 levels counts nothing", async () => {
    const p = new LocalProvider({ id: "local", root, maxIndexDepth: 3 });
    const [bomb] = await listRepository(p, "evil/dag");
    expect(bomb.compressedSize).toBe(0);
  });

  it("ends on a cycle of two indexes that list each other", async () => {
    const p = new LocalProvider({ id: "local", root });
    const images = await listRepository(p, "evil/cycle");
    expect(images.map((i) => [i.tags, i.compressedSize])).toEqual([[["loop"], 0]]);
  });

  it("refuses index.json over maxMetadataBytes with one warning naming the layout, and reads it under a larger bound", async () => {
    const warnings: { msg: string; ctx: object }[] = [];
    const bounded = new LocalProvider({ id: "local", root, onWarning: (msg, ctx) => warnings.push({ msg, ctx }) });
    expect(await listRepository(bounded, "evil/index-huge")).toEqual([]);
    expect(warnings.filter((w) => (w.ctx as { repository?: string }).repository === "evil/index-huge").map((w) => w.msg)).toEqual([
      "local registry: layout unreadable, skipped",
    ]);
    const larger = new LocalProvider({ id: "local", root, maxMetadataBytes: 16 * 1024 * 1024 });
    expect(await listRepository(larger, "evil/index-huge", 50_000)).toHaveLength(40_000);
  });

  it("stops parsing a layout once the only listing waiting for it is cancelled", async () => {
    const controller = new AbortController();
    let warnings = 0;
    // Every one of the 40,000 entries names a missing manifest: one warning each while the parse goes on.
    const p = new LocalProvider({
      id: "local",
      root,
      maxMetadataBytes: 16 * 1024 * 1024,
      onWarning: () => {
        warnings++;
        controller.abort();
      },
    });
    const listing = p.listImages({ order: [], limit: 100, signal: controller.signal, repository: "evil/index-huge" });
    await expect(listing).rejects.toMatchObject({ code: Code.CANCELLED });
    // The parse shared by callers runs on; wait for it to end before counting what it did.
    const loads = (p as unknown as { layouts: { loading: Map<string, { promise: Promise<unknown> }> } }).layouts.loading;
    await Promise.allSettled([...loads.values()].map((l) => l.promise));
    // At most the reads already in flight when the signal fired (32 at a time) finish after it.
    expect(warnings).toBeGreaterThanOrEqual(1);
    expect(warnings).toBeLessThan(100);
  });
});
