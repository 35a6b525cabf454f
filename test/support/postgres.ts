// Starts a real PostgreSQL 15 for tests: initdb and the postmaster run as the `postgres` user (initdb
// refuses root) on a temporary directory, listening on a free 127.0.0.1 port and a socket in that dir.
import { execFile } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import pg from "pg";

const BIN = "/usr/lib/postgresql/15/bin";
const run = promisify(execFile);

export interface PostgresServer {
  port: number;
  /** A URL for a fresh database made by createDatabase, or the default `postgres` one. */
  url(database?: string): string;
  /** Creates an empty database and returns its URL. */
  createDatabase(): Promise<string>;
  /** Stops the postmaster (fast shutdown) and waits for it; the data stays for restart(). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops and removes the data directory. */
  destroy(): Promise<void>;
}

export const postgresAvailable = existsSync(path.join(BIN, "initdb"));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Runs a binary as postgres when we are root; as ourselves otherwise. */
function asPostgres(bin: string, args: string[]): [string, string[]] {
  return userInfo().uid === 0 ? ["runuser", ["-u", "postgres", "--", path.join(BIN, bin), ...args]] : [path.join(BIN, bin), args];
}

export async function startPostgres(): Promise<PostgresServer> {
  const dir = mkdtempSync(path.join(tmpdir(), "regplane-pg-"));
  chmodSync(dir, 0o755);
  const dataDir = path.join(dir, "data");
  if (userInfo().uid === 0) {
    const pw = await run("id", ["-u", "postgres"]);
    const gr = await run("id", ["-g", "postgres"]);
    chownSync(dir, Number(pw.stdout.trim()), Number(gr.stdout.trim()));
  }
  const [initCmd, initArgs] = asPostgres("initdb", ["-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  await run(initCmd, initArgs);
  const port = await freePort();
  let sequence = 0;

  async function start(): Promise<void> {
    const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
    const [cmd, args] = asPostgres("pg_ctl", ["-D", dataDir, "-o", opts, "-l", path.join(dir, "log"), "-w", "start"]);
    await run(cmd, args);
  }

  async function stop(): Promise<void> {
    const pidFile = path.join(dataDir, "postmaster.pid");
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
    const gone = waitForExit(pid);
    // SIGINT is the fast shutdown: open sessions are ended, as in a real restart.
    process.kill(pid, "SIGINT");
    await gone;
  }

  await start();
  const server: PostgresServer = {
    port,
    url: (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async createDatabase() {
      const name = `t${process.pid}_${++sequence}_${Date.now().toString(36)}`;
      const client = new pg.Client({ connectionString: server.url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return server.url(name);
    },
    stop,
    start,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Resolves when the process is gone; polls with kill(pid, 0) since it is not our child. */
async function waitForExit(pid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
