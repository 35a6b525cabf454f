// Glue between commander and the commands: an action gets a Context and returns its exit code.
import { Option, type Command } from "commander";
import type { Context, Io } from "./context.js";
import { CliError } from "./exit.js";

export type Verb<O> = (ctx: Context, args: string[], options: O) => Promise<number>;

/** The exit code the action that ran returned, and the endpoint it called (for a failure's one line). */
export const result: { exitCode: number; endpoint?: string } = { exitCode: 0 };

/** Adds a verb's action: positional arguments, then its own options, then a Context. */
export function act<O = Record<string, unknown>>(command: Command, io: Io, verb: Verb<O>): Command {
  return command.action(async (...params: unknown[]) => {
    const cmd = params[params.length - 1] as Command;
    const args = params.slice(0, -2).flat() as string[];
    const { contextOf } = await import("./runtime.js");
    const ctx = contextOf(cmd, io);
    result.endpoint = ctx.clients.endpoint;
    result.exitCode = await verb(ctx, args, cmd.opts() as O);
  });
}

/** "  $ regplane image list --registry local" lines, shown under a verb's --help. */
export function examples(command: Command, ...lines: string[]): Command {
  return command.addHelpText("after", `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`);
}

export interface PageFlags {
  limit?: number;
  pageSize?: number;
  pageToken?: string;
}

function positiveInt(name: string, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new CliError(`${name}: a whole number from 1 to ${max}, not "${value}"`);
    return n;
  };
}

export function withPaging(command: Command): Command {
  return command
    .addOption(new Option("--limit <n>", "stop after this many items (default: all)").argParser(positiveInt("--limit", Number.MAX_SAFE_INTEGER)))
    .addOption(new Option("--page-size <n>", "items per API call, 1-1000 (default: the server's, 100)").argParser(positiveInt("--page-size", 1000)))
    .option("--page-token <token>", "start from this next_page_token of an earlier list");
}
