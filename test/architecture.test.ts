// The house rules of src/, read from the import lines themselves: folders import one way only, adapters
// know no protobuf and no other adapter, and services reach providers only through core's interface.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SRC = join(ROOT, "src");

interface ImportLine {
  /** The importing file, relative to src/ ("services/image.ts"). */
  from: string;
  /** The specifier as written. */
  specifier: string;
  /** For a relative specifier: the imported file relative to src/ ("server/rpc.ts"). */
  target?: string;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (relative(SRC, path) !== "gen") out.push(...sourceFiles(path));
    } else if (entry.name.endsWith(".ts")) {
      out.push(path);
    }
  }
  return out;
}

// Static imports and re-exports (also multi-line ones), side-effect imports and dynamic import().
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g;

function importLines(): ImportLine[] {
  const lines: ImportLine[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file);
    for (const match of readFileSync(file, "utf8").matchAll(SPECIFIER)) {
      const specifier = match[1]!;
      const target = specifier.startsWith(".") ? relative(SRC, join(dirname(file), specifier)).replace(/\.js$/, ".ts") : undefined;
      lines.push({ from, specifier, target });
    }
  }
  return lines;
}

/** The folder a file belongs to: src/<folder>, with each provider under src/adapters/ a folder of its own. */
function folderOf(file: string): string {
  const parts = file.split("/");
  if (parts.length === 1) return "(src)";
  if (parts[0] === "adapters" && parts.length > 2) return `adapters/${parts[1]}`;
  return parts[0]!;
}

/** Every cycle in the folder graph, each as the folders along it ("a -> b -> a"), with one import per edge. */
function folderCycles(lines: ImportLine[]): string[] {
  const edges = new Map<string, Map<string, string>>();
  for (const line of lines) {
    if (line.target === undefined) continue;
    const a = folderOf(line.from);
    const b = folderOf(line.target);
    if (a === b) continue;
    if (!edges.has(a)) edges.set(a, new Map());
    if (!edges.get(a)!.has(b)) edges.get(a)!.set(b, `${line.from} imports ${line.specifier}`);
  }
  const cycles: string[] = [];
  const seen = new Set<string>();
  // A cycle is reported once, from its smallest folder name.
  const walk = (start: string, at: string, path: string[]) => {
    for (const [next, example] of edges.get(at) ?? []) {
      if (next === start) {
        const key = [...path, at].join(" -> ");
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push(`${[...path, at, start].join(" -> ")} (${example})`);
        }
      } else if (next > start && !path.includes(next)) {
        walk(start, next, [...path, at]);
      }
    }
  };
  for (const start of [...edges.keys()].sort()) walk(start, start, []);
  return cycles;
}

const isGenerated = (line: ImportLine) =>
  line.target?.startsWith("gen/") === true || line.specifier.startsWith("@bufbuild/") || line.specifier.startsWith("@connectrpc/");

/**
 * What each folder may import, as docs/architecture.md and the folders' READMEs say. An entry
 * "folder:file" allows that folder only from that one file (the composition, the server command).
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  core: [],
  store: ["core"],
  adapters: ["core", "adapters/*"],
  "adapters/*": ["core"],
  services: ["core", "gen"],
  server: ["services", "core", "store", "gen", "adapters:server/app.ts"],
  client: ["gen"],
  cli: ["server:cli/serve.ts", "core", "client", "gen"],
  "(src)": ["cli"],
};

function allowed(line: ImportLine): boolean {
  const from = folderOf(line.from);
  const to = folderOf(line.target!);
  if (from === to) return true;
  const rules = MAY_IMPORT[from.startsWith("adapters/") ? "adapters/*" : from] ?? [];
  return rules.some((rule) => {
    const [folder, onlyFile] = rule.split(":");
    const matches = folder === "adapters/*" ? to.startsWith("adapters/") : folder === to;
    return matches && (onlyFile === undefined || onlyFile === line.from);
  });
}

describe("src/ import rules", () => {
  const lines = importLines();

  it("reads the import lines of every folder", () => {
    const folders = new Set(lines.map((l) => folderOf(l.from)));
    for (const f of ["core", "store", "services", "server", "cli", "client", "adapters", "adapters/local", "adapters/oci"]) expect(folders).toContain(f);
  });

  it("has no cycle between folders", () => {
    expect(folderCycles(lines)).toEqual([]);
  });

  it("finds a cycle when one is there", () => {
    const made: ImportLine[] = [
      { from: "core/a.ts", specifier: "../store/b.js", target: "store/b.ts" },
      { from: "store/b.ts", specifier: "../services/c.js", target: "services/c.ts" },
      { from: "services/c.ts", specifier: "../core/a.js", target: "core/a.ts" },
    ];
    expect(folderCycles(made)).toHaveLength(1);
  });

  it("imports only the folders each folder may import", () => {
    const offending = lines.filter((l) => l.target !== undefined && !allowed(l)).map((l) => `${l.from} imports ${l.specifier}`);
    expect(offending).toEqual([]);
  });

  it("keeps protobuf out of core, the store and the adapters", () => {
    const offending = lines
      .filter((l) => ["core", "store", "adapters"].includes(folderOf(l.from).split("/")[0]!) && isGenerated(l))
      .map((l) => `${l.from} imports ${l.specifier}`);
    expect(offending).toEqual([]);
  });

  it("keeps protobuf and other adapters out of every adapter", () => {
    const offending = lines
      .filter((l) => folderOf(l.from).startsWith("adapters/"))
      .filter((l) => isGenerated(l) || (l.target !== undefined && l.target.startsWith("adapters/") && folderOf(l.target) !== folderOf(l.from)))
      .map((l) => `${l.from} imports ${l.specifier}`);
    expect(offending).toEqual([]);
  });

  it("keeps adapters out of the services", () => {
    const offending = lines
      .filter((l) => folderOf(l.from) === "services" && l.target?.startsWith("adapters/") === true)
      .map((l) => `${l.from} imports ${l.specifier}`);
    expect(offending).toEqual([]);
  });
});
