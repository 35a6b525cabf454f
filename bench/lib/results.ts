// Result rows: one figure each, with the baseline measured in the same run, the ratio value/baseline,
// and the goal it is judged against; written as bench/results/latest.{md,json}.
import { mkdirSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { round } from "./stats.js";

export interface Row {
  name: string;
  value: number | null;
  unit: string;
  baseline: number | null;
  /** value / baseline. */
  ratio: number | null;
  /** e.g. "ratio >= 0.6" or "value < 300"; null when the figure is reported without a goal. */
  goal: string | null;
  meets: boolean | null;
  /** Why a figure has no value ("not measured: …"), or what its baseline is. */
  note?: string;
}

export interface Goal {
  on: "ratio" | "value";
  op: ">=" | "<=" | "<" | ">";
  target: number;
}

export function goalText(goal: Goal): string {
  return `${goal.on} ${goal.op} ${goal.target}`;
}

function holds(actual: number, goal: Goal): boolean {
  switch (goal.op) {
    case ">=":
      return actual >= goal.target;
    case "<=":
      return actual <= goal.target;
    case "<":
      return actual < goal.target;
    case ">":
      return actual > goal.target;
  }
}

export function measured(name: string, unit: string, value: number, baseline: number | null, goal?: Goal, note?: string): Row {
  const ratio = baseline !== null && baseline !== 0 && Number.isFinite(baseline) ? value / baseline : null;
  const subject = goal?.on === "ratio" ? ratio : value;
  const row: Row = {
    name,
    value: round(value, 4),
    unit,
    baseline: baseline === null ? null : round(baseline, 4),
    ratio: ratio === null ? null : round(ratio, 4),
    goal: goal ? goalText(goal) : null,
    meets: goal && subject !== null && Number.isFinite(subject) ? holds(subject, goal) : null,
  };
  if (note !== undefined) row.note = note;
  return row;
}

export function notMeasured(name: string, unit: string, reason: string, goal?: Goal): Row {
  return { name, value: null, unit, baseline: null, ratio: null, goal: goal ? goalText(goal) : null, meets: null, note: `not measured: ${reason}` };
}

export interface FigureReport {
  name: string;
  title: string;
  rows: Row[];
  /** How the figure was measured, for the reader of latest.md. */
  method: string[];
  seconds: number;
}

function fmt(n: number | null): string {
  if (n === null) return "—";
  const abs = Math.abs(n);
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  if (abs >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

function meetsText(row: Row): string {
  if (row.meets === null) return row.goal === null ? "—" : "n/a";
  return row.meets ? "yes" : "**no**";
}

/** One line for the progress output. */
export function rowLine(row: Row): string {
  if (row.value === null) return `  ${row.name}: ${row.note ?? "not measured"}`;
  const base = row.baseline === null ? "" : `  baseline ${fmt(row.baseline)} ${row.unit}  ratio ${fmt(row.ratio)}`;
  const goal = row.goal === null ? "  (no goal)" : `  goal ${row.goal}: ${row.meets === null ? "n/a" : row.meets ? "meets" : "MISSES"}`;
  return `  ${row.name}: ${fmt(row.value)} ${row.unit}${base}${goal}`;
}

export interface RunInfo {
  mode: "full" | "quick";
  /** os.loadavg() at the start and the end: how busy the shared machine was. */
  load: { start: number[]; end: number[] };
  only: string[] | undefined;
  startedAt: Date;
  seconds: number;
}

export function writeResults(dir: string, figures: FigureReport[], info: RunInfo): { md: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const rows = figures.flatMap((f) => f.rows);
  const json = path.join(dir, "latest.json");
  writeFileSync(json, `${JSON.stringify(rows, null, 2)}\n`);

  const cpus = os.cpus();
  const lines = [
    "# regplane benchmarks",
    "",
    `Run ${info.startedAt.toISOString()}, ${info.mode} mode${info.only ? ` (only ${info.only.join(", ")})` : ""}, ${Math.round(info.seconds)} s in all, ` +
      `on ${cpus.length} × ${cpus[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}, ${os.platform()} ${os.release()}; ` +
      `load average ${info.load.start.map((l) => l.toFixed(1)).join(" ")} at the start, ${info.load.end.map((l) => l.toFixed(1)).join(" ")} at the end.`,
    "",
    "Every baseline is measured in the same run on the same machine, and the goal is stated on the ratio",
    "wherever one exists: the machine's cores are shared (by the load generator, the server, and other work),",
    "so absolute numbers move from run to run while ratios are what the goals judge. `ratio` is always",
    "value / baseline. The regplane server runs as its own process (`node dist/main.js` as `npm start` runs it, or",
    "`bench/servers/app.ts`, running the same compiled code, where a provider has to be injected) with `--log-level warn`, so per-call",
    "logging does not dominate the figures. `npm run bench -- --quick` is a small version of the same run.",
    "",
    "| figure | value | unit | baseline | ratio | goal | meets |",
    "|---|---:|---|---:|---:|---|---|",
  ];
  for (const r of rows) {
    const value = r.value === null ? (r.note ?? "not measured") : fmt(r.value);
    lines.push(`| ${r.name} | ${value} | ${r.unit} | ${fmt(r.baseline)} | ${fmt(r.ratio)} | ${r.goal ?? "—"} | ${meetsText(r)} |`);
  }
  for (const f of figures) {
    lines.push("", `## ${f.title} (\`${f.name}\`, ${Math.round(f.seconds)} s)`, "");
    for (const m of f.method) lines.push(`- ${m}`);
    const notes = f.rows.filter((r) => r.note !== undefined && r.value !== null);
    for (const r of notes) lines.push(`- \`${r.name}\`: ${r.note}`);
  }
  const md = path.join(dir, "latest.md");
  writeFileSync(md, `${lines.join("\n")}\n`);
  return { md, json };
}
