// The HTTP port on connect-node: Connect (JSON and binary), gRPC-Web and gRPC for the same services,
// HTTP/1.1 and h2c on one plaintext port, CORS for allowed browser origins, /healthz and /metrics.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Duplex } from "node:stream";
import { Code, ConnectError, cors as connectCors, createConnectRouter, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { Authenticate } from "./grpc.js";
import type { Metrics } from "./metrics.js";
import type { CallContext, RpcPipeline, ServiceBinding } from "./rpc.js";
import { toConnectError } from "./status.js";
import { reclassifyParseFailures } from "./undecodable.js";

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export interface HttpServerOptions {
  host: string;
  port: number;
  bindings: ServiceBinding[];
  pipeline: RpcPipeline;
  authenticate: Authenticate;
  metrics: Metrics;
  /** Origins allowed to call from a browser ("*" allows any). */
  corsOrigins: string[];
  maxMessageBytes?: number;
  /** Extra routes (e.g. static files) tried before the 404. */
  fallback?: (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => boolean;
}

export interface StartedHttpServer {
  port: number;
  shutdown(graceMs: number): Promise<void>;
}

function routes(o: HttpServerOptions) {
  return (router: ConnectRouter) => {
    for (const binding of o.bindings) {
      const impl: Record<string, (req: unknown, hc: HandlerContext) => Promise<unknown>> = {};
      for (const m of binding.service.methods) {
        impl[m.localName] = async (req, hc) => {
          const header = (name: string) => hc.requestHeader.get(name) ?? undefined;
          const timeout = hc.timeoutMs();
          const ctx: CallContext = {
            principal: o.authenticate(header, {}),
            signal: hc.signal,
            deadline: timeout === undefined ? undefined : Date.now() + timeout,
            requestHeader: header,
            protocol: hc.protocolName,
          };
          try {
            return await o.pipeline.invoke(binding, m.localName, req, ctx);
          } catch (err) {
            throw toConnectError(err);
          }
        };
      }
      router.service(binding.service as never, impl as never);
    }
  };
}

type NodeHandler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

/** connect-node's adapter, plus the rewrite of undecodable requests to INVALID_ARGUMENT. */
function rpcHandler(o: HttpServerOptions): NodeHandler {
  const router = createConnectRouter({ readMaxBytes: o.maxMessageBytes ?? 4 * 1024 * 1024, acceptCompression: [compressionGzip, compressionBrotli] });
  routes(o)(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const handler = paths.get((req.url ?? "").split("?", 1)[0]);
    if (!handler) {
      if (o.fallback?.(req, res)) return;
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("not found\n");
      return;
    }
    handler(universalRequestFromNodeRequest(req as never, res as never, undefined, undefined))
      .then(reclassifyParseFailures)
      .then((u) => universalResponseToNodeResponse(u, res as never))
      .catch((reason) => {
        if (ConnectError.from(reason).code !== Code.Aborted) res.destroy();
      });
  };
}

export async function startHttpServer(o: HttpServerOptions): Promise<StartedHttpServer> {
  let shuttingDown = false;
  const rpc = rpcHandler(o);
  const allowAny = o.corsOrigins.includes("*");
  const allowed = new Set(o.corsOrigins);
  const exposed = [...connectCors.exposedHeaders].join(", ");
  const allowedHeaders = [...connectCors.allowedHeaders, "Authorization", "Idempotency-Key"].join(", ");

  const handler: NodeHandler = (req, res) => {
    const origin = req.headers.origin;
    if (origin !== undefined) {
      const ok = allowAny || allowed.has(origin);
      if (req.method === "OPTIONS") {
        if (!ok) {
          res.writeHead(403, { "content-type": "text/plain; charset=utf-8" });
          res.end(`origin ${origin} is not allowed\n`);
          return;
        }
        res.writeHead(204, {
          "access-control-allow-origin": origin,
          "access-control-allow-methods": connectCors.allowedMethods.join(", "),
          "access-control-allow-headers": allowedHeaders,
          "access-control-max-age": "7200",
          vary: "Origin",
        });
        res.end();
        return;
      }
      if (ok) {
        res.setHeader("access-control-allow-origin", origin);
        res.setHeader("access-control-expose-headers", exposed);
        res.setHeader("vary", "Origin");
      }
    }
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/healthz") {
      res.writeHead(shuttingDown ? 503 : 200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: shuttingDown ? "shutting_down" : "serving" }) + "\n");
      return;
    }
    if (req.method === "GET" && path === "/metrics") {
      o.metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": o.metrics.registry.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
      return;
    }
    rpc(req, res);
  };

  const h1 = http.createServer(handler);
  const h2 = http2.createServer({}, handler);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });

  // Plaintext HTTP/2 and HTTP/1.1 share the port: look at the first bytes for the HTTP/2 preface.
  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, H2_PREFACE.length);
      const isH2Prefix = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2Prefix && seen.length < H2_PREFACE.length) return;
      socket.off("data", onData);
      socket.pause();
      socket.unshift(seen);
      if (isH2Prefix) {
        h2.emit("connection", socket as Duplex);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
    socket.on("error", () => socket.destroy());
  });

  const port = await new Promise<number>((resolve, reject) => {
    front.once("error", reject);
    front.listen(o.port, o.host, () => resolve((front.address() as net.AddressInfo).port));
  });

  return {
    port,
    shutdown: async (graceMs) => {
      shuttingDown = true;
      front.close();
      h1.close();
      h1.closeIdleConnections();
      for (const s of sessions) s.close();
      const deadline = Date.now() + graceMs;
      while ((sockets.size > 0 || sessions.size > 0) && Date.now() < deadline) {
        h1.closeIdleConnections();
        await new Promise((r) => setTimeout(r, 25));
      }
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
    },
  };
}
