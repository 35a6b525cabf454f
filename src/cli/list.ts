// Lists walk every page by default and print each as it arrives; --limit stops early (asking the server
// for no more than it needs, so the next page token printed resumes exactly after the last item).
import { Code, ConnectError } from "@connectrpc/connect";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import type { Context } from "./context.js";
import type { PageFlags } from "./command.js";
import { EXIT } from "./exit.js";
import { ListPrinter } from "./output.js";

export interface Page<D extends DescMessage> {
  items: Array<MessageShape<D>>;
  nextPageToken: string;
  unreachable?: string[];
}

/** Walks pages into the printer; returns the exit code (3 when every registry in scope was unreachable). */
export async function printList<D extends DescMessage>(
  ctx: Context,
  printer: ListPrinter<D>,
  flags: PageFlags,
  fetchPage: (pageSize: number, pageToken: string) => Promise<Page<D>>,
): Promise<number> {
  const unreachable = new Set<string>();
  let token = flags.pageToken ?? "";
  let remaining = flags.limit ?? Infinity;
  try {
    do {
      const pageSize = Math.min(flags.pageSize ?? (remaining < 100 ? remaining : 0), remaining);
      const page = await fetchPage(pageSize, token);
      const items = page.items.slice(0, Math.min(page.items.length, remaining));
      remaining -= items.length;
      for (const id of page.unreachable ?? []) unreachable.add(id);
      printer.page(items);
      token = page.nextPageToken;
    } while (token !== "" && remaining > 0);
  } catch (err) {
    const allDown = err instanceof ConnectError && err.code === Code.Unavailable ? err.findDetails(ErrorInfoSchema).find((i) => i.reason === "ALL_REGISTRIES_UNAVAILABLE") : undefined;
    if (allDown === undefined) throw err;
    const ids = (allDown.metadata.registry_ids ?? "").split(",").filter(Boolean);
    // A later page can hold only the registries that are down: what was listed stands, as partial results.
    if (printer.count === 0) {
      ctx.io.err(`regplane: nothing listed: every registry in scope is unreachable${ids.length > 0 ? ` (${ids.join(", ")})` : ""}; try again later or narrow the scope\n`);
      return EXIT.nothingListed;
    }
    for (const id of ids) unreachable.add(id);
    token = "";
  }
  printer.end({ unreachable: [...unreachable], nextPageToken: token });
  if (printer.count === 0 && unreachable.size === 0 && ctx.format === "table") ctx.io.err(`regplane: no ${printer.field} found\n`);
  if (token !== "" && ctx.format === "table") ctx.io.err(`regplane: more items: --page-token ${token}\n`);
  if (unreachable.size > 0) {
    ctx.io.err(`regplane: partial results: unreachable registries: ${[...unreachable].join(", ")}\n`);
    if (printer.count === 0) return EXIT.nothingListed;
  }
  return EXIT.ok;
}
