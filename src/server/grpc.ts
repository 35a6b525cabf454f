// The gRPC port on @grpc/grpc-js: protobuf-es services bridged to grpc-js method definitions (also
// under mirrored service names, see yandex.ts), plus server reflection (v1 and v1alpha) and grpc.health.v1;
// TLS and client certificates when configured.
import type * as net from "node:net";
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary, type DescMessage, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import type { TlsConfig } from "../core/access-config.js";
import { DEFAULT_LIMITS, StartupError } from "../core/config.js";
import { capConnections, requireFirstBytes, type ConnectionLimits } from "./connections.js";
import { Code, RegplaneError } from "../core/errors.js";
import { subjectOf } from "./auth.js";
import type { ServiceBinding } from "../services/binding.js";
import { EncodedRequest, type IncomingCall, type RpcPipeline } from "./rpc.js";
import { reflectionPackage } from "./reflection.js";
import { toRegplaneError, toStatusBytes } from "../services/status.js";
import { reclassifyGrpcJsClientFaults } from "./undecodable.js";

/** A request that failed to decode; the handler answers INVALID_ARGUMENT instead of grpc-js's INTERNAL. */
class Undecodable {
  constructor(readonly reason: string) {}
}

/** Rewrites a response after the pipeline, just before it is serialized. */
export type ResponseMapper = (res: MessageShape<DescMessage>) => MessageShape<DescMessage>;

/**
 * grpc-js method definitions for a service. With `deferDecoding` a request arrives as an EncodedRequest
 * that the pipeline decodes after authentication; without it (clients, plain servers), decoded.
 */
export function definitionOf(service: DescService, mapResponse?: ResponseMapper, deferDecoding = false): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of service.methods) {
    def[m.localName] = {
      path: `/${service.typeName}/${m.name}`,
      requestStream: false,
      responseStream: false,
      originalName: m.localName,
      requestSerialize: (msg: MessageShape<DescMessage>) => Buffer.from(toBinary(m.input, msg)),
      requestDeserialize: (bytes: Buffer) => {
        if (deferDecoding) return new EncodedRequest(() => fromBinary(m.input, bytes));
        try {
          return fromBinary(m.input, bytes);
        } catch (err) {
          return new Undecodable(err instanceof Error ? err.message : String(err));
        }
      },
      responseSerialize: (msg: MessageShape<DescMessage>) => Buffer.from(toBinary(m.output, mapResponse ? mapResponse(msg) : msg)),
      responseDeserialize: (bytes: Buffer) => fromBinary(m.output, bytes),
    } as grpc.MethodDefinition<unknown, unknown>;
  }
  return def;
}

/** Throws (UNAUTHENTICATED, PERMISSION_DENIED) unless the call's credentials are good; guards reflection and health. */
export type Guard = (header: (name: string) => string | undefined, transport: { peerCertSubject?: string }) => unknown;

/** Runs a guard, its synchronous throw included, as a promise. */
export function checkGuard(guard: Guard, header: (name: string) => string | undefined, transport: { peerCertSubject?: string }): Promise<unknown> {
  return new Promise((resolve) => resolve(guard(header, transport)));
}

function headerOf(metadata: grpc.Metadata): (name: string) => string | undefined {
  return (name) => {
    const v = metadata.get(name);
    return v.length > 0 ? String(v[0]) : undefined;
  };
}

/** The subject of the client certificate, when the TLS layer verified one against the client CA. */
function peerCertSubjectOf(call: { getAuthContext(): { sslPeerCertificate?: PeerCertificate } }): string | undefined {
  const cert = call.getAuthContext().sslPeerCertificate;
  return cert ? subjectOf(cert) : undefined;
}

/** The IP address in grpc-js's peer string ("127.0.0.1:5000", "[::1]:5000"), without the port. */
function addressOfPeer(peer: string): string {
  const m = /^\[?(.*?)\]?:\d+$/.exec(peer);
  return m ? m[1] : peer;
}

function handlersOf(binding: ServiceBinding, pipeline: RpcPipeline): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const m of binding.service.methods) {
    impl[m.localName] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const deadlineValue = call.getDeadline();
      const deadline = deadlineValue instanceof Date ? deadlineValue.getTime() : Number.isFinite(deadlineValue) ? Number(deadlineValue) : undefined;
      const finish = (err: unknown, res?: unknown) => {
        if (err === null) return callback(null, res);
        const e = toRegplaneError(err);
        const trailer = new grpc.Metadata();
        trailer.set("grpc-status-details-bin", Buffer.from(toStatusBytes(e)));
        callback({ code: e.code, details: e.message, metadata: trailer } as grpc.ServiceError);
      };
      try {
        if (call.request instanceof Undecodable) {
          throw new RegplaneError(Code.INVALID_ARGUMENT, `request message could not be decoded: ${call.request.reason}`);
        }
        const incoming: IncomingCall = {
          // grpc-js says "cancelled" when the client goes away (and as a finished stream closes, after the pipeline has stopped listening).
          onClientGone: (listener) => {
            if (call.cancelled) listener();
            const onCancelled = () => listener();
            call.on("cancelled", onCancelled);
            return () => call.off("cancelled", onCancelled);
          },
          deadline,
          requestHeader: headerOf(call.metadata),
          protocol: "grpc",
          peerCertSubject: peerCertSubjectOf(call),
          peerAddress: addressOfPeer(call.getPeer()),
        };
        pipeline.invoke(binding, m.localName, call.request, incoming).then((res) => finish(null, res), finish);
      } catch (err) {
        finish(err);
      }
    };
  }
  return impl;
}

/**
 * One of our services also served under another service's name (see yandex.ts): the same impl and
 * pipeline, with requests and responses encoded by our schemas since the messages are wire-identical.
 */
export interface ServiceMirror {
  /** The renamed service, for paths, reflection and health; its RPCs are a subset of the binding's. */
  service: DescService;
  binding: ServiceBinding;
  mapResponse?: ResponseMapper;
}

/** The binding's own methods under the mirror's service name, so logs and metrics name the path called. */
function mirroredBinding(mirror: ServiceMirror): ServiceBinding {
  const ours = mirror.binding.service;
  const methods = mirror.service.methods.map((mm) => {
    const m = ours.methods.find((x) => x.name === mm.name);
    if (!m) throw new Error(`${mirror.service.typeName}/${mm.name} has no counterpart in ${ours.typeName}`);
    return m;
  });
  const service: DescService = {
    ...ours,
    typeName: mirror.service.typeName,
    name: mirror.service.name,
    methods,
    method: Object.fromEntries(methods.map((m) => [m.localName, m])),
    toString: () => `service ${mirror.service.typeName}`,
  };
  return { service, impl: mirror.binding.impl };
}

/** Wraps a service someone else implements (reflection, health) so each call passes the guard first. */
function guarded(def: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation, guard: Guard): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(impl)) {
    const unary = !def[name]?.responseStream;
    out[name] = ((call: grpc.ServerUnaryCall<unknown, unknown> & grpc.ServerWritableStream<unknown, unknown>, callback?: grpc.sendUnaryData<unknown>) => {
      checkGuard(guard, headerOf(call.metadata), { peerCertSubject: peerCertSubjectOf(call) }).then(
        () => (handler as (...args: unknown[]) => void)(call, callback),
        (err) => {
          const e = err instanceof RegplaneError ? err : new RegplaneError(Code.UNAUTHENTICATED, "credentials required");
          const status = { code: e.code, details: e.message } as grpc.ServiceError;
          // A stream's incoming messages wait unread: the handler that would read them never starts.
          if (unary) callback!(status, null);
          else call.emit("error", status);
        },
      );
    }) as grpc.UntypedHandleCall;
  }
  return out;
}

export interface GrpcServerOptions {
  host: string;
  port: number;
  bindings: ServiceBinding[];
  pipeline: RpcPipeline;
  maxMessageBytes?: number;
  /** HTTP/2 streams one connection may have open at once. */
  maxConcurrentStreams?: number;
  mirrors?: ServiceMirror[];
  tls?: TlsConfig;
  /** Timeouts and caps for connections (limits.*); the defaults when unset. */
  connectionLimits?: ConnectionLimits;
  /** Set to require credentials for reflection / health; unset leaves them open. */
  guardReflection?: Guard;
  guardHealth?: Guard;
}

/** Certificates that never change, in the form grpc-js's certificate-provider credentials read. */
function staticCertificates(tls: TlsConfig & { clientCa: Buffer }): grpc.experimental.CertificateProvider {
  // Listeners hear the certificates on the next microtask: grpc-js registers its server's watcher only
  // after adding them, and an update before that would leave the port refusing every connection.
  return {
    addCaCertificateListener: (l) => queueMicrotask(() => l({ caCertificate: tls.clientCa })),
    removeCaCertificateListener: () => {},
    addIdentityCertificateListener: (l) => queueMicrotask(() => l({ certificate: tls.cert, privateKey: tls.key })),
    removeIdentityCertificateListener: () => {},
  };
}

function credentialsOf(tls: TlsConfig | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  if (!tls.clientCa) return grpc.ServerCredentials.createSsl(null, [{ cert_chain: tls.cert, private_key: tls.key }], false);
  // Asks for a client certificate without requiring one, so API-key callers connect too; only a certificate
  // that verifies against the client CA reaches getAuthContext(). One provider serves as both CA and
  // identity provider, since grpc-js 1.14 hands this function's two arguments to its constructor swapped.
  const certificates = staticCertificates({ ...tls, clientCa: tls.clientCa });
  return grpc.experimental.createCertificateProviderServerCredentials(certificates, certificates, false);
}

/**
 * The connection caps and first-bytes deadline on grpc-js's own listening servers, which it does not
 * expose (its private `http2Servers`, as of 1.14): a connection that sends nothing is closed, and beyond
 * the caps new connections are closed at once. With TLS the first bytes are the handshake's.
 */
function limitConnections(server: grpc.Server, limits: ConnectionLimits): void {
  const listening = (server as unknown as { http2Servers?: Map<net.Server, unknown> }).http2Servers;
  if (!(listening instanceof Map)) throw new Error("grpc-js no longer keeps its servers in http2Servers: connection limits cannot be applied");
  for (const http2Server of listening.keys()) {
    capConnections(http2Server, limits);
    http2Server.prependListener("connection", (socket: net.Socket) => requireFirstBytes(socket, limits));
  }
}

export interface StartedGrpcServer {
  port: number;
  health: HealthImplementation;
  /** Stops accepting calls, lets in-flight ones finish for up to graceMs, then closes. */
  shutdown(graceMs: number): Promise<void>;
}

/** grpc-js reports a failed bind as text only; the errno in it says which one-line start-up error it is. */
function bindFailure(err: Error, o: GrpcServerOptions): Error {
  if (/EADDRINUSE/.test(err.message)) return new StartupError(`gRPC port ${o.port} is in use; pass --grpc-port`);
  if (/EACCES/.test(err.message)) return new StartupError(`gRPC port ${o.port} needs privileges this process does not have; pass --grpc-port (1024 or above)`);
  if (/EADDRNOTAVAIL|ENOTFOUND|EAI_/.test(err.message)) return new StartupError(`address ${o.host} is not on this machine; pass --host`);
  return err;
}

export async function startGrpcServer(o: GrpcServerOptions): Promise<StartedGrpcServer> {
  const limits = o.connectionLimits ?? DEFAULT_LIMITS;
  const server = new grpc.Server({
    "grpc.max_receive_message_length": o.maxMessageBytes ?? DEFAULT_LIMITS.maxMessageBytes,
    "grpc.max_send_message_length": Math.max(o.maxMessageBytes ?? 0, 16 * 1024 * 1024),
    "grpc.max_concurrent_streams": o.maxConcurrentStreams ?? DEFAULT_LIMITS.maxConcurrentStreams,
    "grpc.keepalive_time_ms": limits.keepaliveTime,
    "grpc.keepalive_timeout_ms": limits.keepaliveTimeout,
    "grpc.max_connection_idle_ms": limits.idleTimeout,
  });
  reclassifyGrpcJsClientFaults();
  const mirrors = o.mirrors ?? [];
  const services = [...o.bindings.map((b) => b.service), ...mirrors.map((m) => m.service)];
  for (const b of o.bindings) server.addService(definitionOf(b.service, undefined, true), handlersOf(b, o.pipeline));
  for (const m of mirrors) {
    const b = mirroredBinding(m);
    server.addService(definitionOf(b.service, m.mapResponse, true), handlersOf(b, o.pipeline));
  }
  const behind = (guard: Guard | undefined) =>
    guard ? ({ addService: (def, impl) => server.addService(def, guarded(def, impl, guard)) } as Pick<grpc.Server, "addService"> as grpc.Server) : server;
  new ReflectionService(reflectionPackage(services)).addToServer(behind(o.guardReflection));
  const health = new HealthImplementation({ "": "SERVING", ...Object.fromEntries(services.map((s) => [s.typeName, "SERVING"])) });
  health.addToServer(behind(o.guardHealth));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${o.host.includes(":") ? `[${o.host}]` : o.host}:${o.port}`, credentialsOf(o.tls), (err, p) =>
      err ? reject(bindFailure(err, o)) : resolve(p),
    ),
  );
  limitConnections(server, limits);
  return {
    port,
    health,
    shutdown: (graceMs) =>
      new Promise<void>((resolve) => {
        for (const s of ["", ...services.map((x) => x.typeName)]) health.setStatus(s, "NOT_SERVING");
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
