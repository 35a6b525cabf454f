// The shape of the config file, checked before any value is read: every section refuses keys it does not
// know (naming the key path, with the closest known key), and every number and duration is range-checked.
// A `registries:` entry is checked by its provider's schema (adapters/<provider>/config.ts), built from the
// entry field builders at the end of this file.
import { z } from "zod";

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const SIZE = /^(\d+)\s*(B|KiB|MiB|GiB)?$/;
const UNIT_BYTES = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 } as const;

/** Milliseconds of a duration (500ms, 30s, 5m, 24h, 7d, or a number of seconds); undefined if not one. */
export function durationMs(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const m = typeof value === "string" ? DURATION.exec(value.trim()) : null;
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : undefined;
}

function bytesOf(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 ? value : undefined;
  const m = typeof value === "string" ? SIZE.exec(value.trim()) : null;
  return m ? Number(m[1]) * UNIT_BYTES[(m[2] ?? "B") as keyof typeof UNIT_BYTES] : undefined;
}

/** A value `check` accepts; `check` returns the problem, or undefined. Absent (missing or null) means the default. */
function field(check: (value: unknown) => string | undefined) {
  return z
    .unknown()
    .superRefine((value, ctx) => {
      const problem = check(value);
      if (problem !== undefined) ctx.addIssue({ code: "custom", message: `${problem} (got ${JSON.stringify(value)})` });
    })
    .nullish();
}

const show = (ms: number) => (ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

export function duration(min: number, max: number) {
  return field((v) => {
    const ms = durationMs(v);
    if (ms === undefined) return "expected a duration like 500ms, 30s, 5m, 24h or 7d";
    return ms < min || ms > max ? `expected a duration from ${show(min)} to ${show(max)}` : undefined;
  });
}

/** A whole number; a numeric string (as ${ENV} gives) counts. */
export function wholeNumber(min: number, max: number) {
  return field((v) => {
    const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    return typeof n === "number" && Number.isInteger(n) && n >= min && n <= max ? undefined : `expected a whole number ${min}-${max}`;
  });
}

export function number(min: number, max: number) {
  return field((v) => {
    const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    return typeof n === "number" && Number.isFinite(n) && n >= min && n <= max ? undefined : `expected a number from ${min} to ${max}`;
  });
}

/** Bytes, or with a unit (512KiB, 256MiB, 1GiB). */
export function size(min: number, max: number) {
  return field((v) => {
    const n = bytesOf(v);
    if (n === undefined) return "expected a size in bytes, or like 512KiB / 256MiB / 1GiB";
    return n < min || n > max ? `expected a size from ${min} to ${max} bytes` : undefined;
  });
}

const BOOLEAN_WORDS = new Set(["true", "false", "1", "0", "yes", "no", "on", "off"]);
const boolean = field((v) =>
  typeof v === "boolean" || (typeof v === "string" && BOOLEAN_WORDS.has(v.trim().toLowerCase())) ? undefined : "expected true or false",
);
const text = field((v) => (typeof v === "string" ? undefined : "expected a string"));
const texts = field((v) => (Array.isArray(v) && v.every((x) => typeof x === "string") ? undefined : "expected a list of strings"));
const port = wholeNumber(0, 65535);
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];
const logLevel = field((v) => (typeof v === "string" && LOG_LEVELS.includes(v) ? undefined : `expected one of ${LOG_LEVELS.join(", ")}`));
const role = field((v) => (v === "viewer" || v === "editor" ? undefined : "expected viewer or editor"));

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * The `limits:` section, one line a key: add a key here with its range, and read it in config.ts.
 * Exported so other sections' checks can reuse the same readers.
 */
export const LIMIT_KEYS = {
  maxMessageBytes: size(1, 1024 ** 3),
  maxConcurrentStreams: wholeNumber(1, 100_000),
  ratePerSecond: number(0, 1_000_000),
  burst: wholeNumber(1, 10_000_000),
  defaultDeadline: duration(1, DAY),
  maxDeadline: duration(1, DAY),
  maxJsonDepth: wholeNumber(1, 10_000),
  authFailuresPerSecond: number(0, 1_000_000),
  authFailureBurst: wholeNumber(1, 10_000_000),
  maxPendingKeyVerifications: wholeNumber(1, 64),
  // Node's timers hold at most 2^31-1 ms (about 24 days).
  firstBytesTimeout: duration(1, 24 * DAY),
  headersTimeout: duration(1, 24 * DAY),
  idleTimeout: duration(1, 24 * DAY),
  maxConnections: wholeNumber(1, 10_000_000),
  maxConnectionsPerAddress: wholeNumber(1, 10_000_000),
  keepaliveTime: duration(1, 24 * DAY),
  keepaliveTimeout: duration(1, 24 * DAY),
};

const section = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape).nullish();
const list = <T extends z.ZodType>(item: T) => z.array(item).nullish();

export const configFileSchema = z.strictObject({
  dataDir: text,
  server: section({
    host: text,
    grpcPort: port,
    httpPort: port,
    corsOrigins: texts,
    logLevel,
    shutdownGrace: duration(0, HOUR),
    registryTimeout: duration(1, HOUR),
    yandexCompat: boolean,
    heapHeadroom: size(0, 64 * 1024 ** 3),
  }),
  // Each provider's reader refuses the fields it does not know, naming registries[<id>].<field>.
  registries: list(z.looseObject({ id: text, provider: text })),
  folders: list(z.strictObject({ id: text, registries: texts })),
  pageTokens: section({ ttl: duration(1000, 365 * DAY), keys: texts }),
  operations: section({
    retention: duration(0, 10 * 365 * DAY),
    concurrency: wholeNumber(1, 1024),
    lease: duration(1000, DAY),
  }),
  auth: section({
    keys: list(z.strictObject({ name: text, hash: text, folders: texts, role })),
    clientCerts: list(z.strictObject({ subject: text, folders: texts, role })),
    protectReflection: boolean,
    protectHealth: boolean,
  }),
  tls: section({ cert: text, key: text, clientCa: text }),
  limits: section(LIMIT_KEYS),
  state: section({
    driver: field((v) => (v === "sqlite" || v === "postgres" ? undefined : "expected sqlite or postgres")),
    url: text,
    maxConnections: wholeNumber(2, 1000),
  }),
});

/** Edit distance counting a swap of neighbours as one edit (kyes → keys), case-insensitive, for "did you mean". */
function distance(a: string, b: string): number {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  const d = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[x.length][y.length];
}

/** The known key closest to `key`, if it is close enough to be a typo of it. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(key.length / 3)) + 1;
  for (const k of known) {
    const d = distance(key, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

export function pathText(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
}

/** The strict object schema at `path` under `root`, to list the keys it knows. */
export function keysAt(root: z.ZodType, path: readonly PropertyKey[]): string[] {
  const unwrap = (schema: z.ZodType): z.ZodType => {
    for (;;) {
      if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable || schema instanceof z.ZodDefault) schema = schema.unwrap() as z.ZodType;
      else if (schema instanceof z.ZodPipe) schema = (schema.in instanceof z.ZodTransform ? schema.out : schema.in) as z.ZodType;
      else return schema;
    }
  };
  let schema = root;
  for (const p of path) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodArray && typeof p === "number") schema = schema.element as z.ZodType;
    else if (schema instanceof z.ZodObject) schema = schema.shape[p as string] as z.ZodType;
    else return [];
  }
  schema = unwrap(schema);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

/** One line per problem: `server.shutdownGrce: unknown key (did you mean shutdownGrace?)`. */
export function configProblems(raw: unknown): string[] {
  const result = configFileSchema.safeParse(raw);
  if (result.success) return [];
  const lines: string[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === "unrecognized_keys") {
      const known = keysAt(configFileSchema, issue.path);
      for (const key of issue.keys) {
        const near = closestKey(key, known);
        lines.push(`${pathText([...issue.path, key])}: unknown key${near ? ` (did you mean ${near}?)` : ""}`);
      }
    } else if (issue.code === "invalid_type") {
      lines.push(`${pathText(issue.path) || "config"}: expected ${issue.expected === "object" ? "a mapping" : issue.expected === "array" ? "a list" : issue.expected}`);
    } else {
      lines.push(`${pathText(issue.path)}: ${issue.message}`);
    }
  }
  return lines;
}

// The fields of a `registries:` entry (the schemas in adapters/<provider>/config.ts are built from these).
// Each names its problem as entries always have ("must be …"); registry-config.ts adds registries[<id>].<field>.
// A field left out is absent, or its default where the schema gives one with .default().

/** A problem `read` found; `hint` goes between the field and the colon (`cacheBytes (bytes, …): …`). */
export class EntryProblem {
  constructor(
    readonly message: string,
    readonly hint?: string,
  ) {}
}

function entryField<T>(read: (value: unknown) => T | EntryProblem) {
  return z.unknown().transform((value, ctx) => {
    const out = read(value);
    if (!(out instanceof EntryProblem)) return out;
    ctx.addIssue({ code: "custom", message: out.message, params: out.hint === undefined ? undefined : { hint: out.hint } });
    return z.NEVER;
  });
}

const mustBe = (what: string) => new EntryProblem(`must be ${what}`);

/** Text; null and "" read as absent, unless `keepEmpty` (an empty password is a password; null is refused). */
export function entryText(opts: { keepEmpty?: boolean } = {}) {
  return entryField((v) => {
    if (!opts.keepEmpty && (v === null || v === "")) return undefined;
    return typeof v === "string" ? v : mustBe("a string");
  }).optional();
}

/** Text that must be there; `hint` says where it may come from (secrets: ${ENV_VAR} or <field>File). */
export function requiredText(hint?: string) {
  return entryField((v) => {
    if (v !== undefined && v !== null && v !== "" && typeof v !== "string") return mustBe("a string");
    return typeof v === "string" && v !== "" ? v : new EntryProblem(hint === undefined ? "required" : `required (${hint})`);
  });
}

export function entryFlag() {
  return entryField((v) => (typeof v === "boolean" ? v : mustBe("true or false"))).optional();
}

/** A whole number from min to max; a numeric string (as from ${ENV}) counts. */
export function entryWholeNumber(min: number, max: number) {
  return entryField((v) => {
    const n = typeof v === "string" ? Number(v) : v;
    return typeof n === "number" && Number.isInteger(n) && n >= min && n <= max ? n : mustBe(`a whole number ${min}-${max}`);
  }).optional();
}

export function entryPositiveNumber() {
  return entryField((v) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : mustBe("a positive number"))).optional();
}

export function entryTexts() {
  return entryField((v) => (Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : mustBe("a list of strings"))).optional();
}

/** In milliseconds; with `positive`, 0 is refused. */
export function entryDuration(opts: { positive?: boolean } = {}) {
  return entryField((v) => {
    const ms = durationMs(v);
    if (ms === undefined) return new EntryProblem(`expected a duration like 500ms, 30s, 5m, 24h or 7d (got ${JSON.stringify(v)})`);
    return opts.positive && ms === 0 ? mustBe("longer than 0") : ms;
  }).optional();
}

/** Bytes: a whole number of at least 1, or with a unit (512KiB, 256MiB, 1GiB). */
export function entrySize() {
  return entryField((v) => {
    const m = typeof v === "string" ? SIZE.exec(v.trim()) : null;
    if (m) return bytesOf(v)!;
    const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    if (typeof n === "number" && Number.isInteger(n) && n >= 1) return n;
    return new EntryProblem(`expected a whole number ≥ 1 (got ${JSON.stringify(v)})`, "bytes, or like 512KiB / 256MiB / 1GiB");
  }).optional();
}
