// `npm run bench`: measures regplane against baselines taken in the same run and writes
// bench/results/latest.{md,json}. `--quick` is a small version for CI; `--only a,b` runs some figures.
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { deepPagingFigure } from "./figures/deep-paging.js";
import { bulkDeleteFigure } from "./figures/bulk-delete.js";
import { deletesFigure } from "./figures/deletes.js";
import { fanOutFigure } from "./figures/fan-out.js";
import { listFigure } from "./figures/list.js";
import { ociFigure } from "./figures/oci.js";
import { replicasFigure } from "./figures/replicas.js";
import { rpcFigure } from "./figures/rpc.js";
import type { BenchContext, Figure } from "./lib/figure.js";
import { rowLine, writeResults, type FigureReport } from "./lib/results.js";

const FIGURES: Figure[] = [rpcFigure, listFigure, deepPagingFigure, fanOutFigure, ociFigure, deletesFigure, bulkDeleteFigure, replicasFigure];

const USAGE = `Usage: npm run bench -- [--quick] [--only NAME,...] [--cache-dir DIR] [--out DIR]

  --quick          a small version of every figure (under a minute), for CI
  --only LIST      run only these figures: ${FIGURES.map((f) => f.name).join(", ")}
  --cache-dir DIR  where generated catalogs and registry storage are kept between runs
                   (default ${path.join(os.tmpdir(), "regplane-bench-cache")})
  --out DIR        where latest.md and latest.json are written (default bench/results)
`;

/** The first line of an error, plus the first line naming an error below it (a child's stderr). */
function summary(message: string): string {
  const [first, ...rest] = message.split("\n");
  const cause = rest.find((line) => /\b\w*Error\b/.test(line));
  return cause === undefined ? first : `${first} ${cause.trim()}`;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: "boolean" },
        only: { type: "string" },
        "cache-dir": { type: "string" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const only = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = only?.filter((n) => !FIGURES.some((f) => f.name === n)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(`unknown figure(s): ${unknown.join(", ")}\n\n${USAGE}`);
    return 2;
  }
  const selected = FIGURES.filter((f) => only === undefined || only.includes(f.name));
  const quick = values.quick ?? false;
  const startedAt = new Date();
  const loadAtStart = os.loadavg();
  const started = performance.now();
  const workDir = mkdtempSync(path.join(os.tmpdir(), "regplane-bench-"));
  const stamp = () => `[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s]`;
  const reports: FigureReport[] = [];
  let failures = 0;
  console.log(`regplane bench: ${quick ? "quick" : "full"} run of ${selected.map((f) => f.name).join(", ")}`);
  try {
    for (const figure of selected) {
      console.log(`${stamp()} ${figure.name}: ${figure.title}`);
      const ctx: BenchContext = {
        quick,
        cacheDir: values["cache-dir"] ?? path.join(os.tmpdir(), "regplane-bench-cache"),
        workDir: mkdtempSync(path.join(workDir, `${figure.name}-`)),
        log: (message) => console.log(`${stamp()}   ${figure.name}: ${message}`),
      };
      const figureStarted = performance.now();
      let report: FigureReport;
      try {
        const outcome = await figure.run(ctx);
        report = { name: figure.name, title: figure.title, ...outcome, seconds: (performance.now() - figureStarted) / 1000 };
      } catch (err) {
        failures++;
        const message = err instanceof Error ? err.message : String(err);
        console.error(`${stamp()} ${figure.name} FAILED: ${err instanceof Error ? (err.stack ?? message) : message}`);
        report = {
          name: figure.name,
          title: figure.title,
          rows: [{ name: `${figure.name}`, value: null, unit: "", baseline: null, ratio: null, goal: null, meets: null, note: `not measured: failed: ${summary(message)}` }],
          method: [],
          seconds: (performance.now() - figureStarted) / 1000,
        };
      }
      for (const row of report.rows) console.log(rowLine(row));
      reports.push(report);
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  const files = writeResults(values.out ?? path.join(import.meta.dirname, "results"), reports, {
    mode: quick ? "quick" : "full",
    load: { start: loadAtStart, end: os.loadavg() },
    only,
    startedAt,
    seconds,
  });
  console.log(`${stamp()} done in ${seconds.toFixed(1)} s; wrote ${path.relative(process.cwd(), files.md)} and ${path.relative(process.cwd(), files.json)}`);
  const missed = reports.flatMap((r) => r.rows).filter((r) => r.meets === false);
  if (missed.length > 0) console.log(`goals missed: ${missed.map((r) => r.name).join(", ")}`);
  return failures > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
