// `regplane operation list|get|wait|cancel`.
import type { Command } from "commander";
import type { Operation } from "../../gen/regplane/v1/operation_pb.js";
import { act, examples, withPaging, type PageFlags } from "../command.js";
import type { Io } from "../context.js";
import { CliError } from "../exit.js";
import { time, type Column } from "../format.js";

const status = (op: Operation) => (!op.done ? "running" : op.result.case === "error" ? "failed" : "done");

const COLUMNS: Array<Column<Operation>> = [
  { header: "ID", value: (o) => o.id, max: 50 },
  { header: "DESCRIPTION", value: (o) => o.description, max: 50 },
  { header: "STATUS", value: status },
  { header: "CREATED BY", value: (o) => o.createdBy, max: 30 },
  { header: "CREATED", value: (o) => time(o.createdAt) },
  { header: "MODIFIED", value: (o) => time(o.modifiedAt) },
];

interface ListFlags extends PageFlags {
  resource?: string;
  done?: boolean;
  running?: boolean;
}

export function registerOperation(program: Command, io: Io): void {
  const operation = program.command("operation").alias("operations").alias("op").description("follow and cancel long-running operations (deletes, creates, updates)");

  const list = withPaging(operation.command("list").alias("ls").description("list operations the caller may see, newest first"))
    .option("--resource <id>", "only operations on this resource (an image, namespace or registry id)")
    .option("--done", "only finished operations")
    .option("--running", "only unfinished operations");
  examples(list, "regplane operation list --running", "regplane operation list --resource IMAGE_ID -o json");
  act<ListFlags>(list, io, async (ctx, _args, o) => {
    if (o.done && o.running) throw new CliError("--done and --running exclude each other");
    const { ListPrinter, OperationSchema, printList } = await import("../runtime.js");
    const printer = new ListPrinter(ctx.format, OperationSchema, "operations", COLUMNS, (op) => op.id, ctx.io.out);
    return printList(ctx, printer, o, async (pageSize, pageToken) => {
      const res = await ctx.clients.operations.list({
        resourceId: o.resource ?? "",
        done: o.done ? true : o.running ? false : undefined,
        pageSize: BigInt(pageSize),
        pageToken,
      });
      return { items: res.operations, nextPageToken: res.nextPageToken };
    });
  });

  const get = operation.command("get").argument("<operation-id>").description("show one operation's state and result");
  examples(get, "regplane operation get OPERATION_ID -o yaml");
  act(get, io, async (ctx, [operationId]) => {
    const { printOperation } = await import("../runtime.js");
    printOperation(ctx, await ctx.clients.operations.get({ operationId }));
    return 0;
  });

  const wait = operation.command("wait").argument("<operation-id>").description("wait until an operation is done and print it (exit 1 if it failed)");
  examples(wait, "regplane operation wait OPERATION_ID");
  act(wait, io, async (ctx, [operationId]) => {
    const { runMutation } = await import("../runtime.js");
    return runMutation({ ...ctx, flags: { ...ctx.flags, async: false } }, () => ctx.clients.operations.get({ operationId }));
  });

  const cancel = operation.command("cancel").argument("<operation-id>").description("cancel a pending or running operation (best effort) and wait for it");
  examples(cancel, "regplane operation cancel OPERATION_ID", "regplane operation cancel OPERATION_ID --async");
  act(cancel, io, async (ctx, [operationId]) => {
    const { runMutation } = await import("../runtime.js");
    return runMutation(ctx, () => ctx.clients.operations.cancel({ operationId }));
  });
}
