// Figure 4: fan-out. A List page spanning a folder of 8 registries that each take 20 ms to answer,
// against a page of one such registry: registries in a folder should be asked in parallel.
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { ensureCatalog, imageCount, type CatalogSpec } from "../lib/catalog.js";
import type { BenchContext, Figure, FigureOutcome } from "../lib/figure.js";
import { ROOT, startBenchServer } from "../lib/process.js";
import { measured } from "../lib/results.js";
import { imageClient, listPage, type ListScope } from "../lib/rpc-clients.js";
import { median, percentile } from "../lib/stats.js";

const REGISTRIES = 8;
const DELAY_MS = 20;
const PAGE_SIZE = 100;

export const fanOutFigure: Figure = {
  name: "fan-out",
  title: `Fan-out: a page across ${REGISTRIES} registries answering in ${DELAY_MS} ms vs a page of one`,
  async run(ctx: BenchContext): Promise<FigureOutcome> {
    const samples = ctx.quick ? 10 : 40;
    const ids = Array.from({ length: REGISTRIES }, (_, i) => `fan-${i}`);
    // 12 images each: one page of 100 spans all 8 registries (96 images) and ends the walk.
    const spec = (i: number): CatalogSpec => ({ seed: `fan-${i}`, namespaces: 1, repositoriesPerNamespace: 3, imagesPerRepository: 4 });
    const perRegistry = imageCount(spec(0));
    // The baseline registry holds as many images as the whole folder, so both pages are the same size
    // and differ only in how many registries answer.
    const soloSpec: CatalogSpec = { ...spec(0), seed: "fan-solo", repositoriesPerNamespace: spec(0).repositoriesPerNamespace * REGISTRIES };
    const line = (id: string, s: CatalogSpec) => `  - {id: ${id}, provider: delayed-local, delayMs: ${DELAY_MS}, path: ${JSON.stringify(ensureCatalog(ctx.cacheDir, s).root)}}`;
    const lines = [...ids.map((id, i) => line(id, spec(i))), line("solo", soloSpec)];
    const dataDir = path.join(ctx.workDir, "data");
    mkdirSync(dataDir, { recursive: true });
    const configFile = path.join(ctx.workDir, "regplane.yaml");
    writeFileSync(configFile, `registries:\n${lines.join("\n")}\nfolders:\n  - {id: fan, registries: [${ids.join(", ")}]}\n`);
    const server = await startBenchServer<{ grpcPort: number }>(path.join(ROOT, "bench/servers/app.ts"), ["--config", configFile, "--data-dir", dataDir]);
    const client = imageClient(`127.0.0.1:${server.ready.grpcPort}`);
    try {
      const time = async (scope: ListScope, expected: number): Promise<number> => {
        const t = performance.now();
        const page = await listPage(client, scope, PAGE_SIZE);
        const ms = performance.now() - t;
        const registries = new Set(page.images.map((img) => img.name.split("/")[0]));
        if (page.images.length !== expected || page.nextPageToken !== "" || page.unreachable.length > 0) {
          throw new Error(`List ${JSON.stringify(scope)} returned ${page.images.length} images (expected ${expected}), unreachable [${page.unreachable.join(", ")}]`);
        }
        if (registries.size !== (scope.folderId ? REGISTRIES : 1)) throw new Error(`the page spans ${registries.size} registries`);
        return ms;
      };
      const folder = { folderId: "fan" };
      const single = { registryId: "solo" };
      const images = perRegistry * REGISTRIES;
      for (let i = 0; i < 3; i++) {
        await time(folder, images);
        await time(single, images);
      }
      const folderMs: number[] = [];
      const singleMs: number[] = [];
      for (let i = 0; i < samples; i++) {
        folderMs.push(await time(folder, images));
        singleMs.push(await time(single, images));
      }
      ctx.log(`${samples} samples each: folder median ${median(folderMs).toFixed(1)} ms, one registry ${median(singleMs).toFixed(1)} ms`);
      return {
        rows: [
          measured(`fan_out.page_of_${REGISTRIES}_registries`, "ms", median(folderMs), median(singleMs), { on: "ratio", op: "<=", target: 1.3 }, `median of ${samples}; baseline: a page of the same size from one such registry (median of ${samples})`),
          measured(`fan_out.page_of_${REGISTRIES}_registries.p90`, "ms", percentile(folderMs, 90), percentile(singleMs, 90)),
        ],
        method: [
          `${REGISTRIES} embedded registries of ${perRegistry} images each in folder \`fan\`, and registry \`solo\` holding ${perRegistry * REGISTRIES} images; every one wrapped so that each listing call waits ${DELAY_MS} ms (a timer, honouring cancellation) before reading its layouts: a registry that answers in ${DELAY_MS} ms without loading the machine.`,
          "The wrapper is a provider kind injected through startApp's optional factories parameter; the server is `bench/servers/app.ts`, the same startApp wiring as src/main.ts from the compiled dist/, as its own process with log level warn. A proxy in front of real registries was not used: the OCI adapter sends several requests per repository, so a per-request delay would measure the adapter's request count rather than fan-out.",
          `A grpc-js client alternates List(folder_id=fan, page_size ${PAGE_SIZE}), one page holding all ${perRegistry * REGISTRIES} images of the ${REGISTRIES} registries, and List(registry_id=solo, page_size ${PAGE_SIZE}), a page of the same ${perRegistry * REGISTRIES} images from one registry, so both responses are the same size; ${samples} samples each after 3 warm-ups; figures are medians. Serial calls would take ≥ ${REGISTRIES * DELAY_MS} ms.`,
        ],
      };
    } finally {
      client.close();
      await server.stop();
    }
  },
};
