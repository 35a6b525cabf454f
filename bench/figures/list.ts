// Figure 2: List over a 100,000-image embedded registry: pages per second and p99 at page sizes 100 and
// 1000 against a no-op server returning the same page bytes, and the server's memory during full walks.
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { ListImagesResponseSchema } from "../../src/gen/regplane/v1/image_service_pb.js";
import { ensureCatalog, type CatalogSpec } from "../lib/catalog.js";
import type { BenchContext, Figure, FigureOutcome } from "../lib/figure.js";
import { memoryOf, ROOT, sampleRss, startBenchServer, startRegplane, type RssSample } from "../lib/process.js";
import { measured, type Row } from "../lib/results.js";
import { imageClient, listPage, walkList, type ListedPage, type Walk } from "../lib/rpc-clients.js";
import { percentile } from "../lib/stats.js";

const MB = 1024 * 1024;
const SCOPE = { registryId: "local" };

export function listCatalogSpec(quick: boolean): CatalogSpec {
  // 100 images per repository in many repositories: 1,000 layouts for the full catalog.
  return quick
    ? { seed: "list", namespaces: 2, repositoriesPerNamespace: 10, imagesPerRepository: 100 }
    : { seed: "list", namespaces: 10, repositoriesPerNamespace: 100, imagesPerRepository: 100 };
}

function pagesPerSecond(walk: Walk): number {
  return walk.pages / (walk.totalMs / 1000);
}

/** The server's V8 heap from its /metrics (prom-client default metrics), to tell heap from other memory. */
async function heapOf(httpUrl: string): Promise<string> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^regplane_nodejs_${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN) / MB;
  return `${value("heap_size_used_bytes").toFixed(0)} MB used of ${value("heap_size_total_bytes").toFixed(0)} MB, external ${value("external_memory_bytes").toFixed(0)} MB`;
}

/** Largest resident set among samples taken in [fromMs, toMs). */
function peakBetween(samples: RssSample[], fromMs: number, toMs: number): number {
  return Math.max(...samples.filter((s) => s.atMs >= fromMs && s.atMs < toMs).map((s) => s.rss));
}

interface RegplaneWalks {
  /** The first walk (page_size 1000), which reads every layout. */
  cold: Walk;
  /** The walks after it, by page size. */
  warm: Map<number, Walk>;
  firstPages: Map<number, ListedPage>;
  /** When the page_size 100 walk ran, in ms on the clock of `samples`. */
  warmWindow: { from: number; to: number };
  samples: RssSample[];
  hwm: number;
  rssIdle: number;
  heap: string;
}

/** regplane over the catalog: a first walk at page_size 1000, then walks at 100 and 1000, memory sampled. */
async function walkRegplane(ctx: BenchContext, root: string, images: number): Promise<RegplaneWalks> {
  const dataDir = path.join(ctx.workDir, "data");
  mkdirSync(dataDir, { recursive: true });
  const regplane = await startRegplane({ dataDir, config: `registries:\n  - {id: local, provider: local, path: ${JSON.stringify(root)}}\n` });
  const client = imageClient(regplane.grpcAddress);
  const rssIdle = memoryOf(regplane.pid).rss;
  const rss = sampleRss(regplane.pid, 25);
  const clock = performance.now();
  const firstPages = new Map<number, ListedPage>();
  const warm = new Map<number, Walk>();
  const walk = async (pageSize: number, label: string) => {
    const w = await walkList(client, SCOPE, pageSize, { onPage: (p, i) => i === 0 && firstPages.set(pageSize, p) });
    if (w.images !== images) throw new Error(`the walk returned ${w.images} images, the catalog holds ${images}`);
    ctx.log(`${label} (page_size ${pageSize}): ${w.pages} pages in ${(w.totalMs / 1000).toFixed(1)} s`);
    return w;
  };
  try {
    // The OS file cache may be warm from earlier runs; regplane's own caches are empty.
    const cold = await walk(1000, "first walk");
    const from = performance.now() - clock;
    warm.set(100, await walk(100, "walk"));
    const warmWindow = { from, to: performance.now() - clock };
    warm.set(1000, await walk(1000, "walk"));
    const samples = rss.stop();
    return { cold, warm, firstPages, warmWindow, samples, hwm: memoryOf(regplane.pid).hwm, rssIdle, heap: await heapOf(regplane.httpUrl) };
  } finally {
    rss.stop();
    client.close();
    await regplane.stop();
  }
}

/** The no-op server answering every List with regplane's first page: pages/s and p99 per page size. */
async function walkNoop(ctx: BenchContext, firstPages: Map<number, ListedPage>, pagesBySize: Map<number, number>): Promise<Map<number, { pagesPerSecond: number; p99: number }>> {
  const fixtures = path.join(ctx.workDir, "fixtures");
  mkdirSync(fixtures, { recursive: true });
  for (const [size, page] of firstPages) {
    const response = create(ListImagesResponseSchema, { images: page.images, nextPageToken: page.nextPageToken });
    writeFileSync(path.join(fixtures, `list-${size}.bin`), toBinary(ListImagesResponseSchema, response));
  }
  const noop = await startBenchServer<{ grpcPort: number }>(path.join(ROOT, "bench/servers/noop.ts"), ["--fixtures", fixtures]);
  const client = imageClient(`127.0.0.1:${noop.ready.grpcPort}`);
  const baseline = new Map<number, { pagesPerSecond: number; p99: number }>();
  try {
    for (const [pageSize, walked] of pagesBySize) {
      // A rate needs no full walk: enough calls to smooth the noise, capped to keep the run short.
      const pages = Math.min(walked, pageSize === 100 ? 300 : 50);
      const pageMs: number[] = [];
      const t = performance.now();
      for (let i = 0; i < pages; i++) {
        const s = performance.now();
        const page = await listPage(client, SCOPE, pageSize);
        pageMs.push(performance.now() - s);
        if (page.images.length !== firstPages.get(pageSize)!.images.length) throw new Error("the no-op server returned another page");
      }
      baseline.set(pageSize, { pagesPerSecond: pages / ((performance.now() - t) / 1000), p99: percentile(pageMs, 99) });
      ctx.log(`no-op server (page_size ${pageSize}): ${pages} pages`);
    }
    return baseline;
  } finally {
    client.close();
    await noop.stop();
  }
}

export const listFigure: Figure = {
  name: "list",
  title: "List: a 100,000-image embedded registry",
  async run(ctx: BenchContext): Promise<FigureOutcome> {
    const spec = listCatalogSpec(ctx.quick);
    const catalog = ensureCatalog(ctx.cacheDir, spec, (done, total) => ctx.log(`generating catalog: ${done}/${total} images`));
    ctx.log(`catalog of ${catalog.images} images in ${catalog.repositories} layouts ${catalog.generated ? `generated in ${catalog.seconds.toFixed(1)} s` : "reused from the cache"}: ${catalog.root}`);

    const { cold, warm, firstPages, warmWindow, samples, hwm, rssIdle, heap } = await walkRegplane(ctx, catalog.root, catalog.images);
    const baseline = await walkNoop(ctx, firstPages, new Map([...warm].map(([size, walk]) => [size, walk.pages])));

    const rows: Row[] = [];
    for (const pageSize of [100, 1000]) {
      const walk = warm.get(pageSize)!;
      const base = baseline.get(pageSize)!;
      rows.push(
        measured(`list.page${pageSize}.pages_per_s`, "pages/s", pagesPerSecond(walk), base.pagesPerSecond, undefined, `full walk of ${walk.pages} pages; baseline: a no-op grpc-js server returning the same page bytes`),
        measured(`list.page${pageSize}.p99`, "ms", percentile(walk.pageMs, 99), base.p99),
      );
    }
    const mid = (warmWindow.from + warmWindow.to) / 2;
    rows.push(
      measured("list.first_walk.images_per_s", "images/s", cold.images / (cold.totalMs / 1000), null, undefined, "the first walk after start (page_size 1000), which parses every layout"),
      measured("list.rss_peak", "MB", hwm / MB, rssIdle / MB, { on: "value", op: "<", target: 300 }, `VmHWM of the server after all walks; baseline: VmRSS after start, before the first List. At the end the V8 heap was ${heap}`),
      measured(
        "list.rss_flat",
        "MB",
        peakBetween(samples, mid, warmWindow.to + 1) / MB,
        peakBetween(samples, warmWindow.from, mid) / MB,
        { on: "ratio", op: "<=", target: 1.1 },
        "peak VmRSS in the second half of the page_size 100 walk; baseline: peak in its first half",
      ),
    );
    return {
      rows,
      method: [
        `Catalog: ${catalog.images} images in ${catalog.repositories} OCI layouts (${spec.imagesPerRepository} per layout, ${spec.namespaces} namespaces), each image a small config plus one tar+gzip layer, written directly and content-addressed with sha256; cached under ${ctx.cacheDir}.`,
        "regplane (dist/main.js, --log-level warn) serves it as registry `local`; a grpc-js client walks List (registry_id=local) three times: page_size 1000 (the first walk, reading every layout), then 100, then 1000. pages/s and p99 come from the last two (whole walks, one call at a time).",
        "Baseline for pages/s and p99: a no-op grpc-js server answering List with the first page regplane returned (same bytes), called by the same client one call at a time (up to 300 calls at page_size 100, 50 at 1000).",
        "Memory: /proc/<pid>/status of the server, VmRSS sampled every 25 ms and VmHWM at the end; the V8 heap from the server's /metrics. The process runs the compiled dist/main.js, as `npm start` does. `list.rss_flat` compares the peaks of the two halves of the page_size 100 walk (all layouts already read once): memory that grows with depth would show there; 10% is this benchmark's reading of \"flat\".",
      ],
    };
  },
};
