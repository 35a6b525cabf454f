// Starting an unchanged checkout does not recompile it, and the command line answers --help without
// loading the server: checked on a copy of the project built with its own package.json scripts.
import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./support/cli.js";
import { makeTempDir } from "./support/images.js";

const exec = promisify(execFile);
let copy: string;
const pkg = JSON.parse(await fs.readFile(path.join(ROOT, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  bin: Record<string, string>;
};

/** The build half of `npm start` (everything before "&& node"), run in the copy as npm runs it. */
async function startBuild(): Promise<void> {
  const build = pkg.scripts.start.split("&&")[0].trim();
  await exec("sh", ["-c", build], { cwd: copy, env: { ...process.env, PATH: `${path.join(copy, "node_modules/.bin")}:${process.env.PATH}` } });
}

async function outputTimes(): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  for (const entry of await fs.readdir(path.join(copy, "dist"), { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith(".js")) {
      const file = path.join(entry.parentPath, entry.name);
      times.set(path.relative(copy, file), (await fs.stat(file)).mtimeMs);
    }
  }
  return times;
}

beforeAll(async () => {
  copy = await makeTempDir("regplane-start-");
  for (const f of ["package.json", "tsconfig.json", "tsconfig.build.json"]) await fs.copyFile(path.join(ROOT, f), path.join(copy, f));
  await fs.cp(path.join(ROOT, "src"), path.join(copy, "src"), { recursive: true });
  await fs.cp(path.join(ROOT, "scripts"), path.join(copy, "scripts"), { recursive: true });
  await fs.symlink(path.join(ROOT, "node_modules"), path.join(copy, "node_modules"));
  await startBuild();
}, 300_000);

afterAll(async () => {
  if (copy) await fs.rm(copy, { recursive: true, force: true });
});

describe("start-up", () => {
  it("npm start's build writes nothing when nothing changed, and only the changed file's output when one did", async () => {
    expect(pkg.scripts.start).toMatch(/&& node dist\/main\.js$/);
    const before = await outputTimes();
    expect(before.size).toBeGreaterThan(50);
    const record = (await fs.stat(path.join(copy, "dist/.tsbuildinfo"))).mtimeMs;
    await startBuild();
    expect(await outputTimes()).toEqual(before);
    // Not even the compiler ran: it would have rewritten its record.
    expect((await fs.stat(path.join(copy, "dist/.tsbuildinfo"))).mtimeMs).toBe(record);

    const changed = path.join(copy, "src/cli/exit.ts");
    await fs.appendFile(changed, "\n// changed\n");
    await startBuild();
    const after = await outputTimes();
    const rewritten = [...after].filter(([file, t]) => before.get(file) !== t).map(([file]) => file);
    expect(rewritten).toEqual(["dist/cli/exit.js"]);
  }, 300_000);

  it("tsx is a development dependency only; the bin is the compiled command line", () => {
    expect(pkg.dependencies.tsx).toBeUndefined();
    expect(pkg.devDependencies.tsx).toBeDefined();
    expect(pkg.bin.regplane).toBe("dist/cli/main.js");
  });

  it("regplane --help and --version load no server, store or provider module, nor the API clients", async () => {
    const log = path.join(copy, "loaded.txt");
    const hooks = path.join(copy, "hooks.mjs");
    await fs.writeFile(
      hooks,
      `import { appendFileSync } from "node:fs";\nexport async function resolve(specifier, context, next) {\n  const r = await next(specifier, context);\n  appendFileSync(${JSON.stringify(log)}, r.url + "\\n");\n  return r;\n}\n`,
    );
    const register = `data:text/javascript,import{register}from"node:module";register(${JSON.stringify(`file://${hooks}`)})`;
    for (const flag of ["--help", "--version"]) {
      await fs.rm(log, { force: true });
      const { stdout } = await exec(process.execPath, ["--import", register, path.join(copy, pkg.bin.regplane), flag], { cwd: copy });
      expect(stdout).toMatch(flag === "--help" ? /^Usage: regplane / : /^\d+\.\d+\.\d+\n$/);
      const loaded = (await fs.readFile(log, "utf8")).trim().split("\n");
      expect(loaded).toContain(`file://${path.join(copy, "dist/cli/program.js")}`);
      const server = loaded.filter((url) => /\/dist\/(server|store|adapters|services)\/|\/dist\/main\.js$|node_modules\/(pino|better-sqlite3|@grpc)\//.test(url));
      expect(server).toEqual([]);
      // Nor what only a call needs: clients, generated code, printers.
      const client = loaded.filter((url) => /\/dist\/(gen|client)\/|node_modules\/(@connectrpc|@bufbuild\/protobuf\/dist\/esm\/(?!wkt)|yaml|cli-table3)/.test(url));
      expect(client).toEqual([]);
    }
  });
});
