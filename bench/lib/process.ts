// Processes the benchmarks run: the regplane server (the real entry point, compiled to dist/main.js), bench servers started with
// IPC (no-op baselines, regplane with injected providers), external tools, and /proc memory sampling.
import { execFile, fork, spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether a command is on PATH. */
export async function hasCommand(command: string): Promise<boolean> {
  return new Promise((resolve) => execFile("sh", ["-c", `command -v ${command}`], (err) => resolve(!err)));
}

/** Runs a command to completion; rejects with its stderr when it fails. */
export function runCommand(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(command, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${command} ${args.join(" ")} failed: ${stderr.trim() || err.message}`)) : resolve(stdout),
    ),
  );
}

async function waitForExit(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const kill = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(kill);
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

export interface RegplaneProcess {
  pid: number;
  grpcAddress: string;
  httpUrl: string;
  stop(): Promise<void>;
}

export interface RegplaneOptions {
  dataDir: string;
  /** YAML written next to the data dir and passed with --config. */
  config?: string;
}

let built: Promise<void> | undefined;

/** Compiles src/ to dist/ once per bench run, as `npm start` does. */
function buildOnce(): Promise<void> {
  built ??= new Promise<void>((resolve, reject) =>
    execFile(process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "-p", path.join(ROOT, "tsconfig.build.json")], { cwd: ROOT }, (err, stdout) =>
      err ? reject(new Error(`tsc failed:\n${stdout}`)) : resolve(),
    ),
  );
  return built;
}

/**
 * `node dist/main.js` (compiled, as `npm start` runs it) with --log-level warn on two free ports; ready
 * once /healthz answers. The PID is the server itself (no npm wrapper), so /proc figures are the server's.
 */
export async function startRegplane(o: RegplaneOptions): Promise<RegplaneProcess> {
  await buildOnce();
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const args = [path.join(ROOT, "dist/main.js"), "--data-dir", o.dataDir, "--grpc-port", String(grpcPort), "--http-port", String(httpPort), "--log-level", "warn"];
  if (o.config !== undefined) {
    const file = `${o.dataDir.replace(/\/+$/, "")}.regplane.yaml`;
    writeFileSync(file, o.config);
    args.push("--config", file);
  }
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-8000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 60_000;
  while (!(await healthy(`${httpUrl}/healthz`))) {
    if (child.exitCode !== null) throw new Error(`regplane exited with ${child.exitCode} before serving:\n${output}`);
    if (Date.now() > deadline) {
      await waitForExit(child, 1000);
      throw new Error(`regplane did not serve within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { pid: child.pid!, grpcAddress: `127.0.0.1:${grpcPort}`, httpUrl, stop: () => waitForExit(child, 15_000) };
}

export interface BenchServer<Ready> {
  pid: number;
  ready: Ready;
  /** Sends a request over IPC and resolves with the reply. */
  ask<T>(message: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Forks a bench server script (under tsx) that answers `{type: "ready", …}` over IPC once it serves,
 * and `{type: "reply", id, …}` to requests carrying an id.
 */
export async function startBenchServer<Ready>(script: string, args: string[]): Promise<BenchServer<Ready>> {
  // bench/servers/app.ts runs regplane's compiled code.
  await buildOnce();
  const child = fork(script, args, { cwd: ROOT, execArgv: ["--import", "tsx"], stdio: ["ignore", "pipe", "pipe", "ipc"] });
  let output = "";
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-8000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const pending = new Map<number, (value: unknown) => void>();
  let nextId = 1;
  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${path.basename(script)} did not start within 60 s:\n${output}`)), 60_000);
    child.on("message", (m: { type: string; id?: number; ready?: Ready }) => {
      if (m.type === "ready") {
        clearTimeout(timer);
        resolve(m.ready as Ready);
      } else if (m.type === "reply" && m.id !== undefined) {
        pending.get(m.id)?.(m);
        pending.delete(m.id);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${path.basename(script)} exited with ${code}:\n${output}`));
    });
  });
  return {
    pid: child.pid!,
    ready,
    ask: <T>(message: Record<string, unknown>) =>
      new Promise<T>((resolve, reject) => {
        if (!child.connected) return reject(new Error(`${path.basename(script)} is gone:\n${output}`));
        const id = nextId++;
        pending.set(id, resolve as (value: unknown) => void);
        child.send({ ...message, id });
      }),
    stop: () => waitForExit(child, 15_000),
  };
}

export interface MemoryStatus {
  /** Resident set now, bytes. */
  rss: number;
  /** Peak resident set since the process started, bytes. */
  hwm: number;
}

export function memoryOf(pid: number): MemoryStatus {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

export interface RssSample {
  atMs: number;
  rss: number;
}

/** Samples a process's VmRSS every `intervalMs` until stopped. */
export function sampleRss(pid: number, intervalMs = 50): { samples: RssSample[]; stop(): RssSample[] } {
  const samples: RssSample[] = [];
  const start = performance.now();
  const take = () => {
    try {
      samples.push({ atMs: performance.now() - start, rss: memoryOf(pid).rss });
    } catch {
      // The process ended; the samples so far stand.
    }
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    samples,
    stop: () => {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}
