// The config file's schema, read to values: every section refuses keys it does not know (naming the key
// path, with the closest known key), every number and duration is range-checked, and every default is
// written here once. A `registries:` entry is checked by its provider's schema (adapters/<provider>/config.ts),
// built from the entry field builders at the end of this file.
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

/** A problem `read` found; `hint` goes between the field and the colon (`cacheBytes (bytes, …): …`). */
export class EntryProblem {
  constructor(
    readonly message: string,
    readonly hint?: string,
  ) {}
}

/**
 * A setting of the file: `read` gives its value or the problem, and an absent one (missing, or null as an
 * empty YAML value gives) reads as `fallback`, the default, written here once in the file's own notation.
 */
function setting<T>(read: (value: unknown) => T | EntryProblem): z.ZodType<T | undefined>;
function setting<T>(read: (value: unknown) => T | EntryProblem, fallback: unknown): z.ZodType<T>;
function setting<T>(read: (value: unknown) => T | EntryProblem, fallback?: unknown): z.ZodType<T | undefined> {
  const value = z.unknown().transform((raw, ctx) => {
    const given = raw ?? fallback;
    if (given === undefined || given === null) return undefined;
    const out = read(given);
    if (!(out instanceof EntryProblem)) return out;
    ctx.addIssue({ code: "custom", message: `${out.message} (got ${JSON.stringify(given)})` });
    return z.NEVER;
  });
  // A missing key never reaches a transform in zod 4: without a default it stays absent, with one it is prefaulted.
  return fallback === undefined ? value.optional() : value.prefault(fallback);
}

const show = (ms: number) => (ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

/** Milliseconds, from min to max. */
function duration(min: number, max: number) {
  return (v: unknown) => {
    const ms = durationMs(v);
    if (ms === undefined) return new EntryProblem("expected a duration like 500ms, 30s, 5m, 24h or 7d");
    return ms < min || ms > max ? new EntryProblem(`expected a duration from ${show(min)} to ${show(max)}`) : ms;
  };
}

const numeric = (v: unknown) => (typeof v === "string" && v.trim() !== "" ? Number(v) : v);

/** A whole number; a numeric string (as ${ENV} gives) counts. */
function wholeNumber(min: number, max: number) {
  return (v: unknown) => {
    const n = numeric(v);
    return typeof n === "number" && Number.isInteger(n) && n >= min && n <= max ? n : new EntryProblem(`expected a whole number ${min}-${max}`);
  };
}

function number(min: number, max: number) {
  return (v: unknown) => {
    const n = numeric(v);
    return typeof n === "number" && Number.isFinite(n) && n >= min && n <= max ? n : new EntryProblem(`expected a number from ${min} to ${max}`);
  };
}

/** Bytes, or with a unit (512KiB, 256MiB, 1GiB). */
function size(min: number, max: number) {
  return (v: unknown) => {
    const n = bytesOf(v);
    if (n === undefined) return new EntryProblem("expected a size in bytes, or like 512KiB / 256MiB / 1GiB");
    return n < min || n > max ? new EntryProblem(`expected a size from ${min} to ${max} bytes`) : n;
  };
}

const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = { true: true, false: false, 1: true, 0: false, yes: true, no: false, on: true, off: false };
/** true/false, or a word for one (yes, on, 1, …) as the environment gives. */
export function booleanWord(v: unknown): boolean | undefined {
  if (typeof v === "boolean") return v;
  const word = typeof v === "string" ? v.trim().toLowerCase() : "";
  return Object.hasOwn(BOOLEAN_WORDS, word) ? BOOLEAN_WORDS[word] : undefined;
}
const boolean = (v: unknown) => booleanWord(v) ?? new EntryProblem("expected true or false");
const text = (v: unknown) => (typeof v === "string" ? v : new EntryProblem("expected a string"));
const texts = (v: unknown) => (Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : new EntryProblem("expected a list of strings"));
const oneOf =
  <T extends string>(values: readonly T[], expected = `expected one of ${values.join(", ")}`) =>
  (v: unknown) =>
    values.includes(v as T) ? (v as T) : new EntryProblem(expected);
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
const ROLES = ["viewer", "editor"] as const;
const role = setting(oneOf(ROLES, "expected viewer or editor"), "viewer");

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A section: a mapping that refuses keys it does not know; absent, its settings take their defaults. */
const section = <T extends z.ZodRawShape>(shape: T) => z.preprocess((v) => v ?? {}, z.strictObject(shape));
const list = <T extends z.ZodType>(item: T, fallback: unknown[] = []) => z.preprocess((v) => v ?? fallback, z.array(item));

/** `limits:`, durations read to milliseconds and sizes to bytes; DEFAULT_LIMITS is it read from nothing. */
const limitsSchema = section({
  /** Largest request message either port accepts. */
  maxMessageBytes: setting(size(1, 1024 ** 3), "4MiB"),
  /** HTTP/2 streams one connection may have open at once, on both ports. */
  maxConcurrentStreams: setting(wholeNumber(1, 100_000), 100),
  /** Calls per second per principal (token bucket); 0 turns the limit off. */
  ratePerSecond: setting(number(0, 1_000_000), 0),
  /** The bucket's size; by default twice the rate (at least 1). */
  burst: setting(wholeNumber(1, 10_000_000)),
  /** Deadline applied to a call whose client sent none. */
  defaultDeadline: setting(duration(1, DAY), "60s"),
  /** Longest deadline a call runs under, whatever the client asked for. */
  maxDeadline: setting(duration(1, DAY), "5m"),
  /** Deepest nesting a Connect JSON request may have, checked before it is parsed. */
  maxJsonDepth: setting(wholeNumber(1, 10_000), 64),
  /** Failed or missing credentials per client address per second (token bucket); 0 turns the limit off. */
  authFailuresPerSecond: setting(number(0, 1_000_000), 10),
  authFailureBurst: setting(wholeNumber(1, 10_000_000), 100),
  /** scrypt key verifications running at once; more are refused with RESOURCE_EXHAUSTED. */
  maxPendingKeyVerifications: setting(wholeNumber(1, 64), 2),
  // Node's timers hold at most 2^31-1 ms (about 24 days).
  /** A connection that has not shown its protocol (HTTP/2 preface or an HTTP/1.1 request line) by then is closed. */
  firstBytesTimeout: setting(duration(1, 24 * DAY), "10s"),
  /** An HTTP/1.1 request whose headers are incomplete, or an HTTP/2 connection without a first stream, by then is closed. */
  headersTimeout: setting(duration(1, 24 * DAY), "10s"),
  /** A connection with no traffic for this long is closed, on both ports. */
  idleTimeout: setting(duration(1, 24 * DAY), "5m"),
  /** Open connections per port; beyond it, new ones are closed at once. */
  maxConnections: setting(wholeNumber(1, 10_000_000), 10_000),
  maxConnectionsPerAddress: setting(wholeNumber(1, 10_000_000), 1000),
  /** HTTP/2 keepalive: an idle connection is pinged this often and closed when no answer comes within keepaliveTimeout. */
  keepaliveTime: setting(duration(1, 24 * DAY), "2h"),
  keepaliveTimeout: setting(duration(1, 24 * DAY), "20s"),
}).transform((limits, ctx) => {
  if (limits.maxDeadline < limits.defaultDeadline) ctx.addIssue({ code: "custom", path: ["defaultDeadline"], message: "must be at most maxDeadline" });
  return { ...limits, burst: limits.burst ?? Math.max(1, Math.ceil(limits.ratePerSecond * 2)) };
});

/** `operations:`; core/operations.ts takes its defaults from here. */
const operationsSchema = section({
  /** How long a finished operation stays readable. */
  retention: setting(duration(0, 10 * 365 * DAY), "7d"),
  /** Operations one replica runs at once. */
  concurrency: setting(wholeNumber(1, 1024), 8),
  /** How long a worker's claim on an operation lasts unless renewed; after a crash, its operations wait this long to run again. */
  // Renewed every third of it, so a shorter lease than 1s would be lost to an ordinary pause of the process.
  lease: setting(duration(1000, DAY), "30s"),
});

const POSTGRES_URL = /^postgres(ql)?:\/\//;

/** `state:`: the SQLite file in dataDir, or a PostgreSQL shared by replicas. */
const stateSchema = section({
  driver: setting(oneOf(["sqlite", "postgres"] as const, "expected sqlite or postgres"), "sqlite"),
  url: setting(text),
  maxConnections: setting(wholeNumber(2, 1000)),
}).transform((state, ctx) => {
  if (state.driver === "sqlite") return { driver: "sqlite" as const };
  if (state.url === undefined || !POSTGRES_URL.test(state.url)) {
    ctx.addIssue({ code: "custom", path: ["url"], message: "a postgres:// URL is required with driver postgres (or set REGPLANE_DATABASE_URL)" });
    return z.NEVER;
  }
  return { driver: "postgres" as const, url: state.url, ...(state.maxConnections !== undefined ? { maxConnections: state.maxConnections } : {}) };
});

const grantShape = { folders: setting(texts), role };

/** The whole file, read to values: every default of the file is in this schema and nowhere else. */
export const configFileSchema = z.strictObject({
  dataDir: setting(text, "./data"),
  server: section({
    host: setting(text, "127.0.0.1"),
    grpcPort: setting(wholeNumber(0, 65535), 50051),
    httpPort: setting(wholeNumber(0, 65535), 8080),
    corsOrigins: setting(texts, []),
    logLevel: setting(oneOf(LOG_LEVELS), "info"),
    shutdownGrace: setting(duration(0, HOUR), "10s"),
    /** Share of a List call's deadline one registry may use before it is reported unreachable. */
    registryTimeout: setting(duration(1, HOUR), "10s"),
    /** Also serve ImageService and OperationService under the Yandex Cloud names on the gRPC port. */
    yandexCompat: setting(boolean, true),
    /** Garbage V8 may accumulate past the live heap before a full collection (see server/heap.ts); 0 leaves V8's own growth. */
    heapHeadroom: setting(size(0, 64 * 1024 ** 3), "48MiB"),
  }),
  // Each provider's schema refuses the fields it does not know, naming registries[<id>].<field>.
  registries: list(z.looseObject({ id: setting(text), provider: setting(text) }), [{ id: "local", provider: "local" }]),
  /** Absent: one folder `default` holding every registry. */
  folders: z.array(z.strictObject({ id: setting(text), registries: setting(texts) })).nullish(),
  pageTokens: section({ ttl: setting(duration(1000, 365 * DAY), "24h"), keys: setting(texts, []) }),
  operations: operationsSchema,
  auth: section({
    keys: list(z.strictObject({ name: setting(text), hash: setting(text), ...grantShape })),
    clientCerts: list(z.strictObject({ subject: setting(text), ...grantShape })),
    /** Require credentials for gRPC server reflection too. */
    protectReflection: setting(boolean, false),
    /** Require credentials for grpc.health.v1, /healthz and /metrics too. */
    protectHealth: setting(boolean, false),
  }),
  tls: section({ cert: setting(text), key: setting(text), clientCa: setting(text) }),
  limits: limitsSchema,
  state: stateSchema,
});

export type ConfigFile = z.output<typeof configFileSchema>;

/** Every setting with nothing configured: what the engine, the page tokens and the servers fall back to. */
export const CONFIG_DEFAULTS: ConfigFile = configFileSchema.parse({});

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

/**
 * The file read to values, or one line per problem (`server.shutdownGrce: unknown key (did you mean
 * shutdownGrace?)`); `sources` names where a setting that did not come from the file came from.
 */
export function readConfigFile(raw: unknown, sources: ReadonlyMap<string, string> = new Map()): { file: ConfigFile; problems: [] } | { file?: undefined; problems: string[] } {
  const result = configFileSchema.safeParse(raw);
  if (result.success) return { file: result.data, problems: [] };
  const where = (path: readonly PropertyKey[]) => {
    const text = pathText(path);
    const source = sources.get(text);
    return source === undefined ? text : `${source} (${text})`;
  };
  const lines: string[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === "unrecognized_keys") {
      const known = keysAt(configFileSchema, issue.path);
      for (const key of issue.keys) {
        const near = closestKey(key, known);
        lines.push(`${pathText([...issue.path, key])}: unknown key${near ? ` (did you mean ${near}?)` : ""}`);
      }
    } else if (issue.code === "invalid_type") {
      lines.push(`${where(issue.path) || "config"}: expected ${issue.expected === "object" ? "a mapping" : issue.expected === "array" ? "a list" : issue.expected}`);
    } else {
      lines.push(`${where(issue.path)}: ${issue.message}`);
    }
  }
  return { problems: lines };
}

/** One line per problem of a config document (none when it reads). */
export function configProblems(raw: unknown): string[] {
  return readConfigFile(raw).problems;
}

// The fields of a `registries:` entry (the schemas in adapters/<provider>/config.ts are built from these).
// Each names its problem as entries always have ("must be …"); registry-config.ts adds registries[<id>].<field>.
// A field left out is absent, or its default where the schema gives one with .default().

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
