// What tables show and which output was asked for; kept free of heavy imports, since every command's
// definition (and so `--help`) loads it.
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { CliError } from "./exit.js";

export type Format = "table" | "json" | "yaml" | "id";

export type Write = (text: string) => void;

export interface Column<T> {
  header: string;
  value: (item: T) => string;
  /** Widest a column grows from the first page's values. */
  max?: number;
}

export function parseFormat(output: string | undefined, quiet: boolean | undefined): Format {
  if (quiet) return "id";
  const format = output ?? "table";
  if (format === "table" || format === "json" || format === "yaml") return format;
  throw new CliError(`-o/--output: table, json or yaml, not "${format}"`);
}

export function bytes(n: bigint | number): string {
  let value = Number(n);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** A timestamp as "2024-05-01 12:00:00" (UTC), or "" when unset. */
export function time(ts: Timestamp | undefined): string {
  if (ts === undefined) return "";
  return new Date(Number(ts.seconds) * 1000).toISOString().replace("T", " ").slice(0, 19);
}
