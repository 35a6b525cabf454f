// Start-up failures said in one line that names what to fix, exit code 2: the data directory checked
// before anything is written, and the errors Node raises while binding the ports translated.
import { accessSync, constants, mkdirSync, statSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { StartupError } from "../core/config.js";

export { StartupError };

const errnoOf = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;

/** Creates the data directory if needed and checks it is a directory this process can write. */
export function prepareDataDir(dir: string): void {
  try {
    const stat = statSync(dir, { throwIfNoEntry: false });
    if (stat && !stat.isDirectory()) throw new StartupError(`data dir ${dir} is not a directory; pass --data-dir with a directory, or move the file away`);
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    if (err instanceof StartupError) throw err;
    const code = errnoOf(err);
    if (code === "ENOTDIR" || code === "EEXIST") throw new StartupError(`data dir ${dir}: a part of the path is a file, not a directory; pass --data-dir with a directory`);
    if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
      throw new StartupError(`data dir ${dir} is not writable (${code}); give the user regplane runs as write access, or pass --data-dir`);
    }
    throw new StartupError(`data dir ${dir}: ${(err as Error).message}; pass --data-dir with a writable directory`);
  }
}

/** grpc-js writes its own errors to stderr; they go to the log instead, so a failed start stays one line there. */
export function routeGrpcLogs(logger: Logger): void {
  const write = (...args: unknown[]) => logger.warn({ component: "grpc-js" }, withoutUserInfo(args.map(String).join(" ")));
  grpc.setLogger({ error: write, warn: write, info: write, debug: write } as unknown as Partial<Console>);
}

/** `https://user:secret@host` → `https://…@host`, wherever a URL appears in the text. */
export function withoutUserInfo(text: string): string {
  // Up to the last "@" of the word: an unencoded "/" or "@" in a password must not end the match early.
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s"']*@/gi, "$1…@");
}

/** The one line for a failure while starting, or undefined for one that is not understood. */
function explain(err: unknown): string | undefined {
  if (err instanceof StartupError) return err.message;
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
  if (e?.syscall === "listen") {
    if (e.code === "EADDRINUSE") return `HTTP port ${e.port} is in use; pass --http-port`;
    if (e.code === "EACCES") return `HTTP port ${e.port} needs privileges this process does not have; pass --http-port (1024 or above)`;
    if (e.code === "EADDRNOTAVAIL") return `address ${e.address} is not on this machine; pass --host`;
  }
  return undefined;
}

/**
 * Writes the start-up failure as one line (the stack only at debug level) and returns the exit code.
 * A URL's user-info never reaches the line, whatever raised it.
 */
export function reportStartupFailure(err: unknown, o: { debug: boolean; write: (text: string) => void }): number {
  const known = explain(err);
  const message = known ?? `cannot start: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}${o.debug ? "" : " (--log-level debug shows more)"}`;
  o.write(`regplane: ${withoutUserInfo(message)}\n`);
  if (o.debug && err instanceof Error && err.stack) o.write(`${withoutUserInfo(err.stack)}\n`);
  return err instanceof StartupError ? err.exitCode : 2;
}
