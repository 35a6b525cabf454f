// Mutations return an Operation: by default the CLI waits for it (a progress line on a terminal), prints
// the result, and on Ctrl-C asks whether to cancel the operation or leave it running; --async returns at once.
import { createInterface } from "node:readline";
import { ConnectError } from "@connectrpc/connect";
import type { Operation } from "../gen/regplane/v1/operation_pb.js";
import { OperationSchema } from "../gen/regplane/v1/operation_pb.js";
import { operationError, waitForOperation } from "../client/index.js";
import type { Context } from "./context.js";
import { describeConnectError } from "./errors.js";
import { CliError, EXIT } from "./exit.js";
import { time } from "./format.js";
import { printOne } from "./output.js";

export function operationFields(op: Operation): Array<[string, string]> {
  const status = !op.done ? "running" : op.result.case === "error" ? "failed" : "done";
  const result =
    op.result.case === "error"
      ? op.result.value.message
      : op.result.case === "response"
        ? op.result.value.typeUrl.slice(op.result.value.typeUrl.lastIndexOf("/") + 1)
        : "";
  return [
    ["id", op.id],
    ["description", op.description],
    ["status", status],
    ["result", result],
    ["created by", op.createdBy],
    ["created", time(op.createdAt)],
    ["modified", time(op.modifiedAt)],
  ];
}

export function printOperation(ctx: Context, op: Operation): void {
  printOne(ctx.format, OperationSchema, op, operationFields(op), op.id, ctx.io.out);
}

/** Asks "question [y/N]" on a terminal unless -y; a non-interactive run goes ahead (scripts pass -y or not). */
export async function confirm(ctx: Context, question: string): Promise<void> {
  if (ctx.flags.yes || !ctx.io.interactive) return;
  const answer = await ask(ctx, `${question} [y/N] `);
  if (!/^y(es)?$/i.test(answer.trim())) throw new CliError("not confirmed: nothing changed (pass -y to skip this question)", EXIT.apiError);
}

function ask(ctx: Context, prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: ctx.io.stdin, output: process.stderr, terminal: true });
    let answered = false;
    rl.on("SIGINT", () => rl.close());
    rl.on("close", () => {
      if (!answered) resolve("");
    });
    rl.question(prompt, (answer) => {
      answered = true;
      rl.close();
      resolve(answer);
    });
  });
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** Shows "⠙ op… description 3s" on stderr while waiting, when stderr is a terminal. */
function progressLine(ctx: Context, op: Operation): { stop(): void } {
  if (!ctx.io.stderrIsTTY || ctx.format === "id") return { stop() {} };
  const started = Date.now();
  let frame = 0;
  const draw = () => ctx.io.err(`\r\x1b[2K${SPINNER[frame++ % SPINNER.length]} ${op.id} ${op.description} ${Math.floor((Date.now() - started) / 1000)}s`);
  draw();
  const timer = setInterval(draw, 100);
  return {
    stop() {
      clearInterval(timer);
      ctx.io.err("\r\x1b[2K");
    },
  };
}

/** Runs a mutation: the call, then (unless --async) the wait; returns the exit code. */
export async function runMutation(ctx: Context, start: () => Promise<Operation>): Promise<number> {
  const op = await start();
  if (ctx.flags.async || op.done) return finish(ctx, op);
  const abort = new AbortController();
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    abort.abort();
  };
  process.once("SIGINT", onInterrupt);
  const progress = progressLine(ctx, op);
  let done: Operation | undefined;
  try {
    done = await waitForOperation(ctx.clients.operations, op.id, { signal: abort.signal, waitSeconds: 10 });
  } catch (err) {
    if (!interrupted) throw err;
  } finally {
    progress.stop();
    process.removeListener("SIGINT", onInterrupt);
  }
  if (done !== undefined) return finish(ctx, done);
  return interruptedWait(ctx, op);
}

async function interruptedWait(ctx: Context, op: Operation): Promise<number> {
  const leave = () => {
    ctx.io.err(`regplane: operation ${op.id} left running; follow it with: regplane operation wait ${op.id}\n`);
    return EXIT.interrupted;
  };
  if (!ctx.io.interactive) return leave();
  const answer = await ask(ctx, `\nOperation ${op.id} is still running. [c]ancel it or [l]eave it running? `);
  if (!/^c(ancel)?$/i.test(answer.trim())) return leave();
  try {
    const cancelled = await ctx.clients.operations.cancel({ operationId: op.id });
    ctx.io.err(`regplane: asked to cancel operation ${op.id}\n`);
    printOperation(ctx, cancelled);
  } catch (err) {
    if (!(err instanceof ConnectError)) throw err;
    ctx.io.err(`regplane: cancel ${op.id}: ${describeConnectError(err, ctx.clients.endpoint)}\n`);
  }
  return EXIT.interrupted;
}

function finish(ctx: Context, op: Operation): number {
  printOperation(ctx, op);
  const failure = operationError(op);
  if (failure === undefined) return EXIT.ok;
  ctx.io.err(`regplane: operation ${op.id} failed: ${describeConnectError(failure, ctx.clients.endpoint)}\n`);
  return EXIT.apiError;
}
