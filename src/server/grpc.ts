// The gRPC port on @grpc/grpc-js: protobuf-es services bridged to grpc-js method definitions (also
// under mirrored service names, see yandex.ts), plus server reflection (v1 and v1alpha) and grpc.health.v1.
import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary, type DescFile, type DescMessage, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import type { PackageDefinition } from "@grpc/proto-loader";
import { Code, RegplaneError } from "../core/errors.js";
import type { CallContext, RpcPipeline, ServiceBinding } from "./rpc.js";
import { toRegplaneError, toStatusBytes } from "./status.js";

/** A request that failed to decode; the handler answers INVALID_ARGUMENT instead of grpc-js's INTERNAL. */
class Undecodable {
  constructor(readonly reason: string) {}
}

/** Rewrites a response after the pipeline, just before it is serialized. */
export type ResponseMapper = (res: MessageShape<DescMessage>) => MessageShape<DescMessage>;

export function definitionOf(service: DescService, mapResponse?: ResponseMapper): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of service.methods) {
    def[m.localName] = {
      path: `/${service.typeName}/${m.name}`,
      requestStream: false,
      responseStream: false,
      originalName: m.localName,
      requestSerialize: (msg: MessageShape<DescMessage>) => Buffer.from(toBinary(m.input, msg)),
      requestDeserialize: (bytes: Buffer) => {
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

export type Authenticate = (header: (name: string) => string | undefined, transport: { peerCertSubject?: string }) => string;

function handlersOf(binding: ServiceBinding, pipeline: RpcPipeline, authenticate: Authenticate): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const m of binding.service.methods) {
    impl[m.localName] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const abort = new AbortController();
      call.on("cancelled", () => abort.abort());
      const deadlineValue = call.getDeadline();
      const deadline = deadlineValue instanceof Date ? deadlineValue.getTime() : Number.isFinite(deadlineValue) ? Number(deadlineValue) : undefined;
      const timer = deadline !== undefined ? setTimeout(() => abort.abort(), Math.max(0, deadline - Date.now())) : undefined;
      const header = (name: string) => {
        const v = call.metadata.get(name);
        return v.length > 0 ? String(v[0]) : undefined;
      };
      const finish = (err: unknown, res?: unknown) => {
        if (timer) clearTimeout(timer);
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
        const ctx: CallContext = {
          principal: authenticate(header, {}),
          signal: abort.signal,
          deadline,
          requestHeader: header,
          protocol: "grpc",
        };
        pipeline.invoke(binding, m.localName, call.request, ctx).then((res) => finish(null, res), finish);
      } catch (err) {
        finish(err);
      }
    };
  }
  return impl;
}

/** Every file the services need, dependencies first, for reflection. */
function filesOf(services: DescService[]): DescFile[] {
  const seen = new Set<string>();
  const out: DescFile[] = [];
  const visit = (f: DescFile) => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    f.dependencies.forEach(visit);
    out.push(f);
  };
  services.forEach((s) => visit(s.file));
  return out;
}

function reflectionPackage(services: DescService[]): PackageDefinition {
  const fileDescriptorProtos = filesOf(services).map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  const pkg: Record<string, { fileDescriptorProtos: Buffer[] }> = {};
  for (const s of services) pkg[s.typeName] = { fileDescriptorProtos };
  return pkg as unknown as PackageDefinition;
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

export interface GrpcServerOptions {
  host: string;
  port: number;
  bindings: ServiceBinding[];
  pipeline: RpcPipeline;
  authenticate: Authenticate;
  maxMessageBytes?: number;
  mirrors?: ServiceMirror[];
}

export interface StartedGrpcServer {
  port: number;
  health: HealthImplementation;
  /** Stops accepting calls, lets in-flight ones finish for up to graceMs, then closes. */
  shutdown(graceMs: number): Promise<void>;
}

export async function startGrpcServer(o: GrpcServerOptions): Promise<StartedGrpcServer> {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": o.maxMessageBytes ?? 4 * 1024 * 1024,
    "grpc.max_send_message_length": o.maxMessageBytes ?? 16 * 1024 * 1024,
  });
  const mirrors = o.mirrors ?? [];
  const services = [...o.bindings.map((b) => b.service), ...mirrors.map((m) => m.service)];
  for (const b of o.bindings) server.addService(definitionOf(b.service), handlersOf(b, o.pipeline, o.authenticate));
  for (const m of mirrors) {
    const b = mirroredBinding(m);
    server.addService(definitionOf(b.service, m.mapResponse), handlersOf(b, o.pipeline, o.authenticate));
  }
  new ReflectionService(reflectionPackage(services)).addToServer(server);
  const health = new HealthImplementation({ "": "SERVING", ...Object.fromEntries(services.map((s) => [s.typeName, "SERVING"])) });
  health.addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${o.host.includes(":") ? `[${o.host}]` : o.host}:${o.port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
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
