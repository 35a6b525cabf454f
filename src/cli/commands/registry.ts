// `regplane registry list|get|create|update|delete`.
import type { Command } from "commander";
import type { Registry } from "../../gen/regplane/v1/registry_pb.js";
import { act, examples, withPaging, type PageFlags } from "../command.js";
import type { Io } from "../context.js";
import { CliError } from "../exit.js";
import { time, type Column } from "../format.js";

/** Registry.Status by number, as tables show it (the enum's names lower-cased, without loading it). */
const STATUS = ["", "creating", "active", "deleting"];
const status = (s: number) => STATUS[s] ?? String(s);

const COLUMNS: Array<Column<Registry>> = [
  { header: "ID", value: (r) => r.id, max: 50 },
  { header: "NAME", value: (r) => r.name, max: 40 },
  { header: "FOLDER", value: (r) => r.folderId, max: 30 },
  { header: "PROVIDER", value: (r) => r.provider },
  { header: "LOCATION", value: (r) => r.location },
  { header: "STATUS", value: (r) => status(r.status) },
  { header: "ENDPOINT", value: (r) => r.endpoint, max: 50 },
];

/** Collects repeated "--label key=value" flags. */
function label(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf("=");
  if (at < 1) throw new CliError(`--label: key=value, not "${value}"`);
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

interface ListFlags extends PageFlags {
  folder?: string;
  filter?: string;
}

interface CreateFlags {
  folder: string;
  name?: string;
  label?: Record<string, string>;
  secure?: boolean;
  providerAccount?: string;
  location?: string;
}

interface UpdateFlags {
  name?: string;
  label?: Record<string, string>;
  allowSubnet?: string[];
}

export function registerRegistry(program: Command, io: Io): void {
  const registry = program.command("registry").alias("registries").description("list and manage registries (embedded, OCI, IBM, Scaleway, IONOS, Yandex)");

  const list = withPaging(registry.command("list").alias("ls").description("list registries, every page unless --limit"))
    .option("--folder <id>", "only registries of this folder")
    .option("--filter <expr>", 'name="<registry name>"');
  examples(list, "regplane registry list", "regplane registry list --folder default -o yaml");
  act<ListFlags>(list, io, async (ctx, _args, o) => {
    const { ListPrinter, printList, RegistrySchema } = await import("../runtime.js");
    const printer = new ListPrinter(ctx.format, RegistrySchema, "registries", COLUMNS, (r) => r.id, ctx.io.out);
    return printList(ctx, printer, o, async (pageSize, pageToken) => {
      const res = await ctx.clients.registries.list({ folderId: o.folder ?? "", filter: o.filter ?? "", pageSize: BigInt(pageSize), pageToken });
      return { items: res.registries, nextPageToken: res.nextPageToken, unreachable: res.unreachable };
    });
  });

  const get = registry.command("get").argument("<registry-id>").description("show one registry and what it supports");
  examples(get, "regplane registry get local");
  act(get, io, async (ctx, [registryId]) => {
    const { printOne, RegistrySchema } = await import("../runtime.js");
    const r = await ctx.clients.registries.get({ registryId });
    printOne(ctx.format, RegistrySchema, r, [
      ["id", r.id],
      ["name", r.name],
      ["folder", r.folderId],
      ["provider", r.provider],
      ["location", r.location],
      ["status", status(r.status)],
      ["endpoint", r.endpoint],
      ["hostname", r.hostname],
      ["capabilities", r.capabilities.join(", ")],
      ["labels", Object.entries(r.labels).map(([k, v]) => `${k}=${v}`).join(", ")],
      ["created", time(r.createdAt)],
    ], r.id, ctx.io.out);
    return 0;
  });

  const create = registry
    .command("create")
    .description("create a registry at a provider that allows it (IONOS, Yandex) and wait until it exists")
    .requiredOption("--folder <id>", "the folder it belongs to")
    .option("--name <name>")
    .option("--label <key=value>", "a label; repeat for more", label)
    .option("--secure", "ask the provider for its secure (vulnerability-scanning) tier")
    .option("--provider-account <id>", "the configured provider account to create it in")
    .option("--location <where>", 'where the provider asks, e.g. "de/fra"');
  examples(create, "regplane registry create --folder default --provider-account ionos --name team --location de/fra");
  act<CreateFlags>(create, io, async (ctx, _args, o) => {
    const { runMutation } = await import("../runtime.js");
    return runMutation(ctx, () =>
      ctx.clients.registries.create({
        folderId: o.folder,
        name: o.name ?? "",
        labels: o.label ?? {},
        secure: o.secure ?? false,
        providerAccount: o.providerAccount ?? "",
        location: o.location ?? "",
      }),
    );
  });

  const update = registry
    .command("update")
    .argument("<registry-id>")
    .description("change a registry's name, labels or API subnet allow-list (only the fields given)")
    .option("--name <name>")
    .option("--label <key=value>", "a label (replaces all labels); repeat for more", label)
    .option("--allow-subnet <cidr>", "a CIDR allowed to reach the registry API (replaces the list); repeat for more", collect);
  examples(update, "regplane registry update ionos-team --label team=web --label env=prod");
  act<UpdateFlags>(update, io, async (ctx, [registryId], o) => {
    const paths = [o.name !== undefined && "name", o.label !== undefined && "labels", o.allowSubnet !== undefined && "api_subnet_allow_list"].filter((p): p is string => p !== false);
    if (paths.length === 0) throw new CliError("nothing to update: pass --name, --label or --allow-subnet");
    const { runMutation } = await import("../runtime.js");
    return runMutation(ctx, () =>
      ctx.clients.registries.update({ registryId, name: o.name ?? "", labels: o.label ?? {}, apiSubnetAllowList: o.allowSubnet ?? [], updateMask: { paths } }),
    );
  });

  const del = registry.command("delete").alias("rm").argument("<registry-id>").description("delete a registry at its provider (IONOS, Yandex) and wait until it is gone");
  examples(del, "regplane registry delete ionos-team -y");
  act(del, io, async (ctx, [registryId]) => {
    const { confirm, runMutation } = await import("../runtime.js");
    await confirm(ctx, `Delete registry ${registryId} and every image in it?`);
    return runMutation(ctx, () => ctx.clients.registries.delete({ registryId }));
  });
}
