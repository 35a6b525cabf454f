// Starts the real regplane process (node --import tsx src/main.ts) on free ports and a temp data dir.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { createInterface } from "node:readline";

const ROOT = path.resolve(import.meta.dirname, "../..");

export interface ServerProcess {
  grpcPort: number;
  httpPort: number;
  dataDir: string;
  grpcAddress: string;
  httpUrl: string;
  child: ChildProcess;
  /** Every JSON log line so far. */
  logs: Array<Record<string, unknown>>;
  /** What the process wrote to stderr so far (Node's own warnings go there). */
  stderr(): string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

export interface StartOptions {
  dataDir?: string;
  /** YAML config text, written to a file in the data dir. */
  config?: string;
  args?: string[];
  env?: Record<string, string>;
}

export function tempDir(prefix = "regplane-test-"): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export async function startServer(o: StartOptions = {}): Promise<ServerProcess> {
  const dataDir = o.dataDir ?? tempDir();
  const args = ["--import", "tsx", path.join(ROOT, "src/main.ts"), "--data-dir", dataDir, "--grpc-port", "0", "--http-port", "0", ...(o.args ?? [])];
  if (o.config !== undefined) {
    const file = path.join(dataDir, "regplane.yaml");
    writeFileSync(file, o.config);
    args.push("--config", file);
  }
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...o.env }, stdio: ["ignore", "pipe", "pipe"] });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = new Promise<{ grpc: string; http: string }>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on("line", (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === "regplane serving") resolve({ grpc: String(entry.grpc), http: String(entry.http) });
      } catch {
        logs.push({ raw: line });
      }
    });
    exited.then((code) => reject(new Error(`regplane exited with ${code} before serving:\n${stderr}`)));
  });
  const timeout = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const addr = await ready.finally(() => clearTimeout(timeout));
  const grpcPort = Number(addr.grpc.split(":").pop());
  const httpPort = Number(addr.http.split(":").pop());
  return {
    grpcPort,
    httpPort,
    dataDir,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    child,
    logs,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      return exited;
    },
    async kill() {
      if (child.exitCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
