// The HTTP port on connect-node: Connect (JSON and binary), gRPC-Web and gRPC for the same services,
// HTTP/1.1 and h2c on one plaintext port (or both through ALPN under TLS), CORS for allowed browser
// origins, /healthz and /metrics.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Duplex } from "node:stream";
import * as tls from "node:tls";
import {
  Code,
  ConnectError,
  cors as connectCors,
  createConnectRouter,
  createContextKey,
  createContextValues,
  type ConnectRouter,
  type HandlerContext,
} from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { TlsConfig } from "../core/access-config.js";
import { DEFAULT_LIMITS } from "../core/config.js";
import { capConnections, requireFirstBytes, watchSession, type ConnectionLimits } from "./connections.js";
import { Code as RegplaneCode, RegplaneError } from "../core/errors.js";
import { subjectOf } from "./auth.js";
import { checkGuard, type Guard } from "./grpc.js";
import type { Metrics } from "./metrics.js";
import type { ServiceBinding } from "../services/binding.js";
import type { IncomingCall, RpcPipeline } from "./rpc.js";
import { createRegistry, type DescFile, type Registry } from "@bufbuild/protobuf";
import { file_google_protobuf_empty } from "@bufbuild/protobuf/wkt";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { toConnectError } from "../services/status.js";
import { isConnectJson, jsonBodyGuard } from "./json-guard.js";
import { ADMITTED, admittedBody, CLIENT_DEADLINE, protocolOf, takeClientDeadline } from "./http-admission.js";
import { universalRequestOf } from "./node-request.js";
import { reclassifyParseFailures } from "./undecodable.js";

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export interface HttpServerOptions {
  host: string;
  port: number;
  bindings: ServiceBinding[];
  pipeline: RpcPipeline;
  metrics: Metrics;
  /** Origins allowed to call from a browser ("*" allows any). */
  corsOrigins: string[];
  maxMessageBytes?: number;
  /** Timeouts and caps for connections (limits.*); the defaults when unset. */
  connectionLimits?: ConnectionLimits;
  /** Deepest nesting a Connect JSON request may have; checked before it is parsed. */
  maxJsonDepth?: number;
  /** HTTP/2 streams one connection may have open at once. */
  maxConcurrentStreams?: number;
  /** Serve HTTPS (HTTP/2 and HTTP/1.1 through ALPN) instead of plaintext. */
  tls?: TlsConfig;
  /** /readyz answers 503 while this says false (e.g. the state store is unreachable). */
  ready?: () => boolean;
  /** Set to require credentials for /healthz, /readyz and /metrics; unset leaves them open. */
  guardHealth?: Guard;
  /** Extra routes (e.g. static files) tried before the 404. */
  fallback?: (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => boolean;
}

export interface StartedHttpServer {
  port: number;
  shutdown(graceMs: number): Promise<void>;
}

/** The verified client certificate's subject, handed from the Node request to the handler. */
const PEER_CERT_SUBJECT = createContextKey<string | undefined>(undefined, { description: "peer certificate subject" });

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;

function peerAddressOf(req: NodeRequest): string | undefined {
  return (req instanceof http2.Http2ServerRequest ? req.stream.session?.socket : req.socket)?.remoteAddress;
}

function peerCertSubjectOf(req: NodeRequest): string | undefined {
  const socket = req instanceof http2.Http2ServerRequest ? req.stream.session?.socket : req.socket;
  if (!(socket instanceof tls.TLSSocket) || !socket.authorized) return undefined;
  return subjectOf(socket.getPeerCertificate());
}

/**
 * connect-node keeps an AbortController per call (its context's signal, aborted when the client goes
 * away or its connect-timeout passes); the pipeline aborts that one too instead of linking a second.
 * `abort` is not part of HandlerContext's public type, so it is used only when present.
 */
function controllerOf(hc: HandlerContext): IncomingCall["controller"] {
  const abort = (hc as HandlerContext & { abort?: unknown }).abort;
  return typeof abort === "function" ? (hc as HandlerContext & { abort(reason?: unknown): void }) : undefined;
}

/** Without connect's controller: the client going away, from its context's signal. */
function onClientGoneOf(signal: AbortSignal): IncomingCall["onClientGone"] {
  return (listener) => {
    const onAbort = () => listener(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    return () => signal.removeEventListener("abort", onAbort);
  };
}

function routes(o: HttpServerOptions) {
  return (router: ConnectRouter) => {
    for (const binding of o.bindings) {
      const impl: Record<string, (req: unknown, hc: HandlerContext) => Promise<unknown>> = {};
      for (const m of binding.service.methods) {
        impl[m.localName] = (req, hc) => {
          const controller = controllerOf(hc);
          const incoming: IncomingCall = {
            controller,
            onClientGone: controller === undefined ? onClientGoneOf(hc.signal) : undefined,
            deadline: hc.values.get(CLIENT_DEADLINE),
            requestHeader: (name) => hc.requestHeader.get(name) ?? undefined,
            protocol: hc.protocolName,
            peerCertSubject: hc.values.get(PEER_CERT_SUBJECT),
            admitted: hc.values.get(ADMITTED),
          };
          return o.pipeline.invoke(binding, m.localName, req, incoming).catch((err: unknown) => {
            throw toConnectError(err);
          });
        };
      }
      router.service(binding.service as never, impl as never);
    }
  };
}

/** Every message an Any field may carry (operation metadata and responses, error details), for JSON. */
function anyTypes(bindings: ServiceBinding[]): Registry {
  const files = new Set<DescFile>();
  const add = (f: DescFile): void => {
    if (files.has(f)) return;
    files.add(f);
    f.dependencies.forEach(add);
  };
  [file_google_rpc_error_details, file_google_protobuf_empty, ...bindings.map((b) => b.service.file)].forEach(add);
  return createRegistry(...files);
}

type NodeHandler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

/** connect-node's adapter, plus the rewrite of undecodable requests to INVALID_ARGUMENT. */
function rpcHandler(o: HttpServerOptions): NodeHandler {
  const maxMessageBytes = o.maxMessageBytes ?? DEFAULT_LIMITS.maxMessageBytes;
  const maxJsonDepth = o.maxJsonDepth ?? DEFAULT_LIMITS.maxJsonDepth;
  const methods = new Map<string, { binding: ServiceBinding; method: string }>();
  for (const binding of o.bindings) for (const m of binding.service.methods) methods.set(`/${binding.service.typeName}/${m.name}`, { binding, method: m.localName });
  const router = createConnectRouter({ readMaxBytes: maxMessageBytes, acceptCompression: [compressionGzip, compressionBrotli],
    // Protobuf JSON's default: a misspelt field is refused, not silently dropped (which widens a List).
    jsonOptions: { registry: anyTypes(o.bindings), ignoreUnknownFields: false },
  });
  routes(o)(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const path = (req.url ?? "").split("?", 1)[0];
    const handler = paths.get(path);
    if (!handler) {
      if (o.fallback?.(req, res)) return;
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("not found\n");
      return;
    }
    const values = createContextValues().set(PEER_CERT_SUBJECT, peerCertSubjectOf(req));
    // An answer given before the whole request arrived (too large, undecodable) leaves an HTTP/2 client
    // blocked on flow control with the stream open: read and drop the rest of its request, from the
    // HTTP/2 stream itself, since a body connect never began to read leaves the compat request paused.
    if (req instanceof http2.Http2ServerRequest) {
      const stream = req.stream;
      stream.once("finish", () => {
        if (req.complete) return;
        stream.removeAllListeners("data");
        stream.on("data", () => {});
        stream.resume();
      });
    }
    const request = universalRequestOf(req, res, values);
    const deadline = takeClientDeadline(request);
    values.set(CLIENT_DEADLINE, deadline);
    const target = methods.get(path);
    if (target) {
      const incoming: IncomingCall = {
        deadline,
        requestHeader: (name) => request.header.get(name) ?? undefined,
        protocol: protocolOf(request),
        peerCertSubject: values.get(PEER_CERT_SUBJECT),
        peerAddress: peerAddressOf(req),
      };
      const guard = isConnectJson(request) ? jsonBodyGuard(request, maxJsonDepth, maxMessageBytes) : undefined;
      const admit = () => o.pipeline.admit(target.binding, target.method, incoming);
      const admitted = admittedBody(request, request.body as AsyncIterable<Uint8Array>, admit, guard && "scan" in guard ? guard.scan : undefined);
      request.body = guard && "wrap" in guard ? guard.wrap(admitted) : admitted;
    }
    handler(request)
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

  const serveOps = (path: string, res: http.ServerResponse | http2.Http2ServerResponse) => {
    if (path === "/readyz") {
      const status = shuttingDown ? "shutting_down" : (o.ready?.() ?? true) ? "ready" : "store_unreachable";
      res.writeHead(status === "ready" ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify({ status }) + "\n");
      return;
    }
    if (path === "/healthz") {
      res.writeHead(shuttingDown ? 503 : 200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: shuttingDown ? "shutting_down" : "serving" }) + "\n");
      return;
    }
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
  };

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
    if (req.method === "GET" && (path === "/healthz" || path === "/readyz" || path === "/metrics")) {
      if (!o.guardHealth) return serveOps(path, res);
      const header = (name: string) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      checkGuard(o.guardHealth, header, { peerCertSubject: peerCertSubjectOf(req) }).then(
        () => serveOps(path, res),
        (err) => {
          const denied = err instanceof RegplaneError && err.code === RegplaneCode.PERMISSION_DENIED;
          res.writeHead(denied ? 403 : 401, { "content-type": "application/json" });
          res.end(JSON.stringify({ code: denied ? "permission_denied" : "unauthenticated", message: err instanceof RegplaneError ? err.message : "credentials required" }) + "\n");
        },
      );
      return;
    }
    rpc(req, res);
  };

  const settings = { maxConcurrentStreams: o.maxConcurrentStreams ?? DEFAULT_LIMITS.maxConcurrentStreams };
  const limits = o.connectionLimits ?? DEFAULT_LIMITS;
  if (o.tls) return startTlsServer(o, handler, settings, limits, () => (shuttingDown = true));
  const h1 = http.createServer(
    {
      headersTimeout: limits.headersTimeout,
      requestTimeout: Math.max(300_000, limits.headersTimeout),
      connectionsCheckingInterval: Math.min(30_000, Math.max(1, Math.floor(limits.headersTimeout / 2))),
    },
    handler,
  );
  h1.setTimeout(limits.idleTimeout);
  // h1 never listens (the front hands it connections), and Node starts its header-timeout checks on
  // 'listening': without this, a request that never finishes its headers would hold its socket forever.
  h1.emit("listening");
  const h2 = http2.createServer({ settings }, handler);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
    watchSession(s, limits);
  });

  // Plaintext HTTP/2 and HTTP/1.1 share the port: look at the first bytes for the HTTP/2 preface.
  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    let seen = Buffer.alloc(0);
    let sniffed = false;
    requireFirstBytes(socket, limits, () => sniffed);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, H2_PREFACE.length);
      const isH2Prefix = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2Prefix && seen.length < H2_PREFACE.length) return;
      sniffed = true;
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
  capConnections(front, limits);

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

/** HTTPS: one http2 secure server answers HTTP/2 and, through ALPN, HTTP/1.1; no preface sniffing needed. */
async function startTlsServer(o: HttpServerOptions, handler: NodeHandler, settings: http2.Settings, limits: ConnectionLimits, onShutdown: () => void): Promise<StartedHttpServer> {
  const t = o.tls!;
  const server = http2.createSecureServer(
    {
      cert: t.cert,
      key: t.key,
      allowHTTP1: true,
      settings,
      handshakeTimeout: limits.firstBytesTimeout,
      // Asks for a client certificate without requiring one, so API-key callers connect too; the
      // subject counts only when the certificate verifies against the client CA (socket.authorized).
      ...(t.clientCa ? { ca: t.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
    },
    handler,
  );
  const sockets = new Set<tls.TLSSocket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  let inFlight = 0;
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
    watchSession(s, limits);
  });
  capConnections(server, limits);
  server.on("request", (_req, res) => {
    inFlight++;
    res.once("close", () => inFlight--);
  });
  server.on("tlsClientError", (_err, socket) => socket.destroy());
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve((server.address() as net.AddressInfo).port));
  });
  return {
    port,
    shutdown: async (graceMs) => {
      onShutdown();
      server.close();
      for (const s of sessions) s.close();
      const deadline = Date.now() + graceMs;
      while ((sessions.size > 0 || inFlight > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
    },
  };
}
