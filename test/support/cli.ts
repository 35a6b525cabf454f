// Runs the real `regplane` command (src/cli/main.ts under tsx, as the bin runs dist/cli/main.js): to the
// end with captured output, in the background with output conditions, or under a pseudo-terminal (`script`).
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const CLI_ENTRY = path.join(ROOT, "src/cli/main.ts");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Variables on top of a clean environment (no REGPLANE_* from the outside, a private XDG_CONFIG_HOME). */
  env?: Record<string, string | undefined>;
  input?: string;
  cwd?: string;
}

/** The environment the command sees: the test's, without REGPLANE_* variables, plus `extra`. */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("REGPLANE_")) env[k] = v;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** tsx's loader by absolute URL, so the command runs from any working directory. */
const TSX = import.meta.resolve("tsx");

export function cliArgv(args: string[]): string[] {
  return ["--import", TSX, CLI_ENTRY, ...args];
}

/** A `regplane` executable in a fresh folder, for shell scripts that call the command by name. */
export async function regplaneOnPath(dir: string): Promise<string> {
  const { mkdir, writeFile } = await import("node:fs/promises");
  await mkdir(dir, { recursive: true });
  const quoted = [process.execPath, ...cliArgv([])].map((a) => `'${a}'`).join(" ");
  await writeFile(path.join(dir, "regplane"), `#!/bin/sh\nexec ${quoted} "$@"\n`, { mode: 0o755 });
  return dir;
}

/** Runs `regplane ARGS` to its end. */
export function regplane(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cliArgv(args), { cwd: options.cwd ?? ROOT, env: cliEnv(options.env), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

/** A command still running: its output so far, a way to wait for some output, and its end. */
export interface RunningCli {
  child: ChildProcess;
  output(): string;
  /** Resolves once the output (stdout and stderr together, or the terminal) matches. */
  waitFor(pattern: RegExp): Promise<string>;
  type(text: string): void;
  exited: Promise<CliResult>;
}

function track(child: ChildProcess): RunningCli {
  let stdout = "";
  let stderr = "";
  const waiters: Array<{ pattern: RegExp; resolve: (s: string) => void }> = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.pattern.test(stdout + stderr)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(stdout + stderr);
      }
    }
  };
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
    check();
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
    check();
  });
  const exited = new Promise<CliResult>((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
  return {
    child,
    output: () => stdout + stderr,
    waitFor(pattern) {
      return new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        check();
        exited.then(() => {
          if (waiters.some((w) => w.pattern === pattern)) reject(new Error(`exited before printing ${pattern}:\n${stdout}${stderr}`));
        });
      });
    },
    type: (text) => child.stdin!.write(text),
    exited,
  };
}

/** Starts `regplane ARGS` in the background, stdin a pipe. */
export function spawnRegplane(args: string[], options: CliOptions = {}): RunningCli {
  return track(spawn(process.execPath, cliArgv(args), { cwd: options.cwd ?? ROOT, env: cliEnv(options.env), stdio: ["pipe", "pipe", "pipe"] }));
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs `regplane ARGS` on a pseudo-terminal made by util-linux `script`: stdin, stdout and stderr are a
 * terminal, keys typed with `type` arrive as a person's would (Ctrl-C is "\x03"), and the exit code is the command's.
 */
export function inTerminal(args: string[], options: CliOptions = {}): RunningCli {
  const command = [process.execPath, ...cliArgv(args)].map(shellQuote).join(" ");
  const child = spawn("script", ["-qefc", command, "/dev/null"], {
    cwd: options.cwd ?? ROOT,
    env: cliEnv({ TERM: "xterm", COLUMNS: "200", ...options.env }),
    stdio: ["pipe", "pipe", "pipe"],
  });
  return track(child);
}
