// The Node request as connect's handlers see it (src/server/node-request.ts), on real HTTP/1.1 and
// HTTP/2 servers and clients: the body whole and in order under flow control, a client that goes away
// mid-body or mid-call, a reader that stops early, and an HTTP/1.0 request without a Host header.
import { randomBytes } from "node:crypto";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import type { UniversalServerRequest } from "@connectrpc/connect/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { universalRequestOf, webHeadersOf } from "../src/server/node-request.js";
import { until } from "./support/gate.js";

type Handler = (u: UniversalServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

const closers: Array<() => void> = [];
afterEach(() => {
  while (closers.length > 0) closers.pop()!();
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

async function h2Server(handle: Handler): Promise<http2.ClientHttp2Session> {
  const server = http2.createServer((req, res) => handle(universalRequestOf(req, res, createContextValues()), res));
  const port = await listen(server);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  closers.unshift(() => session.destroy());
  return session;
}

async function h1Server(handle: Handler): Promise<number> {
  return listen(http.createServer((req, res) => handle(universalRequestOf(req, res, createContextValues()), res)));
}

async function readAll(u: UniversalServerRequest): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of u.body as AsyncIterable<Uint8Array>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** Settles with how the read ended: the bytes, or the error it threw. */
function settle<T>(p: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

function streamClosed(stream: http2.ClientHttp2Stream): Promise<void> {
  return new Promise((resolve) => stream.on("close", resolve));
}

describe("universalRequestOf over HTTP/2", () => {
  it("reads a body larger than the flow-control window whole and in order, and leaves the signal alone after the answer", async () => {
    const body = randomBytes(300 * 1024);
    let seen: { bytes: Buffer; url: string; header: Headers; signal: AbortSignal } | undefined;
    const session = await h2Server(async (u, res) => {
      const bytes = await readAll(u);
      seen = { bytes, url: u.url, header: u.header, signal: u.signal };
      res.end("ok");
    });
    const stream = session.request({ ":method": "POST", ":path": "/svc/Method?x=1", "content-type": "application/proto", "x-trace": "abc" });
    for (let i = 0; i < body.length; i += 50 * 1024) stream.write(body.subarray(i, i + 50 * 1024));
    stream.end();
    stream.resume();
    await streamClosed(stream);
    expect(seen!.bytes.equals(body)).toBe(true);
    expect(seen!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/svc\/Method\?x=1$/);
    expect(seen!.header.get("content-type")).toBe("application/proto");
    expect(seen!.header.get("x-trace")).toBe("abc");
    expect([...seen!.header.keys()].some((k) => k.startsWith(":"))).toBe(false);
    await new Promise((r) => setImmediate(r));
    expect(seen!.signal.aborted).toBe(false);
  });

  it("aborts the signal with CANCELED when the client resets the stream mid-body, and the read ends", async () => {
    let read: Promise<unknown> | undefined;
    let signal: AbortSignal | undefined;
    let reading!: () => void;
    const handlerReading = new Promise<void>((resolve) => (reading = resolve));
    const aborted = new Promise<void>((resolve) => {
      void h2Server((u) => {
        signal = u.signal;
        u.signal.addEventListener("abort", () => resolve());
        read = settle(readAll(u));
        reading();
      }).then(async (session) => {
        const stream = session.request({ ":method": "POST", ":path": "/svc/Method" });
        stream.write(randomBytes(1024));
        // Reset once the handler is reading a body that has not ended.
        await handlerReading;
        stream.close(http2.constants.NGHTTP2_CANCEL);
      });
    });
    await aborted;
    expect(ConnectError.from(signal!.reason).code).toBe(Code.Canceled);
    await read;
  });

  it("maps a reset with ENHANCE_YOUR_CALM after the body to RESOURCE_EXHAUSTED on the signal", async () => {
    let signal: AbortSignal | undefined;
    let bodyRead!: () => void;
    const handlerReadBody = new Promise<void>((resolve) => (bodyRead = resolve));
    const aborted = new Promise<void>((resolve) => {
      void h2Server(async (u) => {
        signal = u.signal;
        await readAll(u);
        u.signal.addEventListener("abort", () => resolve());
        bodyRead();
      }).then(async (session) => {
        const stream = session.request({ ":method": "POST", ":path": "/svc/Method" });
        stream.on("error", () => {}); // the reset this test sends comes back to the client as an error
        stream.end(Buffer.from("request"));
        // Reset once the handler has read the whole body.
        await handlerReadBody;
        stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      });
    });
    await aborted;
    expect(ConnectError.from(signal!.reason).code).toBe(Code.ResourceExhausted);
  });

  it("lets a client finish sending a large body when the reader stops after its first chunk and answers", async () => {
    const session = await h2Server(async (u, res) => {
      const it = (u.body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
      await it.next();
      await it.return!();
      res.end("refused");
    });
    const stream = session.request({ ":method": "POST", ":path": "/svc/Method" });
    const answer: Buffer[] = [];
    stream.on("data", (c: Buffer) => answer.push(c));
    const body = randomBytes(1024 * 1024);
    for (let i = 0; i < body.length; i += 64 * 1024) stream.write(body.subarray(i, i + 64 * 1024));
    stream.end();
    await streamClosed(stream);
    expect(Buffer.concat(answer).toString()).toBe("refused");
    expect(stream.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
  });
});

describe("universalRequestOf over HTTP/1.1", () => {
  it("answers an HTTP/1.0 request without a Host header, naming localhost as the authority", async () => {
    let url: string | undefined;
    const port = await h1Server(async (u, res) => {
      url = u.url;
      res.end(await readAll(u));
    });
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1", () => socket.write("POST /svc/Method HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello"));
      let text = "";
      socket.on("data", (d) => (text += d.toString()));
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
    expect(url).toBe("http://localhost/svc/Method");
    expect(reply).toMatch(/^HTTP\/1\.1 200/);
    expect(reply.endsWith("hello")).toBe(true);
  });

  it("fails the read and aborts the signal when the client's connection drops mid-body", async () => {
    let outcome: Promise<{ value?: Buffer; error?: unknown }> | undefined;
    let signal: AbortSignal | undefined;
    let reading: () => void;
    const read = new Promise<void>((resolve) => (reading = resolve));
    const port = await h1Server((u) => {
      signal = u.signal;
      outcome = settle(readAll(u));
      reading();
    });
    const socket = net.connect(port, "127.0.0.1", () => socket.write("POST /svc/Method HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial"));
    await read;
    socket.destroy();
    const { error } = await outcome!;
    expect(ConnectError.from(error).code).toBe(Code.Canceled);
    await until(() => signal!.aborted);
  });
});

describe("webHeadersOf", () => {
  it("keeps repeated headers and drops HTTP/2 pseudo-headers", () => {
    const h = webHeadersOf({ ":path": "/x", ":method": "POST", "set-cookie": ["a=1", "b=2"], accept: "application/json" });
    expect(h.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(h.get("accept")).toBe("application/json");
    expect([...h.keys()].some((k) => k.startsWith(":"))).toBe(false);
    expect([...new Set(h.keys())]).toEqual(["accept", "set-cookie"]);
  });
});
