// Kept as one file: the generators, raw HTTP/2 senders and memory checks all serve one server process and one run of cases.
// Hostile input against the real server process: over 10,000 random and mutated requests to both ports
// (random bytes as messages, mutated valid requests, fields of the wrong wire type, invalid UTF-8 and
// oversized strings, forged, oversized and mutated page tokens, wrong content types, compressed flags
// with corrupt data, truncated and oversized frames, bad timeout and auth headers), sent with raw HTTP/2
// and HTTP/1.1 clients. Every response must carry a well-formed status that is never INTERNAL, the
// process must stay up, and its memory must stay bounded.
import * as http from "node:http";
import * as http2 from "node:http2";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import { create, toBinary, type DescMessage, type DescService } from "@bufbuild/protobuf";
import fc from "fast-check";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeleteImageRequestSchema, GetImageRequestSchema, ImageService, ListImagesRequestSchema } from "../src/gen/regplane/v1/image_service_pb.js";
import { CreateNamespaceRequestSchema, ListNamespacesRequestSchema, NamespaceService } from "../src/gen/regplane/v1/namespace_service_pb.js";
import { GetOperationRequestSchema, ListOperationsRequestSchema, OperationService, WaitOperationRequestSchema } from "../src/gen/regplane/v1/operation_service_pb.js";
import { ListRegistriesRequestSchema, RegistryService } from "../src/gen/regplane/v1/registry_service_pb.js";
import { hashApiKey, newApiKey } from "../src/core/api-keys.js";
import { connectClient } from "./support/clients.js";
import { makeTempDir, writeSyntheticImage } from "./support/images.js";
import { startServer, type ServerProcess } from "./support/server.js";

const SEED = 20_260_522;
const REQUESTS_PER_PORT = 5_200;
const CONCURRENCY = 48;
const MAX_MESSAGE_BYTES = 64 * 1024;
const KEY = newApiKey();

const SERVICES: DescService[] = [ImageService, OperationService, RegistryService, NamespaceService];
const KNOWN_PATHS = [
  ...SERVICES.flatMap((s) => s.methods.map((m) => `/${s.typeName}/${m.name}`)),
  "/yandex.cloud.containerregistry.v1.ImageService/List",
  "/yandex.cloud.containerregistry.v1.ImageService/Get",
  "/yandex.cloud.containerregistry.v1.ImageService/Delete",
  "/yandex.cloud.operation.OperationService/Get",
  "/yandex.cloud.operation.OperationService/Cancel",
  "/grpc.health.v1.Health/Check",
  "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
];

// ---- building hostile bodies ----

function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

interface RawField {
  field: number;
  wire: number;
  varint: bigint;
  bytes: Uint8Array;
}

/** Protobuf bytes from fields of any number and wire type, including invalid wire types 6 and 7. */
function encodeFields(fields: RawField[]): Uint8Array {
  const out: number[] = [];
  for (const f of fields) {
    out.push(...varint(BigInt(f.field) * 8n + BigInt(f.wire)));
    if (f.wire === 0) out.push(...varint(f.varint));
    else if (f.wire === 1) out.push(...f.bytes.subarray(0, 8), ...new Uint8Array(Math.max(0, 8 - f.bytes.length)));
    else if (f.wire === 2) out.push(...varint(BigInt(f.bytes.length)), ...f.bytes);
    else if (f.wire === 5) out.push(...f.bytes.subarray(0, 4), ...new Uint8Array(Math.max(0, 4 - f.bytes.length)));
  }
  return Uint8Array.from(out);
}

/** Byte sequences that are not UTF-8: lone continuation bytes, overlongs, surrogates, truncated sequences. */
const invalidUtf8 = fc
  .tuple(
    fc.string({ maxLength: 20 }),
    fc.constantFrom([0xff], [0xc3, 0x28], [0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf8, 0x88, 0x80, 0x80, 0x80]),
    fc.string({ maxLength: 20 }),
  )
  .map(([a, bad, b]) => Uint8Array.from([...Buffer.from(a), ...bad, ...Buffer.from(b)]));

const fieldBytes = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 60 }).map((s) => new Uint8Array(Buffer.from(s))) },
  { weight: 3, arbitrary: invalidUtf8 },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  // Longer than any field allows; some over the message limit.
  { weight: 1, arbitrary: fc.integer({ min: 257, max: 90_000 }).map((n) => new Uint8Array(n).fill(0x61)) },
);

const rawField: fc.Arbitrary<RawField> = fc.record({
  field: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 100, max: 103 }), fc.integer({ min: 1, max: 536_870_911 })),
  wire: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0, 2) }, { weight: 2, arbitrary: fc.constantFrom(1, 5) }, { weight: 1, arbitrary: fc.constantFrom(3, 4, 6, 7) }),
  varint: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  bytes: fieldBytes,
});

interface Seeds {
  imageId: string;
  pageToken: string;
}

/** Valid requests of several methods, to mutate. */
function validMessages(s: Seeds): Uint8Array[] {
  const enc = <M extends DescMessage>(schema: M, init: object) => toBinary(schema, create(schema, init as never));
  return [
    enc(ListImagesRequestSchema, { folderId: "default", pageSize: 2n, filter: 'name="local/team/app"', orderBy: "name desc" }),
    enc(ListImagesRequestSchema, { pageSize: 1n, pageToken: s.pageToken }),
    enc(GetImageRequestSchema, { imageId: s.imageId }),
    enc(DeleteImageRequestSchema, { imageId: "i" + "b".repeat(32) }),
    enc(GetOperationRequestSchema, { operationId: "op" + "c".repeat(32) }),
    enc(WaitOperationRequestSchema, { operationId: "op" + "c".repeat(32), timeout: { seconds: 0n, nanos: 1_000_000 } }),
    enc(ListOperationsRequestSchema, { pageSize: 3n, done: true }),
    enc(ListNamespacesRequestSchema, { registryId: "local", pageSize: 1n }),
    enc(CreateNamespaceRequestSchema, { registryId: "local", name: "fuzz" }),
    enc(ListRegistriesRequestSchema, { folderId: "default" }),
  ];
}

type Mutation = { kind: "flip" | "truncate" | "insert" | "duplicate"; at: number; byte: number };
const mutation: fc.Arbitrary<Mutation> = fc.record({ kind: fc.constantFrom("flip", "truncate", "insert", "duplicate"), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) });

function mutate(bytes: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = Array.from(bytes);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === "flip" && b.length > 0) b[at] ^= 1 << (m.byte % 8);
    else if (m.kind === "truncate") b = b.slice(0, at);
    else if (m.kind === "insert") b.splice(at, 0, m.byte);
    else b = [...b, ...b.slice(at)];
  }
  return Uint8Array.from(b);
}

/** A ListImagesRequest carrying a forged, oversized or mutated page token, as protobuf bytes. */
function tokenMessage(s: Seeds) {
  const forged = fc.oneof(
    fc.base64String({ maxLength: 100 }),
    fc.string({ unit: "grapheme", maxLength: 100 }),
    fc.integer({ min: 101, max: 5000 }).map((n) => "A".repeat(n)),
    fc.array(fc.nat({ max: s.pageToken.length + 2 }), { minLength: 1, maxLength: 4 }).map((at) => {
      const t = s.pageToken.split("");
      for (const i of at) t[i % t.length] = t[i % t.length] === "A" ? "B" : "A";
      return t.join("");
    }),
  );
  return fc.tuple(forged, fc.constantFrom("", "default"), fc.constantFrom("", "name", "created_at desc")).map(([pageToken, folderId, orderBy]) =>
    toBinary(ListImagesRequestSchema, create(ListImagesRequestSchema, { pageToken, folderId, orderBy, pageSize: 1n })),
  );
}

function message(s: Seeds): fc.Arbitrary<Uint8Array> {
  const valid = validMessages(s);
  return fc.oneof(
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    { weight: 4, arbitrary: fc.array(rawField, { maxLength: 6 }).map(encodeFields) },
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...valid), fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([b, ms]) => mutate(b, ms)) },
    { weight: 3, arbitrary: tokenMessage(s) },
    { weight: 1, arbitrary: fc.constantFrom(...valid) },
  );
}

type Framing = "plain" | "compressed-flag" | "gzip" | "gzip-corrupt" | "truncated" | "huge-length" | "two-frames" | "unframed" | "empty" | "trailing-garbage";
const framing: fc.Arbitrary<Framing> = fc.oneof(
  { weight: 10, arbitrary: fc.constant("plain" as const) },
  { weight: 1, arbitrary: fc.constantFrom<Framing>("compressed-flag", "gzip", "gzip-corrupt", "truncated", "huge-length", "two-frames", "unframed", "empty", "trailing-garbage") },
);

function envelope(flags: number, data: Uint8Array, declared = data.length): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(declared >>> 0, 1);
  return Buffer.concat([head, data]);
}

/** The body of a gRPC or gRPC-Web request, and the grpc-encoding header it needs (if any). */
function frame(msg: Uint8Array, how: Framing): { body: Buffer; encoding?: string } {
  switch (how) {
    case "plain":
      return { body: envelope(0, msg) };
    case "compressed-flag":
      return { body: envelope(1, msg) };
    case "gzip":
      return { body: envelope(1, gzipSync(msg)), encoding: "gzip" };
    case "gzip-corrupt":
      return { body: envelope(1, Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), msg])), encoding: "gzip" };
    case "truncated":
      return { body: envelope(0, msg, msg.length + 1 + (msg.length % 97)) };
    case "huge-length":
      return { body: envelope(0, msg.subarray(0, 16), 0x7fffffff) };
    case "two-frames":
      return { body: Buffer.concat([envelope(0, msg), envelope(0, msg)]) };
    case "unframed":
      return { body: Buffer.from(msg) };
    case "empty":
      return { body: Buffer.alloc(0) };
    case "trailing-garbage":
      return { body: Buffer.concat([envelope(0, msg), Buffer.from([0x80, 0, 0])]) };
  }
}

// ---- one request ----

type Protocol = "grpc" | "grpc-web" | "connect-proto" | "connect-json" | "connect-get" | "wrong-type";

interface Case {
  port: "grpc" | "http";
  http1: boolean;
  protocol: Protocol;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  query?: string;
}

const authHeader = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ authorization: `Bearer ${KEY}` }) },
  { weight: 1, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: fc.string({ maxLength: 80 }).map((s) => ({ authorization: `Bearer ${s.replace(/[\r\n]/g, "")}` })) },
  { weight: 1, arbitrary: fc.constantFrom({ authorization: "Basic Zm9vOmJhcg==" }, { authorization: "Bearer " + "x".repeat(4000) }, { authorization: "bearer" }) },
);

const timeoutHeader = fc.oneof(
  { weight: 6, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: fc.constantFrom({ "grpc-timeout": "5S" }, { "grpc-timeout": "1m" }, { "grpc-timeout": "abc" }, { "grpc-timeout": "999999999H" }, { "grpc-timeout": "-1S" }) },
  { weight: 1, arbitrary: fc.constantFrom({ "connect-timeout-ms": "5000" }, { "connect-timeout-ms": "x" }, { "connect-timeout-ms": "99999999999" }) },
);

const jsonBody = fc.oneof(
  fc
    .record(
      {
        folderId: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        imageId: fc.string({ unit: "grapheme", maxLength: 70 }),
        pageSize: fc.oneof(fc.integer(), fc.string(), fc.constant("1e309")),
        pageToken: fc.string({ maxLength: 140 }),
        filter: fc.string(),
        nope: fc.jsonValue(),
      },
      { requiredKeys: [] },
    )
    .map((o) => Buffer.from(JSON.stringify(o))),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v))),
  fc.string().map((s) => Buffer.from(s)),
  invalidUtf8.map((b) => Buffer.concat([Buffer.from('{"imageId":"'), b, Buffer.from('"}')])),
);

function cases(s: Seeds, port: "grpc" | "http"): fc.Arbitrary<Case> {
  const protocols: Protocol[] = port === "grpc" ? ["grpc", "grpc", "grpc", "wrong-type"] : ["grpc", "grpc-web", "connect-proto", "connect-json", "connect-get", "wrong-type"];
  const pathArb = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...KNOWN_PATHS) },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((x) => "/" + encodeURIComponent(x)) },
    { weight: 1, arbitrary: fc.constantFrom(...KNOWN_PATHS).map((p) => p + "/extra") },
  );
  return fc
    .record({
      protocol: fc.constantFrom(...protocols),
      http1: fc.boolean(),
      path: pathArb,
      auth: authHeader,
      timeout: timeoutHeader,
      msg: message(s),
      framing,
      json: jsonBody,
      wrongType: fc.constantFrom("text/plain", "application/xml", "application/grpc-web-text", "multipart/form-data", "application/json; charset=latin1", ""),
    })
    .map((r): Case => {
      const headers: Record<string, string> = { ...r.auth, ...r.timeout };
      let body: Buffer;
      let query: string | undefined;
      switch (r.protocol) {
        case "grpc":
        case "grpc-web": {
          const f = frame(r.msg, r.framing);
          body = f.body;
          if (f.encoding) headers["grpc-encoding"] = f.encoding;
          headers["content-type"] = r.protocol === "grpc" ? "application/grpc+proto" : "application/grpc-web+proto";
          if (r.protocol === "grpc") headers.te = "trailers";
          break;
        }
        case "connect-proto":
          body = Buffer.from(r.msg);
          headers["content-type"] = "application/proto";
          if (r.framing === "gzip" || r.framing === "gzip-corrupt") headers["content-encoding"] = "gzip";
          break;
        case "connect-json":
          body = r.json;
          headers["content-type"] = "application/json";
          break;
        case "connect-get":
          body = Buffer.alloc(0);
          // Kept under the HTTP header size limits: an oversized URL is refused by the HTTP layer itself.
          query = `?connect=v1&encoding=${r.framing === "plain" ? "proto" : "json"}&base64=1&message=${Buffer.from((r.framing === "plain" ? r.msg : r.json).subarray(0, 4096)).toString("base64url")}`;
          break;
        case "wrong-type":
          body = Buffer.from(r.msg);
          if (r.wrongType !== "") headers["content-type"] = r.wrongType;
          if (port === "grpc") headers.te = "trailers";
          break;
      }
      // The gRPC port speaks HTTP/2 only; gRPC needs HTTP/2 on the HTTP port too.
      const http1 = port === "http" && r.http1 && r.protocol !== "grpc";
      return { port, http1, protocol: r.protocol, path: r.path, headers, body, query };
    });
}

interface Reply {
  status?: number;
  headers: Record<string, string | string[] | undefined>;
  trailers: Record<string, string | string[] | undefined>;
  body: Buffer;
  error?: string;
}

const REPLY_TIMEOUT_MS = 15_000;

class H2Pool {
  private sessions: http2.ClientHttp2Session[] = [];
  private next = 0;
  constructor(
    private readonly url: string,
    private readonly size: number,
  ) {}

  private session(): http2.ClientHttp2Session {
    const i = this.next++ % this.size;
    let s = this.sessions[i];
    if (!s || s.closed || s.destroyed) {
      s = http2.connect(this.url);
      s.on("error", () => {});
      this.sessions[i] = s;
    }
    return s;
  }

  request(c: Case): Promise<Reply> {
    return new Promise((resolve) => {
      const reply: Reply = { headers: {}, trailers: {}, body: Buffer.alloc(0) };
      const chunks: Buffer[] = [];
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.session().request({ ":method": c.protocol === "connect-get" ? "GET" : "POST", ":path": c.path + (c.query ?? ""), ...c.headers });
      } catch (err) {
        return resolve({ ...reply, error: `request: ${(err as Error).message}` });
      }
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        resolve({ ...reply, error: "no reply in time" });
      }, REPLY_TIMEOUT_MS);
      stream.on("response", (h) => {
        reply.status = Number(h[":status"]);
        reply.headers = h;
      });
      stream.on("trailers", (t) => (reply.trailers = t));
      stream.on("data", (d: Buffer) => chunks.push(d));
      stream.on("error", (err) => (reply.error = err.message));
      stream.on("close", () => {
        clearTimeout(timer);
        if (reply.status === undefined && !reply.error) reply.error = `stream closed with code ${stream.rstCode}`;
        resolve({ ...reply, body: Buffer.concat(chunks) });
      });
      // A GET request's stream is ended by http2 itself.
      if (c.protocol !== "connect-get") stream.end(c.body);
    });
  }

  close(): void {
    for (const s of this.sessions) s?.close();
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function h1Request(port: number, c: Case): Promise<Reply> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: "127.0.0.1", port, method: c.protocol === "connect-get" ? "GET" : "POST", path: c.path + (c.query ?? ""), headers: { ...c.headers, "content-length": String(c.body.length) }, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, trailers: res.trailers, body: Buffer.concat(chunks) }));
        res.on("error", (err) => resolve({ status: res.statusCode, headers: res.headers, trailers: {}, body: Buffer.concat(chunks), error: err.message }));
      },
    );
    req.setTimeout(REPLY_TIMEOUT_MS, () => req.destroy(new Error("no reply in time")));
    req.on("error", (err) => resolve({ headers: {}, trailers: {}, body: Buffer.alloc(0), error: err.message }));
    req.end(c.body);
  });
}

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/** The gRPC status in a gRPC-Web body's trailer frame, if there is one. */
function grpcWebStatus(body: Buffer): string | undefined {
  let at = 0;
  while (at + 5 <= body.length) {
    const flags = body.readUInt8(at);
    const len = body.readUInt32BE(at + 1);
    const data = body.subarray(at + 5, at + 5 + len);
    if (flags & 0x80) return /^grpc-status: *(\S+)/im.exec(data.toString("latin1"))?.[1];
    at += 5 + len;
  }
  return undefined;
}

/** Why a reply is not acceptable, or undefined when it is: a well-formed status that is not INTERNAL. */
function problemWith(c: Case, r: Reply): string | undefined {
  if (r.error) return `no well-formed reply (${r.error})`;
  const status = r.status!;
  const grpcStatus = first(r.trailers["grpc-status"]) ?? first(r.headers["grpc-status"]) ?? (c.protocol === "grpc-web" ? grpcWebStatus(r.body) : undefined);
  if (grpcStatus !== undefined) {
    if (!/^\d+$/.test(grpcStatus) || Number(grpcStatus) > 16) return `malformed grpc-status ${JSON.stringify(grpcStatus)}`;
    if (grpcStatus === "13") return `INTERNAL: ${first(r.trailers["grpc-message"]) ?? first(r.headers["grpc-message"]) ?? r.body.toString("latin1").slice(-200)}`;
    if (grpcStatus === "2") return `UNKNOWN: ${first(r.trailers["grpc-message"]) ?? first(r.headers["grpc-message"])}`;
    return status === 200 ? undefined : `HTTP ${status} with grpc-status ${grpcStatus}`;
  }
  if (status >= 500) return `HTTP ${status}: ${r.body.toString("utf8").slice(0, 200)}`;
  if (status === 200) {
    if (c.protocol === "grpc" || c.protocol === "grpc-web") return "HTTP 200 without grpc-status";
    return undefined;
  }
  if (status < 400) return `HTTP ${status}`;
  const type = String(first(r.headers["content-type"]) ?? "");
  if (type.startsWith("application/json") && r.body.length > 0) {
    try {
      const err = JSON.parse(r.body.toString("utf8")) as { code?: unknown };
      if (typeof err.code !== "string") return `error body without a code: ${r.body.toString("utf8").slice(0, 200)}`;
      if (err.code === "internal" || err.code === "unknown") return `${err.code}: ${r.body.toString("utf8").slice(0, 200)}`;
    } catch {
      return `unparseable JSON error body: ${r.body.toString("utf8").slice(0, 200)}`;
    }
  }
  return undefined;
}

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m![1]);
}

async function runAll(items: Case[], send: (c: Case) => Promise<Reply>, onReply: (c: Case, r: Reply) => void): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) {
        const c = items[next++];
        onReply(c, await send(c));
      }
    }),
  );
}

describe("hostile input", () => {
  let server: ServerProcess;
  let seeds: Seeds;

  beforeAll(async () => {
    const dataDir = await makeTempDir();
    for (const tag of ["v1", "v2", "v3"]) await writeSyntheticImage(path.join(dataDir, "registry/team/app"), { tag });
    server = await startServer({
      dataDir,
      config: stringify({
        auth: { keys: [{ name: "fuzz", hash: await hashApiKey(KEY), folders: ["*"], role: "editor" }] },
        limits: { maxMessageBytes: MAX_MESSAGE_BYTES },
      }),
    });
    const images = connectClient(ImageService, server.httpUrl);
    const page = await images.list({ pageSize: 1n }, { headers: { authorization: `Bearer ${KEY}` } });
    seeds = { imageId: page.images[0].id, pageToken: page.nextPageToken };
    expect(seeds.pageToken).not.toBe("");
  }, 60_000);

  afterAll(async () => {
    agent.destroy();
    if (server) expect(await server.stop()).toBe(0);
  });

  it(`answers ${2 * REQUESTS_PER_PORT} hostile requests on both ports with a well-formed, non-INTERNAL status, stays up, and keeps its memory`, async () => {
    const grpcCases = fc.sample(cases(seeds, "grpc"), { numRuns: REQUESTS_PER_PORT, seed: SEED });
    const httpCases = fc.sample(cases(seeds, "http"), { numRuns: REQUESTS_PER_PORT, seed: SEED + 1 });
    const grpcPool = new H2Pool(`http://127.0.0.1:${server.grpcPort}`, 4);
    const httpPool = new H2Pool(`http://127.0.0.1:${server.httpPort}`, 4);
    const send = (c: Case) => (c.port === "grpc" ? grpcPool.request(c) : c.http1 ? h1Request(server.httpPort, c) : httpPool.request(c));
    const problems = new Map<string, { count: number; example: string }>();
    const codes = new Map<string, number>();
    let answered = 0;
    const onReply = (c: Case, r: Reply) => {
      answered++;
      const problem = problemWith(c, r);
      const code = first(r.trailers["grpc-status"]) ?? first(r.headers["grpc-status"]) ?? `http ${r.status}`;
      codes.set(code, (codes.get(code) ?? 0) + 1);
      if (!problem) return;
      const key = `${c.port}/${c.http1 ? "h1" : "h2"}/${c.protocol}: ${problem.slice(0, 80)}`;
      const seen = problems.get(key);
      if (seen) seen.count++;
      else problems.set(key, { count: 1, example: `${c.path}${(c.query ?? "").slice(0, 120)} ${JSON.stringify({ ...c.headers, authorization: undefined })} body=${c.body.subarray(0, 64).toString("hex")}` });
    };

    // Both ports at once, alternating; memory is measured after a warm-up, then at the end.
    const all = grpcCases.flatMap((c, i) => [c, httpCases[i]]);
    const pid = server.child.pid!;
    await runAll(all.slice(0, 1000), send, onReply);
    const rssBefore = rssKiB(pid);
    await runAll(all.slice(1000), send, onReply);
    const rssAfter = rssKiB(pid);
    grpcPool.close();
    httpPool.close();

    const report = [...problems].map(([k, v]) => `${v.count}× ${k}\n    e.g. ${v.example}`).join("\n");
    expect(answered).toBe(2 * REQUESTS_PER_PORT);
    expect(report).toBe("");
    expect(server.child.exitCode).toBeNull();
    expect(server.logs.filter((l) => Number(l.level) >= 50)).toEqual([]);
    // Generous: the process may grow caches and pools, but not with the number of requests.
    expect(rssAfter, `RSS ${rssBefore} KiB → ${rssAfter} KiB; codes ${JSON.stringify(Object.fromEntries(codes))}`).toBeLessThan(rssBefore * 1.5 + 64 * 1024);
    // Still serving ordinary calls.
    const images = connectClient(ImageService, server.httpUrl);
    expect((await images.list({}, { headers: { authorization: `Bearer ${KEY}` } })).images.length).toBeGreaterThan(0);
  }, 120_000);
});
