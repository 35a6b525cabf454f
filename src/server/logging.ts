// The process log: JSON lines on stdout, or human-readable lines when stdout is a terminal. Writing never
// holds up the process: lines wait in a bounded buffer while stdout is slow, are dropped beyond it, and a
// stdout that is closed or stuck cannot keep shutdown from ending.
import { pino, type Logger } from "pino";
import { prettyFactory } from "pino-pretty";

/** Lines kept while stdout does not take them; more are dropped rather than held in memory. */
const BUFFER_BYTES = 8 * 1024 * 1024;

export interface ProcessLog {
  logger: Logger;
  /** Writes what is buffered, waiting at most `ms` for stdout, then stops writing. */
  close(ms: number): void;
}

export function createProcessLog(level: string, tty = process.stdout.isTTY === true): ProcessLog {
  let giveUpAt = Number.POSITIVE_INFINITY;
  // pino flushes on exit; registered first, this bounds that flush too when the process exits another way.
  process.once("exit", () => (giveUpAt = Math.min(giveUpAt, Date.now() + 1000)));
  const out = pino.destination({ dest: 1, sync: false, maxLength: BUFFER_BYTES, retryEAGAIN: () => Date.now() < giveUpAt });
  // EPIPE (stdout closed) is already turned into silence by pino; anything else ends logging, not the process.
  out.on("error", () => {});
  const pretty = tty ? prettyFactory({ colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname,service" }) : undefined;
  const stream = pretty ? { write: (line: string) => out.write(pretty(line)) } : out;
  const logger = pino({ level, base: { service: "regplane" }, redact: ["*.password", "*.token", "*.authorization"] }, stream);
  return {
    logger,
    close(ms) {
      giveUpAt = Date.now() + ms;
      try {
        out.flushSync();
      } catch {
        // stdout did not take the rest in time, or is gone; the lines are dropped.
      }
      out.destroy();
    },
  };
}
