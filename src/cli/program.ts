// The `regplane` API client: nouns and verbs over the public API, global connection and output flags,
// one-line errors with documented exit codes (see exit.ts and the README's "Command line").
import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { result } from "./command.js";
import { registerConfig } from "./commands/config.js";
import { registerImage } from "./commands/image.js";
import { registerNamespace } from "./commands/namespace.js";
import { registerOperation } from "./commands/operation.js";
import { registerRegistry } from "./commands/registry.js";
import { bashCompletion, zshCompletion } from "./completion.js";
import type { Io } from "./context.js";
import { CliError, EXIT } from "./exit.js";

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

const SERVE_HELP = `Commands that run here:
  serve [flags]       start the server (bare "regplane [flags]" too); see regplane serve --help
  keys create         make an API key for the config; see regplane keys --help

Exit codes: 0 ok, 1 API error, failed operation or server unreachable, 2 bad flag or argument,
3 nothing listed because every registry in scope was unreachable, 130 interrupted.
Environment: REGPLANE_ENDPOINT, REGPLANE_API_KEY, REGPLANE_CA_FILE, REGPLANE_INSECURE, REGPLANE_PROFILE
(a flag wins over the environment, which wins over the profile).
`;

export function buildProgram(io: Io): Command {
  const program = new Command("regplane")
    .description("regplane — one gRPC / Connect API over every container registry; this is its command-line client")
    .version(version(), "-V, --version")
    .addOption(new Option("--endpoint <url>", "the regplane HTTP port (default http://127.0.0.1:8080)"))
    .addOption(new Option("--api-key <key>", "API key, sent as a bearer token; better: REGPLANE_API_KEY"))
    .addOption(new Option("--ca-file <file>", "PEM CA bundle that signed the server's TLS certificate"))
    .addOption(new Option("--insecure", "do not verify the server's TLS certificate"))
    .addOption(new Option("--profile <name>", "connection profile from the config file (default: its current-profile, else \"default\")"))
    .addOption(new Option("-o, --output <format>", "table (default), json or yaml"))
    .addOption(new Option("-q, --quiet", "print ids only, one a line"))
    .addOption(new Option("-y, --yes", "do not ask before deleting"))
    .addOption(new Option("--async", "return the operation at once instead of waiting for it"))
    .addHelpText("after", `\n${SERVE_HELP}`)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({ writeOut: io.out, writeErr: io.err, outputError: () => undefined })
    .exitOverride();
  registerImage(program, io);
  registerOperation(program, io);
  registerRegistry(program, io);
  registerNamespace(program, io);
  registerConfig(program, io);
  program
    .command("completion")
    .argument("<shell>", "bash or zsh")
    .description("print a shell completion script: source <(regplane completion bash)")
    .action((shell: string) => {
      if (shell !== "bash" && shell !== "zsh") throw new CliError(`completion: bash or zsh, not "${shell}"`);
      io.out(shell === "bash" ? bashCompletion(program) : zshCompletion(program));
      result.exitCode = 0;
    });
  for (const command of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)]) {
    command.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err, outputError: () => undefined });
  }
  return program;
}

function defaultIo(): Io {
  // `regplane image list | head` closes the pipe early: stop quietly, as other command-line tools do.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(EXIT.ok);
    throw err;
  });
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    env: process.env,
    stdin: process.stdin,
    interactive: Boolean(process.stdin.isTTY && process.stderr.isTTY),
    stderrIsTTY: Boolean(process.stderr.isTTY),
  };
}

/** Runs one command line (without "regplane"); returns the exit code. */
export async function runCli(argv: string[], io: Io = defaultIo()): Promise<number> {
  if (argv[0] === "keys") {
    // Loaded only here: it hashes with the server's own code.
    const { runKeysCommand } = await import("./keys.js");
    return runKeysCommand(argv.slice(1), io.out, io.err);
  }
  const program = buildProgram(io);
  result.exitCode = EXIT.ok;
  try {
    await program.parseAsync(argv, { from: "user" });
    return result.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0 || err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return EXIT.ok;
      io.err(`regplane: ${err.message.replace(/^error: /, "")} (see --help)\n`);
      return EXIT.usage;
    }
    const { describeFailure } = await import("./errors.js");
    const { message, exitCode } = describeFailure(err, result.endpoint);
    io.err(`regplane: ${message}\n`);
    return exitCode;
  }
}
