// Request parsing shared by the List RPCs: page size, the name filter and order_by.
import { invalidField } from "../core/errors.js";
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
