// Bundles the web console (web/src) into static files: index.html plus content-hashed, minified JS and CSS
// under assets/ (linked relatively, so the folder can be hosted under any path). Run at package time
// (`npm run build:web`); the server only serves the output.
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";

export const WEB_ROOT = import.meta.dirname;
export const DEFAULT_OUT_DIR = path.join(WEB_ROOT, "dist");

/** Builds the console into outDir (emptied first); returns the paths written, relative to outDir. */
export async function buildConsole(outDir = DEFAULT_OUT_DIR): Promise<string[]> {
  await rm(outDir, { recursive: true, force: true });
  const result = await build({
    entryPoints: [path.join(WEB_ROOT, "src/app.ts")],
    outdir: path.join(outDir, "assets"),
    entryNames: "[name]-[hash]",
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2022", "chrome110", "firefox110", "safari16"],
    minify: true,
    legalComments: "none",
    metafile: true,
    write: true,
    logLevel: "warning",
  });
  const outputs = Object.keys(result.metafile.outputs).map((file) => path.relative(outDir, path.resolve(file)));
  const script = outputs.find((file) => file.endsWith(".js"));
  const style = outputs.find((file) => file.endsWith(".css"));
  if (script === undefined || style === undefined) throw new Error(`expected one .js and one .css output, got ${outputs.join(", ")}`);
  const template = await readFile(path.join(WEB_ROOT, "src/index.html"), "utf8");
  const html = template.replace("%SCRIPT%", script).replace("%STYLE%", style);
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, "index.html"), html);
  return ["index.html", ...outputs].sort();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outDir = process.argv[2] ?? DEFAULT_OUT_DIR;
  const files = await buildConsole(outDir);
  console.log(`web console built into ${path.relative(process.cwd(), outDir) || "."}: ${files.join(", ")}`);
}
