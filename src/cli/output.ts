// Output formats: a borderless table (streamed page by page for lists), the API's JSON, the same as YAML,
// or ids only (-q). Tables show sizes and times for people; JSON and YAML keep them exact.
import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import Table from "cli-table3";
import { stringify } from "yaml";
import { anyTypes } from "./clients.js";
import type { Column, Format, Write } from "./format.js";

const BORDERLESS = {
  top: "", "top-mid": "", "top-left": "", "top-right": "", bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "",
  left: "", "left-mid": "", mid: "", "mid-mid": "", right: "", "right-mid": "", middle: "  ",
};

function renderRows(rows: string[][], colWidths: number[]): string {
  const table = new Table({ chars: BORDERLESS, style: { head: [], border: [], "padding-left": 0, "padding-right": 0 }, colWidths, wordWrap: false });
  table.push(...rows);
  return `${table.toString().split("\n").map((line) => line.trimEnd()).join("\n")}\n`;
}

export function messageJson<D extends DescMessage>(schema: D, message: MessageShape<D>): unknown {
  return toJson(schema, message, { registry: anyTypes });
}

function document(format: "json" | "yaml", value: unknown): string {
  return format === "json" ? `${JSON.stringify(value, null, 2)}\n` : stringify(value);
}

/** Prints a list as its pages arrive; `end` closes it (and prints the whole document for json/yaml). */
export class ListPrinter<D extends DescMessage> {
  private widths: number[] | undefined;
  private readonly items: unknown[] = [];
  count = 0;

  constructor(
    private readonly format: Format,
    private readonly schema: D,
    readonly field: string,
    private readonly columns: Array<Column<MessageShape<D>>>,
    private readonly idOf: (item: MessageShape<D>) => string,
    private readonly out: Write,
  ) {}

  page(items: Array<MessageShape<D>>): void {
    this.count += items.length;
    if (this.format === "id") {
      if (items.length > 0) this.out(items.map((i) => `${this.idOf(i)}\n`).join(""));
    } else if (this.format === "table") {
      if (items.length === 0) return;
      const rows = items.map((item) => this.columns.map((c) => c.value(item)));
      let head: string[][] = [];
      if (this.widths === undefined) {
        head = [this.columns.map((c) => c.header)];
        // Later pages reuse the first page's widths, so the table streams; longer values are cut with "…".
        this.widths = this.columns.map((c, n) => Math.min(c.max ?? 80, Math.max(c.header.length, ...rows.map((r) => r[n].length))));
      }
      this.out(renderRows([...head, ...rows], this.widths));
    } else {
      for (const item of items) this.items.push(messageJson(this.schema, item));
    }
  }

  end(extra: { unreachable?: string[]; nextPageToken?: string } = {}): void {
    if (this.format === "json" || this.format === "yaml") {
      const doc: Record<string, unknown> = { [this.field]: this.items };
      if (extra.nextPageToken) doc.nextPageToken = extra.nextPageToken;
      if (extra.unreachable && extra.unreachable.length > 0) doc.unreachable = extra.unreachable;
      this.out(document(this.format, doc));
    }
  }
}

/** Prints one resource: fields as "name  value" lines in a table, the message for json/yaml, its id for -q. */
export function printOne<D extends DescMessage>(format: Format, schema: D, message: MessageShape<D>, fields: Array<[string, string]>, id: string, out: Write): void {
  if (format === "id") out(`${id}\n`);
  else if (format === "table") {
    const shown = fields.filter(([, v]) => v !== "");
    out(renderRows(shown.map(([k, v]) => [k, v]), [Math.max(...shown.map(([k]) => k.length)), Math.max(1, ...shown.map(([, v]) => v.length))]));
  } else out(document(format, messageJson(schema, message)));
}
