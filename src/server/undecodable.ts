// connect-es reports a request body that is not valid protobuf as INTERNAL ("parse binary: …"), but it is
// the client's mistake: these rewrites answer it as INVALID_ARGUMENT on all three HTTP-port protocols.
import { pipe, transformJoinEnvelopes, transformSplitEnvelope, type UniversalServerResponse } from "@connectrpc/connect/protocol";

const PARSE_FAILURE = "parse binary";
const TRAILER_FLAG = 0b10000000;

function isParseFailure(code: string | null, message: string | null): boolean {
  return code === "13" && message !== null && decodeURIComponent(message).startsWith(PARSE_FAILURE);
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
      if (err.code === "internal" && err.message?.startsWith(PARSE_FAILURE)) {
        const fixed = new TextEncoder().encode(JSON.stringify({ ...err, code: "invalid_argument" }));
        res.header?.set("content-length", String(fixed.length));
        return { ...res, status: 400, body: (async function* () { yield fixed; })() };
      }
    } catch {
      // Not a Connect error body: pass it through unchanged.
    }
    return { ...res, body: (async function* () { yield bytes; })() };
  }
  return res;
}
