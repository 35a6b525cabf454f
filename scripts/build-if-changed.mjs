// `npm start`'s build step: runs the incremental TypeScript build only when a file under src/ (or a
// tsconfig) is newer than the last build, so starting an unchanged checkout skips the compiler entirely.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync, utimesSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const record = path.join(root, "dist", ".tsbuildinfo");

function newestInput() {
  let newest = 0;
  for (const file of ["tsconfig.json", "tsconfig.build.json", "package.json"]) newest = Math.max(newest, statSync(path.join(root, file)).mtimeMs);
  for (const entry of readdirSync(path.join(root, "src"), { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

let built = 0;
try {
  built = statSync(record).mtimeMs;
} catch {
  built = 0;
}
if (built === 0 || newestInput() > built) {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const result = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json")], { stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
  // tsc leaves its record alone when nothing needed emitting; mark the inputs as seen.
  const now = new Date();
  utimesSync(record, now, now);
}
