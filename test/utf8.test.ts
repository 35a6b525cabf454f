import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { getTextEncoding } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import { ImageSchema } from "../src/gen/regplane/v1/image_pb.js";
import { useBufferUtf8Encoding } from "../src/server/utf8.js";

// Strings a registry may hand us: ASCII, two-, three- and four-byte UTF-8, and a lone surrogate (which
// both encoders replace with U+FFFD).
const SAMPLES = ["local/team/app", "café", "日本/イメージ", "😀 tag", "broken \ud800 half", ""];

function image(i: number) {
  const s = SAMPLES[i % SAMPLES.length];
  return create(ImageSchema, {
    id: `i${i}`,
    name: `${s}/${i}`,
    digest: `sha256:${String(i).padStart(64, "0")}`,
    tags: [s, `v${i}`, s.repeat(i % 7)],
    layers: [{ digest: `sha256:${"1".repeat(64)}`, size: BigInt(i), mediaType: s }],
  });
}

describe("useBufferUtf8Encoding", () => {
  it("encodes every message byte for byte as the standard encoder does, across the Buffer pool's slabs", () => {
    // 2,000 messages of several hundred bytes each cross many 8 KiB pool slabs.
    const messages = Array.from({ length: 2000 }, (_, i) => image(i));
    const standard = messages.map((m) => toBinary(ImageSchema, m));
    useBufferUtf8Encoding();
    expect(Buffer.isBuffer(getTextEncoding().encodeUtf8("x"))).toBe(true);
    const pooled = messages.map((m) => toBinary(ImageSchema, m));
    for (let i = 0; i < messages.length; i++) {
      expect(Buffer.from(pooled[i]).equals(Buffer.from(standard[i]))).toBe(true);
      expect(fromBinary(ImageSchema, pooled[i]).tags).toEqual(messages[i].tags.map((t) => t.replaceAll("\ud800", "\ufffd")));
    }
  });
});
