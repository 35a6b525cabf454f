// Layout locks across processes: child processes do read-modify-write on one file under the lock;
// with the lock no increment is lost, for lock files (SQLite) and advisory locks (PostgreSQL).
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileLocks } from "../src/core/locks.js";
import { startPostgres, type PostgresServer } from "./support/postgres.js";

const run = promisify(execFile);
const PROCESSES = 3;
const ROUNDS = 40;

let dir: string;
let pg: PostgresServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "regplane-locks-"));
  pg = await startPostgres();
}, 60_000);

afterAll(async () => {
  await pg?.destroy();
  await rm(dir, { recursive: true, force: true });
});

/** Each child adds ROUNDS to the counter, yielding between its read and its write. */
async function race(kind: "file" | "postgres" | "none", url = ""): Promise<number> {
  const counter = join(dir, `counter-${kind}`);
  await writeFile(counter, "0");
  const script = join(dir, `locker-${kind}.mts`);
  await writeFile(
    script,
    `import { readFile, writeFile } from "node:fs/promises";
     import { setImmediate as yieldNow } from "node:timers/promises";
     import { FileLocks, PostgresLocks, ProcessLocks } from ${JSON.stringify(resolve("src/core/locks.ts"))};
     import { ADVISORY_NAMESPACE, PostgresStore } from ${JSON.stringify(resolve("src/store/postgres.ts"))};
     const [kind, counter, lockDir, url] = process.argv.slice(2);
     const store = kind === "postgres" ? await PostgresStore.open({ url }) : undefined;
     const locks = kind === "file" ? new FileLocks(lockDir) : store ? new PostgresLocks(store, ADVISORY_NAMESPACE.layout) : new ProcessLocks();
     for (let i = 0; i < ${ROUNDS}; i++) {
       await locks.run("layout:/data/registry/team/app", async () => {
         const n = Number(await readFile(counter, "utf8"));
         for (let k = 0; k < 20; k++) await yieldNow();
         await writeFile(counter, String(n + 1));
       });
     }
     await store?.close();`,
  );
  await Promise.all(
    Array.from({ length: PROCESSES }, () => run(process.execPath, ["--import", "tsx", script, kind, counter, join(dir, "locks"), url], { cwd: process.cwd() })),
  );
  return Number(await readFile(counter, "utf8"));
}

describe("layout locks across processes", () => {
  it("lock files: no increment lost", async () => {
    expect(await race("file")).toBe(PROCESSES * ROUNDS);
  }, 120_000);

  it("PostgreSQL advisory locks: no increment lost", async () => {
    expect(await race("postgres", await pg.createDatabase())).toBe(PROCESSES * ROUNDS);
  }, 120_000);

  it("a lock file left by a process that died is taken over", async () => {
    const locks = new FileLocks(join(dir, "stale"));
    const child = await run(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
    const { createHash } = await import("node:crypto");
    const key = "layout:dead";
    await writeFile(join(dir, "stale", `${createHash("sha256").update(key).digest("hex").slice(0, 32)}.lock`), child.stdout);
    expect(await locks.run(key, async () => "ran")).toBe("ran");
  });
});
