// Request parsing shared by the List RPCs (page size, the name filter and order_by), and the walk of the
// List RPCs over named things (namespaces, repositories) across the registries of a scope.
import { invalidField, nothingListed } from "../core/errors.js";
import { pageTokenBinding, type PageTokenCodec } from "../core/pagetoken.js";
import { decodeCursor, encodeCursor } from "../core/positions.js";
import type { Provider } from "../core/provider.js";
import type { ImageOrderField, OrderTerm } from "../core/types.js";

export const DEFAULT_PAGE_SIZE = 100;

/** 0 → 100; the proto rules already bound it to 0..1000. */
export function pageSizeOf(n: bigint): number {
  return n === 0n ? DEFAULT_PAGE_SIZE : Number(n);
}

/** `name="<value>"` → value; "" → undefined. The grammar is checked by the proto rule. */
export function nameFilterOf(filter: string): string | undefined {
  if (filter === "") return undefined;
  const m = /^name="([^"]{1,256})"$/.exec(filter);
  if (!m) throw invalidField("filter", 'filter must be empty or name="<value>" with a value of 1 to 256 characters', "filter.grammar");
  return m[1];
}

/** "name desc, created_at" → terms; last_modified reads as created_at; a repeated field is an error. */
export function orderTermsOf(orderBy: string): OrderTerm[] {
  if (orderBy.trim() === "") return [];
  const terms: OrderTerm[] = [];
  const seen = new Set<ImageOrderField>();
  for (const part of orderBy.split(",")) {
    const [rawField, dir, extra] = part.trim().split(/\s+/);
    const field = (rawField === "last_modified" ? "created_at" : rawField) as ImageOrderField;
    if (!["name", "digest", "created_at"].includes(field) || extra !== undefined || (dir !== undefined && dir !== "asc" && dir !== "desc")) {
      throw invalidField("order_by", `unknown order term ${JSON.stringify(part.trim())}: use name, digest or created_at, optionally followed by asc or desc`, "order_by.grammar");
    }
    if (seen.has(field)) throw invalidField("order_by", `order_by names ${field} twice`, "order_by.duplicate");
    seen.add(field);
    terms.push({ field, desc: dir === "desc" });
  }
  return terms;
}

export function orderKeyString(terms: OrderTerm[]): string {
  return terms.map((t) => `${t.field}${t.desc ? "-" : "+"}`).join(",");
}

export interface NamedWalk<T> {
  /** In the order the listing walks them. */
  registries: Provider[];
  pageToken: string;
  pageSize: bigint;
  /** The page token's binding (pageTokenBinding of the RPC's scope, filter and caller). */
  binding: string;
  tokens: PageTokenCodec;
  /** One registry's things by name, strictly after `after`; done when it has no more. */
  list(registry: Provider, after: string | undefined, limit: number): Promise<{ items: T[]; done: boolean }>;
  /** The name `list` pages by. */
  nameOf(item: T): string;
}

/**
 * One page of things listed by name from each registry in turn. The token holds the index of the registry
 * and the last name returned from it; an unreachable registry is named in `unreachable` and the walk goes on.
 */
export async function listNamedAcross<T>(walk: NamedWalk<T>): Promise<{ items: T[]; nextPageToken: string; unreachable: string[] }> {
  const { registries, tokens } = walk;
  // The token names a registry by its index, so it is bound to the registries in scope too: after a
  // configuration change it is refused rather than resumed in another registry.
  const binding = pageTokenBinding(walk.binding, ...registries.map((p) => p.id));
  const now = new Date();
  let pos = { index: 0, after: "" };
  if (walk.pageToken !== "") {
    const [index, after] = decodeCursor(await tokens.decode(walk.pageToken, binding, now), 2);
    if (!/^\d+$/.test(index) || Number(index) >= registries.length) throw invalidField("page_token", "invalid page token", "page_token.invalid");
    pos = { index: Number(index), after };
  }
  const limit = pageSizeOf(walk.pageSize);
  const startIndex = pos.index;
  const items: T[] = [];
  const unreachable: string[] = [];
  const failures: Array<{ registryId: string; error: unknown }> = [];
  let resumeAt: { index: number; after: string } | undefined;
  for (let i = pos.index; i < registries.length && items.length < limit; i++) {
    const after = i === pos.index ? pos.after : "";
    try {
      const res = await walk.list(registries[i], after || undefined, limit - items.length);
      items.push(...res.items);
      const last = res.items[res.items.length - 1];
      if (!res.done) {
        resumeAt = { index: i, after: last === undefined ? after : walk.nameOf(last) };
        break;
      }
    } catch (err) {
      if (registries.length === 1) throw err;
      unreachable.push(registries[i].id);
      failures.push({ registryId: registries[i].id, error: err });
      resumeAt ??= { index: i, after };
    }
    pos = { index: i + 1, after: "" };
  }
  // Nothing from anyone: the same answer as ImageService.List gives.
  if (items.length === 0 && failures.length > 0 && failures.length === registries.length - startIndex) throw nothingListed(failures);
  if (resumeAt === undefined && pos.index < registries.length) resumeAt = pos;
  const nextPageToken = resumeAt ? await tokens.encode(encodeCursor([String(resumeAt.index), resumeAt.after]), binding, now) : "";
  return { items, nextPageToken, unreachable };
}
