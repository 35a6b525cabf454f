// Locks on a layout (or any named resource) that hold across processes, for replicas sharing a data
// dir: a PostgreSQL advisory lock when the state is in PostgreSQL, a lock file for processes on one
// host with SQLite. Each first serializes inside the process, so one process holds one lock per key.
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface LockService {
  /** Runs `task` while holding the lock named `key`, in this process and in every other sharing the service. */
  run<T>(key: string, task: () => Promise<T>): Promise<T>;
}

/** Serializes tasks per key inside this process only. */
export class ProcessLocks implements LockService {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => current);
    this.tails.set(key, tail);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** What PostgresLocks needs of the store: a dedicated session, since advisory locks belong to one. */
export interface AdvisorySessionSource {
  connect(): Promise<{ query(sql: string, args?: unknown[]): Promise<unknown>; release(destroy?: boolean): void }>;
}

/** A session-level advisory lock keyed (namespace, hashtext(key)), held on its own connection for the task. */
export class PostgresLocks implements LockService {
  private readonly local = new ProcessLocks();

  constructor(
    private readonly sessions: AdvisorySessionSource,
    private readonly namespace: number,
  ) {}

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    return this.local.run(key, async () => {
      const session = await this.sessions.connect();
      let broken = false;
      try {
        await session.query("SELECT pg_advisory_lock($1, hashtext($2))", [this.namespace, key]);
        return await task();
      } finally {
        // Unlocking can fail only with the session gone, and then the server has dropped the lock already.
        await session.query("SELECT pg_advisory_unlock($1, hashtext($2))", [this.namespace, key]).catch(() => (broken = true));
        session.release(broken);
      }
    });
  }
}

const FILE_LOCK_RETRY_MS = 5;

/**
 * A lock file per key under `dir`, holding the owner's pid. A file whose pid
 * is no longer alive on this host (a process killed with -9) is stale and taken over.
 */
export class FileLocks implements LockService {
  private readonly local = new ProcessLocks();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const file = path.join(this.dir, `${createHash("sha256").update(key).digest("hex").slice(0, 32)}.lock`);
    return this.local.run(key, async () => {
      await this.acquire(file);
      try {
        return await task();
      } finally {
        await fs.rm(file, { force: true });
      }
    });
  }

  private async acquire(file: string): Promise<void> {
    // The pid is written before the lock file exists (link is atomic and fails if it does), so a
    // process killed at any point never leaves a lock file without an owner to check.
    const draft = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    await fs.writeFile(draft, String(process.pid));
    try {
      for (;;) {
        try {
          await fs.link(draft, file);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        }
        if (await isStale(file)) {
          // Rename first: of two processes finding it stale, only one removes it.
          const doomed = `${file}.stale-${process.pid}`;
          await fs.rename(file, doomed).then(
            () => fs.rm(doomed, { force: true }),
            () => {},
          );
          continue;
        }
        await sleep(FILE_LOCK_RETRY_MS);
      }
    } finally {
      await fs.rm(draft, { force: true });
    }
  }
}

async function isStale(file: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number(await fs.readFile(file, "utf8"));
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** Bound after the store opens; layouts are only locked once requests arrive, after that. */
export class DeferredLocks implements LockService {
  private target: LockService = new ProcessLocks();

  use(target: LockService): void {
    this.target = target;
  }

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    return this.target.run(key, task);
  }
}
