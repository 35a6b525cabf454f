// Figure 3: the page at depth 100,000 against the first page, over 200,000 embedded images in three
// registries of one folder. Keyset cursors should make both cost the same.
import { mkdirSync } from "node:fs";
import * as path from "node:path";
import { ensureCatalog, imageCount, type CatalogSpec } from "../lib/catalog.js";
import type { BenchContext, Figure, FigureOutcome } from "../lib/figure.js";
import { startRegplane } from "../lib/process.js";
import { measured } from "../lib/results.js";
import { imageClient, listPage, walkList, type ListedPage } from "../lib/rpc-clients.js";
import { median, percentile } from "../lib/stats.js";
import { listCatalogSpec } from "./list.js";

const PAGE_SIZE = 100;
const WALK_PAGE_SIZE = 1000;
/** The walk to depth reads layouts cold; on a loaded machine one registry's page of 1000 passed the default 10 s. */
const REGISTRY_TIMEOUT = "60s";

export const deepPagingFigure: Figure = {
  name: "deep-paging",
  title: "Deep paging: the page at depth 100,000 vs the first page",
  async run(ctx: BenchContext): Promise<FigureOutcome> {
    // The folder is [b, a, c]: depth 100,000 falls in the middle of registry a, not at a boundary.
    const a = listCatalogSpec(ctx.quick);
    const half: CatalogSpec = { ...a, repositoriesPerNamespace: a.repositoriesPerNamespace / 2 };
    const specs = { b: { ...half, seed: "deep-b" }, a, c: { ...half, seed: "deep-c" } };
    const catalogs = Object.fromEntries(
      Object.entries(specs).map(([id, spec]) => [id, ensureCatalog(ctx.cacheDir, spec, (done, total) => ctx.log(`generating registry ${id}: ${done}/${total} images`))]),
    );
    const total = Object.values(specs).reduce((n, s) => n + imageCount(s), 0);
    const depth = imageCount(specs.b) + imageCount(specs.a) / 2;
    const samples = ctx.quick ? 5 : 21;
    ctx.log(`${total} images in registries b, a, c; the deep page starts at image ${depth}`);

    const dataDir = path.join(ctx.workDir, "data");
    mkdirSync(dataDir, { recursive: true });
    const registries = ["b", "a", "c"].map((id) => `  - {id: ${id}, provider: local, path: ${JSON.stringify(catalogs[id].root)}}`);
    const regplane = await startRegplane({
      dataDir,
      config: `server: {registryTimeout: ${REGISTRY_TIMEOUT}}\nregistries:\n${registries.join("\n")}\nfolders:\n  - {id: deep, registries: [b, a, c]}\n`,
    });
    const client = imageClient(regplane.grpcAddress);
    const scope = { folderId: "deep" };
    try {
      const walk = await walkList(client, scope, WALK_PAGE_SIZE, { maxPages: depth / WALK_PAGE_SIZE });
      if (walk.images !== depth || walk.nextPageToken === "") throw new Error(`walked ${walk.images} images, expected ${depth} and more to come`);
      const deepToken = walk.nextPageToken;
      ctx.log(`walked to depth ${depth} in ${(walk.totalMs / 1000).toFixed(1)} s (${walk.pages} pages of ${WALK_PAGE_SIZE})`);
      // What the walk itself would return next, to check the deep page is that.
      const expected = await listPage(client, scope, WALK_PAGE_SIZE, deepToken);

      const firstMs: number[] = [];
      const deepMs: number[] = [];
      const time = async (token: string): Promise<{ ms: number; page: ListedPage }> => {
        const t = performance.now();
        const page = await listPage(client, scope, PAGE_SIZE, token);
        return { ms: performance.now() - t, page };
      };
      const want = expected.images.slice(0, PAGE_SIZE).map((img) => img.id).join();
      await time("");
      await time(deepToken);
      for (let i = 0; i < samples; i++) {
        const first = await time("");
        const deep = await time(deepToken);
        if (deep.page.images.map((img) => img.id).join() !== want) throw new Error("the page at depth is not where the walk was");
        if (first.page.images.length !== PAGE_SIZE || deep.page.images.length !== PAGE_SIZE) throw new Error("a short page");
        firstMs.push(first.ms);
        deepMs.push(deep.ms);
      }
      const deepRegistry = registryOf(expected);
      return {
        rows: [
          measured(`deep_paging.page_at_${depth}`, "ms", median(deepMs), median(firstMs), { on: "ratio", op: "<=", target: 1.5 }, `median of ${samples}; baseline: the first page (median of ${samples}); both page_size ${PAGE_SIZE}`),
          measured(`deep_paging.page_at_${depth}.p90`, "ms", percentile(deepMs, 90), percentile(firstMs, 90)),
        ],
        method: [
          `Three embedded registries in folder \`deep\`, in the order b (${imageCount(specs.b)} images), a (${imageCount(specs.a)}, the catalog of \`list\`), c (${imageCount(specs.c)}): ${total} images, generated once and cached.`,
          `A grpc-js client walks List (folder_id=deep) with page_size ${WALK_PAGE_SIZE} to depth ${depth} (registry ${deepRegistry}, mid-registry), then times page_size ${PAGE_SIZE} pages alternately from the first page and from the page token at depth, ${samples} samples each after one warm-up of each; figures are medians.`,
          "Each deep page is checked to hold exactly the images the walk would have returned next.",
          `\`server.registryTimeout\` is ${REGISTRY_TIMEOUT} (default 10 s): reading the walk's first pages from a cold disk once took more than 10 s for registry b on a loaded machine, leaving it unreachable for that page.`,
        ],
      };
    } finally {
      client.close();
      await regplane.stop();
    }
  },
};

/** The registry id of a page's first image (image names are "<registry id>/<repository>"). */
function registryOf(page: ListedPage): string {
  return page.images[0]?.name.split("/")[0] ?? "?";
}
