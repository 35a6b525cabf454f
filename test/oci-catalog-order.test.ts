// The catalog's own order ("/" below every other character, as distribution walks its storage) against
// regplane's code-unit keysets: a simulated catalog checks the reordering for every resume point, and
// the real CNCF registry checks that paging an OCI registry neither skips nor repeats a repository.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OciProvider } from "../src/adapters/oci/index.js";
import { catalogResumePoint, inCodeUnitOrder } from "../src/core/distribution/index.js";
import type { ImageRecord } from "../src/core/types.js";
import { makeTempDir, writeSyntheticImage } from "./support/images.js";
import { pushImage, startRegistry, type RunningRegistry } from "./support/registry.js";

/** Distribution's order: path segment by path segment, each in code units (a parent before its children). */
function catalogCompare(a: string, b: string): number {
  const x = a.split("/");
  const y = b.split("/");
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return x.length - y.length;
}

/** A catalog as distribution serves it: its order, `last` exclusive in that order, pages of `n`. */
async function* simulatedCatalog(names: string[], last: string | undefined, n: number): AsyncGenerator<string[]> {
  const sorted = [...new Set(names)].sort(catalogCompare);
  const rest = last === undefined ? sorted : sorted.filter((name) => catalogCompare(name, last) > 0);
  for (let i = 0; i < rest.length; i += n) yield rest.slice(i, i + n);
}

const component = fc.stringMatching(/^[ab0](?:[-.][ab0])?$/);
const repositoryName = fc.array(component, { minLength: 1, maxLength: 3 }).map((parts) => parts.join("/"));

async function flatten(batches: AsyncIterable<string[]>): Promise<string[]> {
  const out: string[] = [];
  for await (const batch of batches) out.push(...batch);
  return out;
}

describe("catalog order → code-unit order", () => {
  it("gives every name after the resume point exactly once, in code-unit order, from any catalog page size", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(repositoryName, { maxLength: 30 }), fc.option(repositoryName, { nil: undefined }), fc.integer({ min: 1, max: 5 }), async (names, after, n) => {
        const last = after === undefined ? undefined : catalogResumePoint(after);
        const got = await flatten(inCodeUnitOrder(simulatedCatalog(names, last, n), after));
        const expected = [...new Set(names)].filter((name) => after === undefined || name > after).sort();
        expect(got).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it("resumes the catalog before the first '-' or '.' of the key, where names with '/' hide", () => {
    expect(catalogResumePoint("a-b")).toBe("a");
    expect(catalogResumePoint("team/app.v2")).toBe("team/app");
    expect(catalogResumePoint("a/c")).toBe("a/c");
  });
});

describe("an OCI registry with names whose catalog order is not code-unit order", () => {
  const NAMES = ["a", "a-b", "a.b", "a/b/c", "a/c", "a0", "ab"];
  let reg: RunningRegistry;
  let dir: string;
  let p: OciProvider;

  beforeAll(async () => {
    dir = await makeTempDir("regplane-oci-order-");
    const layout = path.join(dir, "layout");
    await writeSyntheticImage(layout, { tag: "v1" });
    reg = await startRegistry();
    for (const name of NAMES) await pushImage(layout, "v1", reg.host, name, "v1");
    p = new OciProvider({ id: "lab", endpoint: reg.url, insecure: true, catalogPageSize: 2 });
  });

  afterAll(async () => {
    await p?.close();
    await reg?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("the registry really serves \"/\" first (the premise of this suite)", async () => {
    const res = await fetch(`${reg.url}/v2/_catalog`);
    const { repositories } = (await res.json()) as { repositories: string[] };
    expect(repositories).toEqual([...NAMES].sort(catalogCompare));
    expect(repositories).not.toEqual([...NAMES].sort());
  });

  it("pages images in native order one at a time without skipping or repeating a repository", async () => {
    const seen: ImageRecord[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages <= NAMES.length; pages++) {
      const page = await p.listImages({ order: [], limit: 1, nativeCursor: cursor, signal: AbortSignal.timeout(20_000) });
      seen.push(...page.images);
      if (page.done) break;
      cursor = page.nativeCursor;
    }
    expect(seen.map((i) => i.repository)).toEqual([...NAMES].sort());
  });

  it("pages images ordered by name with keyset cursors, and repositories after a key", async () => {
    const seen: ImageRecord[] = [];
    let after: ImageRecord | undefined;
    for (let pages = 0; pages <= NAMES.length; pages++) {
      const page = await p.listImages({ order: [{ field: "name", desc: false }], limit: 2, after, signal: AbortSignal.timeout(20_000) });
      seen.push(...page.images);
      if (page.done) break;
      after = page.images.at(-1);
    }
    expect(seen.map((i) => i.repository)).toEqual([...NAMES].sort());
    const rest = await p.listRepositories({ after: "a-b", limit: 100, signal: AbortSignal.timeout(20_000) });
    expect(rest.repositories.map((r) => r.name)).toEqual(["a.b", "a/b/c", "a/c", "a0", "ab"]);
  });
});
