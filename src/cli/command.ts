// Glue between commander and the commands: an action gets a Context and returns its exit code.
import type { Command } from "commander";
import { contextOf, type Context, type Io } from "./context.js";

export type Verb<O> = (ctx: Context, args: string[], options: O) => Promise<number>;

/** Holds the exit code the action that ran returned. */
export const result = { exitCode: 0 };

/** Adds a verb's action: positional arguments, then its own options, then a Context. */
export function act<O = Record<string, unknown>>(command: Command, io: Io, verb: Verb<O>): Command {
  return command.action(async (...params: unknown[]) => {
    const cmd = params[params.length - 1] as Command;
    const args = params.slice(0, -2).flat() as string[];
    result.exitCode = await verb(contextOf(cmd, io), args, cmd.opts() as O);
  });
}

/** "  $ regplane image list --registry local" lines, shown under a verb's --help. */
export function examples(command: Command, ...lines: string[]): Command {
  return command.addHelpText("after", `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`);
}
