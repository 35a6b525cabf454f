// What every command gets: the global flags resolved into clients and an output format, the streams,
// and whether a person is at the terminal.
import type { Command } from "commander";
import { createClients, type Clients } from "./clients.js";
import { parseFormat, type Format, type Write } from "./format.js";
import { resolveConnection, type ConnectionFlags } from "./profiles.js";

export interface Io {
  out: Write;
  err: Write;
  env: NodeJS.ProcessEnv;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  /** A terminal on stdin and stderr: prompts and progress are shown only then. */
  interactive: boolean;
  /** stderr is a terminal: progress lines may be redrawn. */
  stderrIsTTY: boolean;
}

export interface GlobalFlags extends ConnectionFlags {
  quiet?: boolean;
  yes?: boolean;
  async?: boolean;
}

export interface Context {
  io: Io;
  flags: GlobalFlags;
  format: Format;
  clients: Clients;
}

export function contextOf(command: Command, io: Io): Context {
  const flags = command.optsWithGlobals<GlobalFlags>();
  const connection = resolveConnection(flags, io.env);
  return { io, flags, format: parseFormat(flags.output ?? connection.output, flags.quiet), clients: createClients(connection) };
}
