// `regplane namespace list|get|create|update|delete`.
import type { Command } from "commander";
import type { Namespace } from "../../gen/regplane/v1/namespace_pb.js";
import { act, examples, withPaging, type PageFlags } from "../command.js";
import type { Io } from "../context.js";
import { CliError } from "../exit.js";
import { bytes, time, type Column } from "../format.js";

const COLUMNS: Array<Column<Namespace>> = [
  { header: "ID", value: (n) => n.id, max: 60 },
  { header: "REGISTRY", value: (n) => n.registryId, max: 50 },
  { header: "NAME", value: (n) => n.name, max: 40 },
  { header: "IMAGES", value: (n) => String(n.imageCount) },
  { header: "SIZE", value: (n) => bytes(n.sizeBytes) },
  { header: "DESCRIPTION", value: (n) => n.description, max: 40 },
];

interface ListFlags extends PageFlags {
  folder?: string;
  registry?: string;
  filter?: string;
}

export function registerNamespace(program: Command, io: Io): void {
  const ns = program.command("namespace").alias("namespaces").alias("ns").description("list and manage namespaces (the first path segment of repositories)");

  const list = withPaging(ns.command("list").alias("ls").description("list namespaces, every page unless --limit"))
    .option("--folder <id>", "only registries of this folder")
    .option("--registry <id>", "only this registry")
    .option("--filter <expr>", 'name="<namespace name>"');
  examples(list, "regplane namespace list --registry local");
  act<ListFlags>(list, io, async (ctx, _args, o) => {
    const { ListPrinter, NamespaceSchema, printList } = await import("../runtime.js");
    const printer = new ListPrinter(ctx.format, NamespaceSchema, "namespaces", COLUMNS, (n) => n.id, ctx.io.out);
    return printList(ctx, printer, o, async (pageSize, pageToken) => {
      const res = await ctx.clients.namespaces.list({ folderId: o.folder ?? "", registryId: o.registry ?? "", filter: o.filter ?? "", pageSize: BigInt(pageSize), pageToken });
      return { items: res.namespaces, nextPageToken: res.nextPageToken, unreachable: res.unreachable };
    });
  });

  const get = ns.command("get").argument("<namespace-id>", '"<registry id>/<name>"').description("show one namespace");
  examples(get, "regplane namespace get local/demo");
  act(get, io, async (ctx, [namespaceId]) => {
    const { NamespaceSchema, printOne, Visibility } = await import("../runtime.js");
    const n = await ctx.clients.namespaces.get({ namespaceId });
    printOne(ctx.format, NamespaceSchema, n, [
      ["id", n.id],
      ["registry", n.registryId],
      ["name", n.name],
      ["description", n.description],
      ["visibility", n.visibility === Visibility.UNSPECIFIED ? "" : Visibility[n.visibility].toLowerCase()],
      ["images", String(n.imageCount)],
      ["size", bytes(n.sizeBytes)],
      ["created", time(n.createdAt)],
      ["updated", time(n.updatedAt)],
    ], n.id, ctx.io.out);
    return 0;
  });

  const create = ns.command("create").argument("<name>").requiredOption("--registry <id>", "the registry to create it in").option("--description <text>").description("create a namespace and wait until it exists");
  examples(create, "regplane namespace create team --registry local", "regplane namespace create team --registry scw-fr --description 'team images' --async");
  act<{ registry: string; description?: string }>(create, io, async (ctx, [name], o) => {
    const { runMutation } = await import("../runtime.js");
    return runMutation(ctx, () => ctx.clients.namespaces.create({ registryId: o.registry, name, description: o.description ?? "" }));
  });

  const update = ns.command("update").argument("<namespace-id>").option("--description <text>", "the new description").description("change a namespace's description");
  examples(update, "regplane namespace update scw-fr/team --description 'team images'");
  act<{ description?: string }>(update, io, async (ctx, [namespaceId], o) => {
    if (o.description === undefined) throw new CliError("nothing to update: pass --description");
    const { runMutation } = await import("../runtime.js");
    return runMutation(ctx, () => ctx.clients.namespaces.update({ namespaceId, description: o.description, updateMask: { paths: ["description"] } }));
  });

  const del = ns.command("delete").alias("rm").argument("<namespace-id>").description("delete a namespace (the registry may refuse one that holds images)");
  examples(del, "regplane namespace delete local/team -y");
  act(del, io, async (ctx, [namespaceId]) => {
    const { confirm, runMutation } = await import("../runtime.js");
    await confirm(ctx, `Delete namespace ${namespaceId}?`);
    return runMutation(ctx, () => ctx.clients.namespaces.delete({ namespaceId }));
  });
}
