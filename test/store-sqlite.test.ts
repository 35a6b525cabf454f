import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code, RegplaneError } from "../src/core/errors.js";
import { openSqliteStore, type SqliteStore } from "../src/store/sqlite.js";
import { describeStoreContract, newOp, at } from "./support/store-contract.js";

let contractDir: string | undefined;

describeStoreContract(
  "sqlite",
  async () => {
    contractDir ??= await mkdtemp(join(tmpdir(), "regplane-store-"));
    return openSqliteStore(join(contractDir, "state.db"));
  },
  async () => {
    if (contractDir) await rm(contractDir, { recursive: true, force: true });
    contractDir = undefined;
  },
);

describe("SqliteStore file", () => {
  let dir: string;
  const stores: SqliteStore[] = [];

  function openIn(...parts: string[]): SqliteStore {
    const store = openSqliteStore(join(dir, ...parts));
    stores.push(store);
    return store;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "regplane-sqlite-"));
  });

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("creates parent directories, uses WAL and records the schema version", async () => {
    const store = openIn("nested", "deeper", "state.db");
    await store.initSetting("k", "v");
    const raw = new Database(join(dir, "nested", "deeper", "state.db"), { readonly: true });
    try {
      expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(raw.pragma("user_version", { simple: true })).toBeGreaterThanOrEqual(1);
    } finally {
      raw.close();
    }
  });

  it("refuses a file written by a newer schema", async () => {
    const store = openIn("state.db");
    await store.close();
    const raw = new Database(join(dir, "state.db"));
    raw.pragma("user_version = 999");
    raw.close();
    expect(() => openIn("state.db")).toThrow(RegplaneError);
    expect(() => openIn("state.db")).toThrow(expect.objectContaining({ code: Code.FAILED_PRECONDITION }));
  });

  it("purges expired page states", async () => {
    const store = openIn("state.db");
    await store.putPageState("expired", new Uint8Array([1]), new Date(Date.now() - 1000));
    await store.putPageState("live", new Uint8Array([2]), new Date(Date.now() + 60_000));
    expect(await store.getPageState("expired")).toBeUndefined();
    const raw = new Database(join(dir, "state.db"), { readonly: true });
    try {
      const handles = raw.prepare("SELECT handle FROM page_states ORDER BY handle").pluck().all();
      expect(handles).toEqual(["live"]);
    } finally {
      raw.close();
    }
  });

  it("gives each operation to one process when several processes claim from one file", async () => {
    const store = openIn("state.db");
    const total = 300;
    const workers = 4;
    for (let i = 0; i < total; i++) {
      await store.createOperation(newOp(`op-${String(i).padStart(3, "0")}`, { createdAt: at(i) }));
    }

    // Each child opens the file, reports ready, waits for "go" so that all claim at once, then
    // claims until nothing is left and prints the ids it got.
    const script = join(dir, "claimer.mts");
    const storeModule = resolve("src/store/sqlite.ts");
    await writeFile(
      script,
      `import { existsSync, writeFileSync } from "node:fs";
       import { setTimeout as sleep } from "node:timers/promises";
       import { openSqliteStore } from ${JSON.stringify(storeModule)};
       const [file, workerId, dir] = process.argv.slice(2);
       const store = openSqliteStore(file);
       writeFileSync(dir + "/ready-" + workerId, "");
       // Spin rather than sleep, so that every child starts claiming within microseconds of the others.
       while (!existsSync(dir + "/go"));
       const ids = [];
       for (;;) {
         const op = await store.claimOperation(workerId, 600000, new Date(${at(1000).getTime()}));
         if (!op) break;
         ids.push(op.id);
         // A real worker now runs the handler, leaving the lock to the others.
         await sleep(1);
       }
       await store.close();
       process.stdout.write(JSON.stringify(ids));`,
    );
    const run = promisify(execFile);
    const children = Array.from({ length: workers }, (_, n) =>
      run(process.execPath, ["--import", "tsx", script, join(dir, "state.db"), `worker-${n}`, dir], {
        cwd: process.cwd(),
      }),
    );
    while ((await readdir(dir)).filter((f) => f.startsWith("ready-")).length < workers) await sleep(10);
    await writeFile(join(dir, "go"), "");
    const outputs = await Promise.all(children);

    const perWorker = outputs.map((o) => JSON.parse(o.stdout) as string[]);
    const claimed = perWorker.flat();
    expect(claimed).toHaveLength(total);
    expect(new Set(claimed).size).toBe(total);
    // The workers really overlapped: more than one of them got work.
    expect(perWorker.filter((ids) => ids.length > 0).length).toBeGreaterThan(1);
    expect(await store.countOperations()).toEqual({ pending: 0, running: total, done: 0 });
  });
});
