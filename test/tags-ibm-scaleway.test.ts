// TagService.Delete on IBM Cloud and Scaleway, through the started server against their fakes: the
// provider's own tag delete removes one tag and the image keeps the others (checked in the fake's view);
// IBM keeps an image whose last tag went (untagged), Scaleway keeps none, so there that is refused.
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import type { Operation } from "../src/gen/regplane/v1/operation_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { TagService } from "../src/gen/regplane/v1/tag_service_pb.js";
import { IbmFake } from "./fakes/ibm.js";
import { ScalewayFake } from "./fakes/scaleway.js";
import { GrpcClient } from "./support/clients.js";
import { startServer, type ServerProcess } from "./support/server.js";

const IBM_KEY = `ibm-apikey-${randomBytes(12).toString("hex")}`;
const SCW_KEY = randomUUID();

let ibm: IbmFake;
let scw: ScalewayFake;
let server: ServerProcess;
let images: GrpcClient;
let tags: GrpcClient;
let ops: GrpcClient;

async function imageOf(registryId: string, repository: string, tag: string): Promise<Image> {
  const page = await images.call("list", { registryId, repositoryName: `${registryId}/${repository}`, pageSize: 100n });
  const found = (page.images as Image[]).find((i) => i.tags.includes(tag));
  expect(found, `${registryId}/${repository}:${tag}`).toBeDefined();
  return found!;
}

async function untag(imageId: string, tag: string): Promise<Operation> {
  const op = (await tags.call("delete", { imageId, tag })) as Operation;
  return (await ops.call("wait", { operationId: op.id, timeout: { seconds: 30n } }, { deadlineMs: 40_000 })) as Operation;
}

beforeAll(async () => {
  ibm = await IbmFake.start({ apiKey: IBM_KEY });
  ibm.addNamespace("team");
  const shared = ibm.pushImage("team/app", ["v1", "v2"]).digest;
  ibm.pushImage("team/app", ["solo"]);
  expect(ibm.tagsOf("team/app", shared)).toEqual(["v1", "v2"]);
  scw = await ScalewayFake.start({ secretKey: SCW_KEY, deletingMs: 50 });
  scw.addNamespace("shop");
  const v1 = scw.pushTag("shop/api", "v1");
  scw.pushTag("shop/api", "stable", v1);
  scw.pushTag("shop/api", "v2");
  server = await startServer({
    env: { IBM_API_KEY: IBM_KEY, SCW_SECRET_KEY: SCW_KEY },
    config: `registries:
  - {id: ibm, provider: ibm, insecure: true, registryUrl: ${JSON.stringify(ibm.url)}, iamUrl: ${JSON.stringify(ibm.url)}, account: ${ibm.account}, apiKey: "\${IBM_API_KEY}"}
  - {id: scw, provider: scaleway, insecure: true, region: fr-par, apiUrl: ${JSON.stringify(scw.url)}, projectId: ${scw.projectId}, secretKey: "\${SCW_SECRET_KEY}", pollInterval: 50ms}
`,
  });
  images = new GrpcClient(ImageService, server.grpcAddress);
  tags = new GrpcClient(TagService, server.grpcAddress);
  ops = new GrpcClient(OperationService, server.grpcAddress);
}, 60_000);

afterAll(async () => {
  for (const c of [images, tags, ops]) c?.close();
  await server?.stop();
  await ibm?.close();
  await scw?.close();
});

describe("IBM Cloud", () => {
  it("removes one tag with IBM's tag delete; the image keeps its other tag", async () => {
    const image = await imageOf("ibm", "team/app", "v1");
    const done = await untag(image.id, "v1");
    expect(done.result.case, done.result.case === "error" ? done.result.value.message : "").toBe("response");
    expect(ibm.tagsOf("team/app", image.digest)).toEqual(["v2"]);
    expect(ibm.count("DELETE /api/v1/tags/{param}")).toBe(1);
    expect(ibm.count("DELETE /api/v1/images/{param}")).toBe(0);
    expect(ibm.count("POST /api/v1/images/bulkdelete")).toBe(0);
  });

  it("removing an image's last tag leaves it untagged in IBM, where Get still finds it", async () => {
    const image = await imageOf("ibm", "team/app", "solo");
    expect((await untag(image.id, "solo")).result.case).toBe("response");
    expect(ibm.tagsOf("team/app", image.digest)).toEqual([]);
    expect(ibm.digestsOf("team/app")).toContain(image.digest);
  });
});

describe("Scaleway", () => {
  it("removes one tag with DELETE /tags/{id}; the image keeps its other tag", async () => {
    const image = await imageOf("scw", "shop/api", "stable");
    expect(image.tags).toEqual(["stable", "v1"]);
    const done = await untag(image.id, "stable");
    expect(done.result.case, done.result.case === "error" ? done.result.value.message : "").toBe("response");
    expect(scw.tagsOf("shop/api", image.digest)).toEqual(["v1"]);
    expect(scw.digestsOf("shop/api")).toContain(image.digest);
  });

  it("refuses to remove a digest's last tag (Scaleway keeps no untagged image) and changes nothing", async () => {
    const image = await imageOf("scw", "shop/api", "v2");
    const done = await untag(image.id, "v2");
    expect(done.result.case).toBe("error");
    if (done.result.case !== "error") return;
    expect(done.result.value.code).toBe(9);
    expect(done.result.value.message).toContain("delete the image instead");
    expect(scw.tagsOf("shop/api", image.digest)).toEqual(["v2"]);
  });
});
