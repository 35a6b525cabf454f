// How the HTTP port hands a request to connect: the client's deadline taken off the request (the
// pipeline's is the only one), and a body that is read only once the pipeline has admitted the caller.
import { createContextKey } from "@connectrpc/connect";
import type { UniversalServerRequest } from "@connectrpc/connect/protocol";
import { parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import { parseTimeout as parseGrpcTimeout } from "@connectrpc/connect/protocol-grpc";
import type { Caller } from "./auth.js";
import { toConnectError } from "../services/status.js";

/** The caller the pipeline admitted before connect read the request body. */
export const ADMITTED = createContextKey<Caller | undefined>(undefined, { description: "admitted caller" });

/** The client's deadline (ms since the epoch), read from the request before connect sees it. */
export const CLIENT_DEADLINE = createContextKey<number | undefined>(undefined, { description: "client deadline" });

/**
 * Takes the client's timeout header off the request and returns its deadline, so the pipeline's deadline
 * (DEADLINE_EXCEEDED, as on the gRPC port) is the only one: connect's own timer aborts the call's signal
 * with a reason the services read as the client leaving (CANCELLED). A malformed value stays for connect to refuse.
 */
export function takeClientDeadline(u: UniversalServerRequest): number | undefined {
  const grpc = (u.header.get("content-type") ?? "").startsWith("application/grpc");
  const name = grpc ? "grpc-timeout" : "connect-timeout-ms";
  const value = u.header.get(name);
  if (value === null) return undefined;
  const parsed = (grpc ? parseGrpcTimeout : parseConnectTimeout)(value, Number.MAX_SAFE_INTEGER);
  if (parsed.error || parsed.timeoutMs === undefined) return undefined;
  u.header.delete(name);
  return Date.now() + parsed.timeoutMs;
}

/** connect's protocol name for a request, from its content type, as the pipeline's logs and metrics name it. */
export function protocolOf(u: UniversalServerRequest): string {
  const type = u.header.get("content-type") ?? "";
  return type.startsWith("application/grpc-web") ? "grpc-web" : type.startsWith("application/grpc") ? "grpc" : "connect";
}

/**
 * The request body, read only once the pipeline has admitted the caller: connect reads the whole body
 * and decodes it before calling the handler, so the credentials are checked here, as it starts reading.
 */
export function admittedBody(u: UniversalServerRequest, body: AsyncIterable<Uint8Array>, admit: () => Promise<Caller>): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      let inner: AsyncIterator<Uint8Array> | undefined;
      return {
        async next() {
          if (inner === undefined) {
            inner = body[Symbol.asyncIterator]();
            try {
              u.contextValues?.set(ADMITTED, await admit());
            } catch (err) {
              // The unread rest of the body is read and dropped, so the connection stays usable.
              await inner.return?.();
              throw toConnectError(err);
            }
          }
          return inner.next();
        },
        async return() {
          return (await inner?.return?.()) ?? { done: true, value: undefined };
        },
      };
    },
  };
}
