// `regplane image list|get|delete`.
import type { Command } from "commander";
import type { Image } from "../../gen/regplane/v1/image_pb.js";
import { act, examples, withPaging, type PageFlags } from "../command.js";
import type { Io } from "../context.js";
import { EXIT } from "../exit.js";
import { bytes, time, type Column } from "../format.js";

const shortDigest = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);

const COLUMNS: Array<Column<Image>> = [
  { header: "ID", value: (i) => i.id, max: 50 },
  { header: "NAME", value: (i) => i.name, max: 60 },
  { header: "TAGS", value: (i) => i.tags.join(","), max: 30 },
  { header: "DIGEST", value: (i) => shortDigest(i.digest) },
  { header: "SIZE", value: (i) => bytes(i.compressedSize) },
  { header: "CREATED", value: (i) => time(i.createdAt) },
];

interface ListFlags extends PageFlags {
  folder?: string;
  registry?: string;
  repository?: string;
  filter?: string;
  orderBy?: string;
}

export function registerImage(program: Command, io: Io): void {
  const image = program.command("image").alias("images").description("list, inspect and delete images (one manifest digest in a repository)");

  const list = withPaging(image.command("list").alias("ls").description("list images, every page unless --limit"))
    .option("--folder <id>", "only registries of this folder")
    .option("--registry <id>", "only this registry")
    .option("--repository <name>", 'only this repository, "<registry id>/<path>"')
    .option("--filter <expr>", 'name="<image name>"')
    .option("--order-by <fields>", "comma-separated name, digest, created_at, each optionally asc or desc");
  examples(list, "regplane image list", "regplane image list --registry local --order-by 'created_at desc' --limit 10", "regplane image list --repository local/demo/app -q");
  act<ListFlags>(list, io, async (ctx, _args, o) => {
    const { ImageSchema, ListPrinter, printList } = await import("../runtime.js");
    const printer = new ListPrinter(ctx.format, ImageSchema, "images", COLUMNS, (i) => i.id, ctx.io.out);
    return printList(ctx, printer, o, async (pageSize, pageToken) => {
      const res = await ctx.clients.images.list({
        folderId: o.folder ?? "",
        registryId: o.registry ?? "",
        repositoryName: o.repository ?? "",
        filter: o.filter ?? "",
        orderBy: o.orderBy ?? "",
        pageSize: BigInt(pageSize),
        pageToken,
      });
      return { items: res.images, nextPageToken: res.nextPageToken, unreachable: res.unreachable };
    });
  });

  const get = image.command("get").argument("<image-id>").description("show one image: tags, digest, size, layers");
  examples(get, "regplane image get $(regplane image list --repository local/demo/app --limit 1 -q)", "regplane image get IMAGE_ID -o json");
  act(get, io, async (ctx, [imageId]) => {
    const { ImageSchema, printOne } = await import("../runtime.js");
    const i = await ctx.clients.images.get({ imageId });
    printOne(ctx.format, ImageSchema, i, [
      ["id", i.id],
      ["name", i.name],
      ["digest", i.digest],
      ["tags", i.tags.join(", ")],
      ["media type", i.mediaType],
      ["size", bytes(i.compressedSize)],
      ["created", time(i.createdAt)],
      ["layers", String(i.layers.length)],
      ["manifests", i.manifests.length > 0 ? String(i.manifests.length) : ""],
    ], i.id, ctx.io.out);
    return 0;
  });

  const del = image.command("delete").alias("rm").argument("<image-id...>").description("delete images (every tag of the digest) and wait until each is gone");
  examples(del, "regplane image delete IMAGE_ID", "regplane image list --repository local/demo/app -q | xargs regplane image delete -y --async");
  act(del, io, async (ctx, ids) => {
    const { confirm, runMutation } = await import("../runtime.js");
    await confirm(ctx, ids.length === 1 ? `Delete image ${ids[0]} and all its tags?` : `Delete ${ids.length} images and all their tags?`);
    let exitCode = 0;
    for (const imageId of ids) {
      exitCode = Math.max(exitCode, await runMutation(ctx, () => ctx.clients.images.delete({ imageId })));
      if (exitCode === EXIT.interrupted) break;
    }
    return exitCode;
  });
}
