// protobuf-es encodes every string field with TextEncoder.encode, which allocates an ArrayBuffer per
// string; Node's Buffer.from takes short strings from a shared pool at about a third of the cost, and a
// response carries dozens of strings (names, digests, tags, media types). Decoding is left as it is.
import { configureTextEncoding, getTextEncoding } from "@bufbuild/protobuf/wire";

/** Process-wide: every protobuf message encoded after this call (gRPC, Connect binary, gRPC-Web). */
export function useBufferUtf8Encoding(): void {
  const standard = getTextEncoding();
  configureTextEncoding({ ...standard, encodeUtf8: (text: string) => Buffer.from(text, "utf8") });
}
