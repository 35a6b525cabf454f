// Lenient readers for provider JSON: a missing or mistyped field reads as empty rather than throwing,
// so one odd field in a listing does not lose the whole page.

export function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

export function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** An RFC 3339 string as a Date; anything else, or an unparseable date, is undefined. */
export function dateOf(v: unknown): Date | undefined {
  if (typeof v !== "string") return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
