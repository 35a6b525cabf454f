// Bounds a Connect JSON request body before connect parses it: nesting deeper than the limit is refused
// by a linear scan of the bytes, so a `{"a":{"a":…}}` body never reaches JSON.parse or protobuf's
// recursive decoder. A compressed body is decompressed here (within the size limit) to be scanned.
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { ConnectError, Code as ConnectCode } from "@connectrpc/connect";
import type { UniversalServerRequest } from "@connectrpc/connect/protocol";
import { Code, RegplaneError } from "../core/errors.js";
import { toConnectError } from "../services/status.js";

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Tracks the nesting depth of JSON text fed in chunks; strings (and escapes in them) are skipped. */
export class JsonDepthScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(private readonly maxDepth: number) {}

  /** Throws INVALID_ARGUMENT once the text nests deeper than the limit. */
  scan(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) this.inString = false;
      } else if (b === QUOTE) this.inString = true;
      else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
        if (++this.depth > this.maxDepth) throw tooDeep(this.maxDepth);
      } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) this.depth--;
    }
  }
}

function tooDeep(maxDepth: number): ConnectError {
  return toConnectError(
    new RegplaneError(Code.INVALID_ARGUMENT, `the request JSON nests deeper than ${maxDepth} levels`, {
      errorInfo: { reason: "JSON_TOO_DEEP", metadata: { max_depth: String(maxDepth) } },
    }),
  );
}

const DECOMPRESS: Record<string, (bytes: Buffer, maxOutputLength: number) => Buffer> = {
  gzip: (bytes, maxOutputLength) => gunzipSync(bytes, { maxOutputLength }),
  br: (bytes, maxOutputLength) => brotliDecompressSync(bytes, { maxOutputLength }),
};

/** Whether connect will parse this request's body as unary Connect JSON. */
export function isConnectJson(u: UniversalServerRequest): boolean {
  return /^application\/json(;|$)/i.test(u.header.get("content-type") ?? "");
}

/**
 * How a Connect JSON body is checked: a plain one chunk by chunk as it is read (`scan`, called by the
 * transport's one body reader); a compressed one decompressed first, within the size limit, and scanned
 * whole (`wrap`, and its encoding header removed).
 */
export function jsonBodyGuard(
  u: UniversalServerRequest,
  maxDepth: number,
  maxBytes: number,
): { scan: (chunk: Uint8Array) => void } | { wrap: (body: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array> } {
  const encoding = u.header.get("content-encoding")?.toLowerCase();
  const decompress = encoding === undefined || encoding === "identity" ? undefined : DECOMPRESS[encoding];
  // An encoding connect does not accept stays for connect to refuse.
  if (!decompress) {
    const scanner = new JsonDepthScanner(maxDepth);
    return { scan: (chunk) => scanner.scan(chunk) };
  }
  u.header.delete("content-encoding");
  u.header.delete("content-length");
  return { wrap: (body) => decompressedBody(body, decompress, encoding ?? "", maxDepth, maxBytes) };
}

async function* decompressedBody(
  body: AsyncIterable<Uint8Array>,
  decompress: (bytes: Buffer, maxOutputLength: number) => Buffer,
  encoding: string,
  maxDepth: number,
  maxBytes: number,
): AsyncIterable<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new ConnectError(`message size is larger than configured readMaxBytes ${maxBytes}`, ConnectCode.ResourceExhausted);
    chunks.push(chunk);
  }
  let plain: Buffer;
  try {
    plain = decompress(Buffer.concat(chunks), maxBytes);
  } catch (err) {
    const tooLarge = err instanceof RangeError || (err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE";
    throw tooLarge
      ? new ConnectError(`message is larger than configured readMaxBytes ${maxBytes} after decompression`, ConnectCode.ResourceExhausted)
      : new ConnectError(`the request body is not valid ${encoding}`, ConnectCode.InvalidArgument);
  }
  new JsonDepthScanner(maxDepth).scan(plain);
  yield plain;
}
