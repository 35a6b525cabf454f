// One RPC against a started server through a real client of either port (grpc-js on the gRPC port,
// connect-node's Connect protocol on the HTTP port), reduced to what a caller can see of the answer.
import { createRegistry, fromBinary, toBinary, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb.js";
import { errorInfo, GrpcClient, GrpcError } from "./clients.js";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import type { ServerProcess } from "./server.js";

export type Port = "grpc" | "connect";
export const PORTS: Port[] = ["grpc", "connect"];

export interface Outcome {
  code: number;
  message: string;
  reason?: string;
  metadata: Record<string, string>;
  retryDelayMs?: number;
  /** BadRequest field violations: the field's proto path and the rule it broke. */
  violations: Array<{ field: string; reason: string }>;
  /** Everything the caller received about the error (message, details, headers), for secret searches. */
  visible: string;
  res?: any;
}

const details = createRegistry(RetryInfoSchema, ErrorInfoSchema);

/** Calls `service/method` (a method's localName) with `req`. */
export async function callAt(server: ServerProcess, port: Port, service: DescService, method: string, req: object, opts: { headers?: Record<string, string> } = {}): Promise<Outcome> {
  if (port === "grpc") {
    const client = new GrpcClient(service, server.grpcAddress);
    try {
      return { code: 0, message: "", metadata: {}, violations: [], visible: "", res: await client.call(method, req, { metadata: opts.headers }) };
    } catch (err) {
      if (!(err instanceof GrpcError)) throw err;
      const info = errorInfo(err.status);
      let retryDelayMs: number | undefined;
      const violations: Array<{ field: string; reason: string }> = [];
      for (const d of err.status?.details ?? []) {
        const m = anyUnpack(d, details);
        if (m?.$typeName === "google.rpc.RetryInfo") {
          const delay = (m as MessageShape<typeof RetryInfoSchema>).retryDelay;
          retryDelayMs = Number(delay?.seconds ?? 0n) * 1000 + (delay?.nanos ?? 0) / 1e6;
        }
      }
      for (const d of err.status?.details ?? []) if (d.typeUrl.endsWith("google.rpc.BadRequest")) violations.push(...badRequestFields(d.value));
      const bytes = err.status ? Buffer.from(toBinary(StatusSchema, err.status)).toString("latin1") : "";
      return { code: err.code, message: err.message, reason: info?.reason, metadata: { ...info?.metadata }, retryDelayMs, violations, visible: `${err.message}\n${bytes}` };
    } finally {
      client.close();
    }
  }
  const transport = createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" });
  const client = createClient(service, transport) as Client<DescService>;
  try {
    const fn = (client as unknown as Record<string, (r: object, o: object) => Promise<unknown>>)[method];
    return { code: 0, message: "", metadata: {}, violations: [], visible: "", res: await fn(req, { headers: opts.headers }) };
  } catch (err) {
    if (!(err instanceof ConnectError)) throw err;
    const retry = err.findDetails(RetryInfoSchema)[0]?.retryDelay;
    const info = err.findDetails(ErrorInfoSchema)[0];
    const raw = err.details.map((d) => ("value" in d && d.value instanceof Uint8Array ? Buffer.from(d.value).toString("latin1") : JSON.stringify(d))).join("\n");
    const headers = [...err.metadata.entries()].map(([k, v]) => `${k}: ${v}`).join("\n");
    const violations = err.details.flatMap((d) => ("type" in d && d.type === "google.rpc.BadRequest" ? badRequestFields(d.value) : []));
    return {
      code: err.code,
      message: err.rawMessage,
      reason: info?.reason,
      metadata: { ...info?.metadata },
      retryDelayMs: retry ? Number(retry.seconds) * 1000 + retry.nanos / 1e6 : undefined,
      violations,
      visible: `${err.rawMessage}\n${raw}\n${headers}`,
    };
  }
}

function badRequestFields(value: Uint8Array): Array<{ field: string; reason: string }> {
  return fromBinary(BadRequestSchema, value).fieldViolations.map((v) => ({ field: v.field, reason: v.reason }));
}

/** Substrings of 8 characters of any secret found in `text` (a cut secret leaks its parts, not itself). */
export function secretFragments(text: string, secrets: Iterable<string>, size = 8): string[] {
  const found: string[] = [];
  for (const s of secrets) {
    for (let i = 0; i + size <= s.length; i++) {
      const part = s.slice(i, i + size);
      if (text.includes(part)) {
        found.push(part);
        break;
      }
    }
  }
  return found;
}
