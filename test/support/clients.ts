// Real clients for the API edge: grpc-js against the gRPC port; connect-node's Connect, gRPC-Web and gRPC
// transports against the HTTP port.
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const ROOT = path.resolve(import.meta.dirname, "../..");
import type { DescService, MessageShape } from "@bufbuild/protobuf";
import { create, fromBinary } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { definitionOf } from "../../src/server/grpc.js";
import { StatusSchema, type Status } from "../../src/gen/google/rpc/status_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { createRegistry } from "@bufbuild/protobuf";

export type Protocol = "connect" | "connect-binary" | "grpc-web" | "grpc-http";

export function connectClient<S extends DescService>(service: S, baseUrl: string, protocol: Protocol = "connect"): Client<S> {
  const transport =
    protocol === "grpc-web"
      ? createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })
      : protocol === "grpc-http"
        ? createGrpcTransport({ baseUrl })
        : createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: protocol === "connect-binary" });
  return createClient(service, transport);
}

export class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly status?: Status,
  ) {
    super(message);
  }
}

/** A minimal promise-based grpc-js client for one service. */
export class GrpcClient {
  private readonly client: grpc.Client;
  constructor(
    private readonly service: DescService,
    address: string,
  ) {
    const Ctor = grpc.makeGenericClientConstructor(definitionOf(service) as grpc.ServiceDefinition, service.typeName);
    this.client = new Ctor(address, grpc.credentials.createInsecure());
  }

  // Loosely typed on purpose: tests address methods by name and inspect the decoded message.
  call(method: string, req: object, opts: { metadata?: Record<string, string>; deadlineMs?: number } = {}): Promise<any> {
    const m = this.service.methods.find((x) => x.localName === method)!;
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(opts.metadata ?? {})) md.set(k, v);
    const fn = (this.client as unknown as Record<string, Function>)[method].bind(this.client);
    return new Promise((resolve, reject) => {
      fn(create(m.input, req as never), md, { deadline: Date.now() + (opts.deadlineMs ?? 30_000) }, (err: grpc.ServiceError | null, res: unknown) => {
        if (!err) return resolve(res);
        const bin = err.metadata?.get("grpc-status-details-bin")?.[0];
        const status = bin ? fromBinary(StatusSchema, bin as Buffer) : undefined;
        reject(new GrpcError(err.code, err.details, status));
      });
    });
  }

  close(): void {
    this.client.close();
  }
}

/** The GrpcError a call ends with; throws when it succeeds (or fails otherwise). */
export async function grpcFailure(call: Promise<unknown>): Promise<GrpcError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof GrpcError) return err;
    throw err;
  }
  throw new Error("expected the call to fail");
}

const detailRegistry = createRegistry(BadRequestSchema, ErrorInfoSchema);

/** The BadRequest field violations carried in a grpc-status-details-bin Status. */
export function fieldViolations(status: Status | undefined): Array<{ field: string; description: string }> {
  const out: Array<{ field: string; description: string }> = [];
  for (const d of status?.details ?? []) {
    const msg = anyUnpack(d, detailRegistry);
    if (msg && msg.$typeName === "google.rpc.BadRequest") out.push(...(msg as MessageShape<typeof BadRequestSchema>).fieldViolations);
  }
  return out;
}

export function errorInfo(status: Status | undefined): MessageShape<typeof ErrorInfoSchema> | undefined {
  for (const d of status?.details ?? []) {
    const msg = anyUnpack(d, detailRegistry);
    if (msg && msg.$typeName === "google.rpc.ErrorInfo") return msg as MessageShape<typeof ErrorInfoSchema>;
  }
  return undefined;
}

/** A gRPC server reflection client (v1 or v1alpha) loaded from @grpc/reflection's own proto. */
export function reflectionClient(address: string, version: "v1" | "v1alpha" = "v1", metadata?: grpc.Metadata) {
  const def = protoLoader.loadSync(path.resolve(ROOT, `node_modules/@grpc/reflection/build/proto/grpc/reflection/${version}/reflection.proto`), { keepCase: true });
  const Reflection = (grpc.loadPackageDefinition(def) as any).grpc.reflection[version].ServerReflection;
  const client = new Reflection(address, grpc.credentials.createInsecure());
  /** One request on a fresh stream; resolves with the first response. */
  const ask = (req: object) =>
    new Promise<any>((resolve, reject) => {
      const call = metadata ? client.ServerReflectionInfo(metadata) : client.ServerReflectionInfo();
      call.on("data", (d: unknown) => {
        resolve(d);
        call.end();
      });
      call.on("error", reject);
      call.write(req);
    });
  return { ask, close: () => client.close() };
}
