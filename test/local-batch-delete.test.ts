// The embedded registry deletes several images of one layout in one change: one index.json rewrite and
// one collection. The other images stay whole (skopeo reads them), the deleted ones' blobs are gone,
// and deleting them again is success.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalProvider } from "../src/adapters/local/index.js";
import { listBlobs, makeTempDir, readIndexJson, skopeoInspect, writeSyntheticImage } from "./support/images.js";

let work: string;
let layout: string;
const digests: Record<string, string> = {};

beforeAll(async () => {
  work = await makeTempDir("regplane-batch-delete-");
  layout = path.join(work, "registry", "team", "app");
  for (const tag of ["a", "b", "c", "d"]) digests[tag] = (await writeSyntheticImage(layout, { tag })).digest;
});

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe("LocalProvider.deleteImages", () => {
  it("removes the digests in one rewrite, collects their blobs and keeps the rest readable; again is success", async () => {
    const p = new LocalProvider({ id: "local", root: path.join(work, "registry"), gcGracePeriodMs: 0 });
    const before = await listBlobs(layout);
    const signal = AbortSignal.timeout(20_000);
    await p.deleteImages("team/app", [digests.a, digests.c], signal);

    const index = await readIndexJson(layout);
    expect(index.manifests.map((m) => m.digest).sort()).toEqual([digests.b, digests.d].sort());
    for (const tag of ["b", "d"]) expect((await skopeoInspect(layout, tag)).Digest).toBe(digests[tag]);
    const after = await listBlobs(layout);
    expect(after.length).toBeLessThan(before.length);
    for (const gone of [digests.a, digests.c]) expect(after).not.toContain(gone);
    expect(await p.getImage("team/app", digests.a, signal)).toBeUndefined();

    await p.deleteImages("team/app", [digests.a, digests.c], signal);
    expect((await readIndexJson(layout)).manifests).toHaveLength(2);
    await expect(p.deleteImages("team/app", ["../escape"], signal)).rejects.toMatchObject({ code: 3 });
    await p.close();
  });
});
