// connect-es and grpc-js report some malformed requests as INTERNAL (a body that is not valid protobuf,
// a compressed message without an encoding or with corrupt data, a malformed grpc-timeout), but they are
// the client's mistake: these rewrites answer them as INVALID_ARGUMENT on every protocol of both ports. A
// Connect JSON key the message lacks gets a BadRequest naming it.
import * as grpc from "@grpc/grpc-js";
import { BaseServerInterceptingCall } from "@grpc/grpc-js/build/src/server-interceptors.js";
import { pipe, transformJoinEnvelopes, transformSplitEnvelope, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { Code, RegplaneError } from "../core/errors.js";
import { toConnectError } from "../services/status.js";

/** protobuf-es's message for a JSON key the request message does not have (with ignoreUnknownFields off). */
const UNKNOWN_JSON_KEY = /^cannot decode message (\S+) from JSON: key "(.*)" is unknown$/;

/** connect-es's messages for undecodable requests. */
const CONNECT_CLIENT_FAULTS = ["parse binary", "received compressed envelope, but do not know how to decompress", "decompression failed"];
/** grpc-js's messages for the same (1.14). */
const GRPC_JS_CLIENT_FAULTS = ["Invalid grpc-timeout value", "Failed to decompress message", "Error deserializing request"];
const TRAILER_FLAG = 0b10000000;

function isClientFault(message: string, known: string[]): boolean {
  return known.some((prefix) => message.startsWith(prefix));
}

function isParseFailure(code: string | null, message: string | null): boolean {
  if (code !== "13" || message === null) return false;
  try {
    return isClientFault(decodeURIComponent(message), CONNECT_CLIENT_FAULTS);
  } catch {
    return false;
  }
}

let grpcJsPatched = false;

/**
 * The same rewrite for grpc-js, which sends these statuses from its base call itself, past every
 * interceptor's responder. The base call's sendStatus is wrapped once, on its prototype: a server
 * interceptor doing it per call cost about 15 % of the port's throughput (every call then runs
 * through an intercepting-call chain). Tied to grpc-js 1.14 internals, like the messages above.
 */
export function reclassifyGrpcJsClientFaults(): void {
  if (grpcJsPatched) return;
  grpcJsPatched = true;
  const proto = BaseServerInterceptingCall.prototype;
  const sendStatus = proto.sendStatus;
  proto.sendStatus = function (this: BaseServerInterceptingCall, status: Parameters<BaseServerInterceptingCall["sendStatus"]>[0]) {
    const fault = status.code === grpc.status.INTERNAL && isClientFault(status.details ?? "", GRPC_JS_CLIENT_FAULTS);
    return sendStatus.call(this, fault ? { ...status, code: grpc.status.INVALID_ARGUMENT } : status);
  };
}

async function* rewriteGrpcTrailer(body: AsyncIterable<Uint8Array>, trailer: Headers): AsyncIterable<Uint8Array> {
  yield* body;
  if (isParseFailure(trailer.get("grpc-status"), trailer.get("grpc-message"))) trailer.set("grpc-status", "3");
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of body) chunks.push(c);
  return Buffer.concat(chunks);
}

export async function reclassifyParseFailures(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  const type = res.header?.get("content-type") ?? "";
  if (type.startsWith("application/grpc-web")) {
    if (!res.body) return res;
    const body = pipe(res.body, transformSplitEnvelope(Number.MAX_SAFE_INTEGER), async function* (envelopes) {
      for await (const env of envelopes) {
        if ((env.flags & TRAILER_FLAG) === TRAILER_FLAG) {
          const text = new TextDecoder().decode(env.data);
          const status = /^grpc-status: *(\d+)\s*$/im.exec(text)?.[1] ?? null;
          const message = /^grpc-message: *(.*?)\s*$/im.exec(text)?.[1] ?? null;
          if (isParseFailure(status, message)) {
            yield { flags: env.flags, data: new TextEncoder().encode(text.replace(/^grpc-status: *13/im, "grpc-status: 3")) };
            continue;
          }
        }
        yield env;
      }
    }, transformJoinEnvelopes());
    return { ...res, body };
  }
  if (type.startsWith("application/grpc")) {
    if (res.header && isParseFailure(res.header.get("grpc-status"), res.header.get("grpc-message"))) res.header.set("grpc-status", "3");
    if (res.body && res.trailer) return { ...res, body: rewriteGrpcTrailer(res.body, res.trailer) };
    return res;
  }
  if (res.status === 500 && type.startsWith("application/json") && res.body) {
    const bytes = await collect(res.body);
    try {
      const err = JSON.parse(new TextDecoder().decode(bytes)) as { code?: string; message?: string };
      if (err.code === "internal" && isClientFault(err.message ?? "", CONNECT_CLIENT_FAULTS)) {
        return withBody(res, 400, new TextEncoder().encode(JSON.stringify({ ...err, code: "invalid_argument" })));
      }
    } catch {
      // Not a Connect error body: pass it through unchanged.
    }
    return { ...res, body: (async function* () { yield bytes; })() };
  }
  if (res.status === 400 && type.startsWith("application/json") && res.body) {
    const bytes = await collect(res.body);
    const unknown = unknownJsonKeyError(bytes);
    return unknown ? withBody(res, 400, errorToJsonBytes(toConnectError(unknown), undefined)) : { ...res, body: (async function* () { yield bytes; })() };
  }
  return res;
}

/** A Connect JSON error body saying the request had an unknown key, as INVALID_ARGUMENT with a BadRequest naming it. */
function unknownJsonKeyError(bytes: Uint8Array): RegplaneError | undefined {
  let err: { code?: string; message?: string };
  try {
    err = JSON.parse(new TextDecoder().decode(bytes)) as { code?: string; message?: string };
  } catch {
    return undefined;
  }
  const m = err.code === "invalid_argument" ? UNKNOWN_JSON_KEY.exec(err.message ?? "") : null;
  if (!m) return undefined;
  const [, message, key] = m;
  const description = `${message} has no field ${JSON.stringify(key)}`;
  return new RegplaneError(Code.INVALID_ARGUMENT, `unknown field ${JSON.stringify(key)}: ${description}`, {
    fieldViolations: [{ field: key, description, reason: "UNKNOWN_FIELD" }],
  });
}

function withBody(res: UniversalServerResponse, status: number, body: Uint8Array): UniversalServerResponse {
  res.header?.set("content-length", String(body.length));
  return { ...res, status, body: (async function* () { yield body; })() };
}
