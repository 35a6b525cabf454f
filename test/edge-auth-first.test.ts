// Credentials are checked before a request body is decoded, on both ports and every protocol, and a
// Connect JSON body nesting deeper than limits.maxJsonDepth is refused before it is parsed. Parsing is
// observed directly: the server runs in this process, and JSON.parse is watched for the deep body.
import * as http2 from "node:http2";
import { gzipSync } from "node:zlib";
import * as grpc from "@grpc/grpc-js";
import { ConnectError } from "@connectrpc/connect";
import { errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { hashApiKey, newApiKey } from "../src/core/api-keys.js";
import { startEdgeApp, type EdgeApp } from "./support/edge-app.js";

const UNAUTHENTICATED = 16;
const INVALID_ARGUMENT = 3;
const LIST = "/regplane.v1.ImageService/List";
/** Not a protobuf message: a varint that never ends. */
const NOT_PROTOBUF = Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

let edge: EdgeApp;
let key: string;
beforeAll(async () => {
  key = newApiKey();
  edge = await startEdgeApp(
    `registries:\n  - { id: reg, provider: memory }\nauth:\n  keys:\n    - { name: alice, hash: "${await hashApiKey(key)}", folders: ["*"], role: viewer }\n`,
  );
});
afterAll(() => edge?.stop());
afterEach(() => vi.restoreAllMocks());

/** `{"a":{"a":…}}` nested `depth` times. */
function deepJson(depth: number): string {
  return '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
}

/** Counts JSON.parse calls on text that starts like the deep body. */
function watchDeepParses(): () => number {
  const parse = vi.spyOn(JSON, "parse");
  return () => parse.mock.calls.filter(([text]) => typeof text === "string" && text.startsWith('{"a":{"a":')).length;
}

async function connectJson(body: string | Uint8Array, headers: Record<string, string> = {}): Promise<ConnectError> {
  const res = await fetch(edge.httpUrl + LIST, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : new Uint8Array(body) });
  expect(res.ok).toBe(false);
  return errorFromJsonBytes(new Uint8Array(await res.arrayBuffer()), undefined, new ConnectError("not a Connect error body"));
}

describe("Connect JSON: credentials first, depth bounded", () => {
  it("answers a deep body without credentials UNAUTHENTICATED without parsing it", async () => {
    const parses = watchDeepParses();
    const err = await connectJson(deepJson(100_000));
    expect(err.code).toBe(UNAUTHENTICATED);
    expect(parses()).toBe(0);
  });

  it("answers a body that is not JSON at all UNAUTHENTICATED without credentials", async () => {
    expect((await connectJson('{"registryId": "reg", ')).code).toBe(UNAUTHENTICATED);
    expect((await connectJson('{"registryId": "reg"}', { authorization: "Bearer rpk_not-a-key" })).code).toBe(UNAUTHENTICATED);
  });

  it("refuses a body nested deeper than the limit with credentials, before parsing it, plain or gzip", async () => {
    const parses = watchDeepParses();
    for (const [body, headers] of [
      [deepJson(65), {}],
      [deepJson(100_000), {}],
      [gzipSync(deepJson(100_000)), { "content-encoding": "gzip" }],
    ] as const) {
      const err = await connectJson(body, { authorization: `Bearer ${key}`, ...headers });
      expect(err.code).toBe(INVALID_ARGUMENT);
      expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("JSON_TOO_DEEP");
    }
    expect(parses()).toBe(0);
  });

  it("serves a request within the limit, plain or gzip, with credentials", async () => {
    for (const [body, headers] of [
      ['{"registryId": "reg", "filter": "name=\\"{[{[\\""}', {}],
      [gzipSync('{"registryId": "reg"}'), { "content-encoding": "gzip" }],
    ] as const) {
      const res = await fetch(edge.httpUrl + LIST, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers }, body: typeof body === "string" ? body : new Uint8Array(body) });
      expect(res.status).toBe(200);
    }
  });
});

/** One gRPC or gRPC-Web call with a raw message body over HTTP/2 (h2c); resolves with grpc-status. */
function rawGrpc(base: string, contentType: string, message: Buffer, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(base);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": LIST, "content-type": contentType, te: "trailers", ...headers });
    const envelope = Buffer.alloc(5);
    envelope.writeUInt32BE(message.length, 1);
    let status: string | undefined;
    let body = Buffer.alloc(0);
    stream.on("response", (h) => (status = h["grpc-status"] as string | undefined));
    stream.on("trailers", (t) => (status ??= t["grpc-status"] as string | undefined));
    stream.on("data", (d: Buffer) => (body = Buffer.concat([body, d])));
    stream.on("end", () => {
      session.close();
      // gRPC-Web carries its trailers in the body.
      status ??= /grpc-status: *(\d+)/i.exec(body.toString("latin1"))?.[1];
      resolve(Number(status));
    });
    stream.end(Buffer.concat([envelope, message]));
  });
}

describe("binary protocols: credentials before decoding", () => {
  for (const contentType of ["application/grpc", "application/grpc-web+proto"]) {
    it(`answers an undecodable ${contentType} body on the HTTP port UNAUTHENTICATED without credentials, INVALID_ARGUMENT with`, async () => {
      expect(await rawGrpc(edge.httpUrl, contentType, NOT_PROTOBUF)).toBe(UNAUTHENTICATED);
      expect(await rawGrpc(edge.httpUrl, contentType, NOT_PROTOBUF, { authorization: `Bearer ${key}` })).toBe(INVALID_ARGUMENT);
    });
  }

  it("answers an undecodable body on the gRPC port UNAUTHENTICATED without credentials, INVALID_ARGUMENT with", async () => {
    const client = new grpc.Client(edge.grpcAddress, grpc.credentials.createInsecure());
    const call = (metadata: grpc.Metadata) =>
      new Promise<number>((resolve) =>
        client.makeUnaryRequest(LIST, (b: Buffer) => b, (b: Buffer) => b, NOT_PROTOBUF, metadata, (err) => resolve(err ? err.code : 0)),
      );
    try {
      expect(await call(new grpc.Metadata())).toBe(UNAUTHENTICATED);
      const md = new grpc.Metadata();
      md.set("authorization", `Bearer ${key}`);
      expect(await call(md)).toBe(INVALID_ARGUMENT);
    } finally {
      client.close();
    }
  });
});
