// An OCI registry behind the server, called over gRPC: a repository with more tags than the registry's
// request limit queues most of its requests on the call's signal, which must stay quiet (no Node
// MaxListenersExceededWarning on the server's stderr) while List and Get answer with every tag. The
// tag map is not cached (listingCacheTtl: 0s), so Get sends a request per tag too.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { GrpcClient } from "./support/clients.js";
import { makeTempDir, OCI_MANIFEST, writeSyntheticImage } from "./support/images.js";
import { pushImage, startRegistry, type RunningRegistry } from "./support/registry.js";
import { startServer, type ServerProcess } from "./support/server.js";

/** Well over the adapter's default of 8 requests in flight, and Node's default of 10 listeners. */
const TAGS = Array.from({ length: 30 }, (_, i) => `t${String(i).padStart(2, "0")}`);

const cleanups: Array<() => Promise<unknown>> = [];
let reg: RunningRegistry;
let server: ServerProcess;
let images: GrpcClient;
let digest: string;

/** Pushes one image with skopeo, then tags it again under every other name with a manifest PUT. */
async function pushManyTags(layout: string, repository: string): Promise<string> {
  const { digest } = await writeSyntheticImage(layout, { tag: repository, created: "2024-05-05T05:05:05Z" });
  await pushImage(layout, repository, reg.host, repository, TAGS[0]);
  const got = await request(`${reg.url}/v2/${repository}/manifests/${digest}`, { headers: { accept: OCI_MANIFEST } });
  const manifest = Buffer.from(await got.body.arrayBuffer());
  for (const tag of TAGS.slice(1)) {
    const put = await request(`${reg.url}/v2/${repository}/manifests/${tag}`, { method: "PUT", body: manifest, headers: { "content-type": OCI_MANIFEST } });
    await put.body.dump();
    expect(put.statusCode).toBe(201);
  }
  return digest;
}

beforeAll(async () => {
  const work = await makeTempDir("regplane-oci-api-");
  cleanups.push(() => fs.rm(work, { recursive: true, force: true }));
  reg = await startRegistry();
  cleanups.push(() => reg.stop());
  digest = await pushManyTags(path.join(work, "layout"), "many/tags");
  server = await startServer({
    config: `registries:\n  - {id: lab, provider: oci, endpoint: ${JSON.stringify(reg.url)}, insecure: true, listingCacheTtl: 0s}\n`,
  });
  cleanups.push(() => server.kill(), () => fs.rm(server.dataDir, { recursive: true, force: true }));
  images = new GrpcClient(ImageService, server.grpcAddress);
  cleanups.push(async () => images.close());
}, 90_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe("a repository with 30 tags in a CNCF registry, through the server", () => {
  it("List and Get answer with one image carrying every tag", async () => {
    const page = await images.call("list", { registryId: "lab", pageSize: 100n });
    expect((page.images as Image[]).map((i) => [i.name, i.digest, i.tags])).toEqual([["lab/many/tags", digest, TAGS]]);
    const got = (await images.call("get", { imageId: page.images[0].id })) as Image;
    expect([got.digest, got.tags]).toEqual([digest, TAGS]);
  });

  it("leaves no listener warning on the server's stderr", async () => {
    await server.stop();
    expect(server.stderr()).not.toContain("MaxListenersExceededWarning");
  });
});
