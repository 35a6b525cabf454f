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
 * `scan` sees each chunk as it is read (and may refuse it). One plain iterator, no generator: this runs
 * on every request, and a caller known at once costs no promise beyond the body's own.
 */
export function admittedBody(
  u: UniversalServerRequest,
  body: AsyncIterable<Uint8Array>,
  admit: () => Caller | Promise<Caller>,
  scan?: (chunk: Uint8Array) => void,
): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      let inner: AsyncIterator<Uint8Array> | undefined;
      // The unread rest of the body is read and dropped, so the connection stays usable.
      const drop = async (it: AsyncIterator<Uint8Array>, err: unknown): Promise<never> => {
        await it.return?.();
        throw err;
      };
      const read = (it: AsyncIterator<Uint8Array>): Promise<IteratorResult<Uint8Array>> => {
        if (scan === undefined) return it.next();
        return it.next().then((r) => {
          if (r.done !== true) {
            try {
              scan(r.value);
            } catch (err) {
              return drop(it, err);
            }
          }
          return r;
        });
      };
      return {
        next() {
          if (inner !== undefined) return read(inner);
          const it = (inner = body[Symbol.asyncIterator]());
          let who: Caller | Promise<Caller>;
          try {
            who = admit();
          } catch (err) {
            return drop(it, toConnectError(err));
          }
          if (!(who instanceof Promise)) {
            u.contextValues?.set(ADMITTED, who);
            return read(it);
          }
          return who.then(
            (c) => {
              u.contextValues?.set(ADMITTED, c);
              return read(it);
            },
            (err: unknown) => drop(it, toConnectError(err)),
          );
        },
        async return() {
          return (await inner?.return?.()) ?? { done: true, value: undefined };
        },
      };
    },
  };
}
