import { create, equals, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { blobId, imageId } from "../src/core/ids.js";
import type { BlobRecord, ImageRecord } from "../src/core/types.js";
import { BlobSchema } from "../src/gen/regplane/v1/blob_pb.js";
import { ImageSchema } from "../src/gen/regplane/v1/image_pb.js";
import { imageToProto } from "../src/services/convert.js";

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const layer: BlobRecord = { digest: digest("1"), size: 1234, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" };
const foreign: BlobRecord = { digest: digest("2"), size: 99, mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", urls: ["https://example.com/x"] };
const config: BlobRecord = { digest: digest("3"), size: 456, mediaType: "application/vnd.oci.image.config.v1+json" };

const records: ImageRecord[] = [
  {
    registryId: "local",
    repository: "team/app",
    digest: digest("a"),
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    tags: ["v1", "latest"],
    config,
    layers: [layer, foreign],
    manifests: [],
    compressedSize: 1789,
    createdAtMs: Date.parse("2024-05-06T07:08:09.123Z"),
  },
  {
    registryId: "lab",
    repository: "multi",
    digest: digest("b"),
    mediaType: "application/vnd.oci.image.index.v1+json",
    tags: [],
    layers: [],
    manifests: [{ digest: digest("c"), size: 500, mediaType: "application/vnd.oci.image.manifest.v1+json" }],
    compressedSize: 0,
  },
  { registryId: "x", repository: "y", digest: digest("d"), mediaType: "", tags: [], layers: [], manifests: [], compressedSize: 0, createdAtMs: Number.NaN },
];

/** What create() makes of the same record: the reference the hand-written messages must equal. */
function viaCreate(r: ImageRecord) {
  const blob = (b: BlobRecord) => ({ id: blobId(r.registryId, b.digest), digest: b.digest, size: BigInt(b.size), urls: b.urls ?? [], mediaType: b.mediaType });
  const created = r.createdAtMs === undefined || Number.isNaN(r.createdAtMs) ? undefined : timestampFromMs(r.createdAtMs);
  return create(ImageSchema, {
    id: imageId(r.registryId, r.repository, r.digest),
    name: `${r.registryId}/${r.repository}`,
    digest: r.digest,
    compressedSize: BigInt(r.compressedSize),
    config: r.config ? blob(r.config) : undefined,
    layers: r.layers.map(blob),
    tags: r.tags,
    createdAt: created,
    mediaType: r.mediaType,
    manifests: r.manifests.map(blob),
  });
}

describe("imageToProto", () => {
  it.each(records.map((r) => [r.repository, r] as const))("writes the message create() would (%s)", (_name, r) => {
    const msg = imageToProto(r);
    const reference = viaCreate(r);
    expect(msg).toEqual(reference);
    expect(equals(ImageSchema, msg, reference)).toBe(true);
    expect(Buffer.from(toBinary(ImageSchema, msg))).toEqual(Buffer.from(toBinary(ImageSchema, reference)));
  });

  it("sets every field of Image and Blob, and shares no array with the record", () => {
    const r = records[0];
    const msg = imageToProto(r);
    for (const f of ImageSchema.fields) expect(Object.hasOwn(msg, f.localName)).toBe(true);
    for (const f of BlobSchema.fields) expect(Object.hasOwn(msg.layers[0], f.localName)).toBe(true);
    expect(msg.tags).not.toBe(r.tags);
    expect(msg.layers[1].urls).not.toBe(r.layers[1].urls);
  });
});
