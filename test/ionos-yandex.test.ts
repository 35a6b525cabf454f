// regplane against the IONOS and Yandex fakes, through gRPC on the real server process: registries
// created, updated and deleted through operations in both provider accounts; images listed, read and
// deleted (IONOS deletes through real CNCF registries' OCI API, Yandex deletes through Yandex
// Operations, failures carried into ours); IAM tokens refreshed at expiry; and one folder across
// IONOS, Yandex and the embedded registry walked with one page token.
import { generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { anyUnpack, EmptySchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Image } from "../src/gen/regplane/v1/image_pb.js";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { NamespaceService } from "../src/gen/regplane/v1/namespace_service_pb.js";
import type { Operation } from "../src/gen/regplane/v1/operation_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { Registry_Status, RegistrySchema, type Registry } from "../src/gen/regplane/v1/registry_pb.js";
import { CreateRegistryMetadataSchema, DeleteRegistryMetadataSchema, RegistryService, UpdateRegistryMetadataSchema } from "../src/gen/regplane/v1/registry_service_pb.js";
import { IonosFake } from "./fakes/ionos.js";
import { YandexFake, type FakeRegistry } from "./fakes/yandex.js";
import { errorInfo, GrpcClient, grpcFailure } from "./support/clients.js";
import { buildBaseLayout, makeTempDir, writeSyntheticImage, type BaseLayout } from "./support/images.js";
import { inspectRaw, pushImage, startRegistry, type RunningRegistry } from "./support/registry.js";
import { startServer, type ServerProcess } from "./support/server.js";

const IONOS_TOKEN = "ionos-api-token-for-tests";
const ROBOT = { username: "robot", password: "robot-registry-token-password" };
const FOLDER = "b1gregplanetest00001";
const KEY_ID = "ajekeyregplane000001";
const SERVICE_ACCOUNT = "ajesaregplane0000001";
const IAM_LIFETIME_MS = 3000;
const FROZEN_ID = "5b0f7c1e-3d2a-4e8b-9c6f-1a2b3c4d5e6f";
const YC_MAIN_ID = "crpregplanemain00001";

let work: string;
let base: BaseLayout;
let main: RunningRegistry;
let readOnly: RunningRegistry;
let ionos: IonosFake;
let yandex: YandexFake;
let ycMain: FakeRegistry;
let ycEdge: FakeRegistry;
let server: ServerProcess;
let images: GrpcClient;
let registries: GrpcClient;
let operations: GrpcClient;

async function waitDone(op: Operation): Promise<Operation> {
  const done = (await operations.call("wait", { operationId: op.id, timeout: { seconds: 30n } }, { deadlineMs: 40_000 })) as Operation;
  expect(done.done).toBe(true);
  return done;
}

function registryOf(op: Operation): Registry {
  expect(op.result.case).toBe("response");
  return anyUnpack(op.result.value as never, RegistrySchema)!;
}

async function listAll(req: Record<string, unknown>): Promise<Image[]> {
  const out: Image[] = [];
  let pageToken = "";
  do {
    const res = await images.call("list", { ...req, pageToken });
    out.push(...(res.images as Image[]));
    expect(res.unreachable).toEqual([]);
    expect(res.nextPageToken.length).toBeLessThanOrEqual(100);
    pageToken = res.nextPageToken;
  } while (pageToken !== "");
  return out;
}

function digest(n: number): string {
  return `sha256:${n.toString(16).padStart(64, "0")}`;
}

beforeAll(async () => {
  work = await makeTempDir("regplane-ionos-yandex-");
  base = await buildBaseLayout(path.join(work, "layout"));

  // The IONOS registries' OCI side: real CNCF registries, one guarded by the registry token, one refusing deletes.
  main = await startRegistry({ auth: { kind: "htpasswd", users: { [ROBOT.username]: ROBOT.password } } });
  readOnly = await startRegistry({ deletes: false });
  const creds = `${ROBOT.username}:${ROBOT.password}`;
  await pushImage(base.dir, "v1", main.host, "team/app", "v1", { credentials: creds });
  await pushImage(base.dir, "v1", main.host, "team/app", "latest", { credentials: creds });
  await pushImage(base.dir, "v2", main.host, "team/app", "v2", { credentials: creds });
  await pushImage(base.dir, "base", main.host, "tools/base", "1", { credentials: creds });
  await pushImage(base.dir, "v1", readOnly.host, "frozen/app", "v1");

  ionos = await new IonosFake({ tokens: [IONOS_TOKEN] }).start();
  ionos.addRegistry({ name: "fra-main", backend: main.url, backendCredentials: creds });
  ionos.addRegistry({ name: "fra-frozen", backend: readOnly.url, id: FROZEN_ID });

  const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  yandex = await new YandexFake({
    serviceAccountKeys: [{ keyId: KEY_ID, serviceAccountId: SERVICE_ACCOUNT, publicKey: keys.publicKey }],
    tokenLifetimeMs: IAM_LIFETIME_MS,
    operationPolls: 2,
  }).start();
  ycMain = yandex.addRegistry({ folderId: FOLDER, name: "yc-main", labels: { team: "platform" }, id: YC_MAIN_ID });
  ycEdge = yandex.addRegistry({ folderId: FOLDER, name: "yc-edge" });
  yandex.addRegistry({ folderId: "b1gsomeoneelse000001", name: "not-ours" });
  const layer = (n: number) => ({ digest: digest(1000 + n), size: 1000 + n });
  yandex.addImage(ycMain.id, "web/api", { digest: digest(1), tags: ["1.0", "latest"], config: { digest: digest(501), size: 300 }, layers: [layer(1), layer(2)] });
  yandex.addImage(ycMain.id, "web/api", { digest: digest(2), tags: ["0.9"], config: { digest: digest(502), size: 300 }, layers: [layer(1)] });
  yandex.addImage(ycMain.id, "worker", { digest: digest(3), tags: ["stable"], config: { digest: digest(503), size: 300 }, layers: [layer(3)] });
  yandex.addImage(ycEdge.id, "proxy", { digest: digest(4), tags: ["edge"], config: { digest: digest(504), size: 300 }, layers: [layer(4)] });
  yandex.addImage(ycEdge.id, "proxy", { digest: digest(5), tags: ["pinned"], config: { digest: digest(505), size: 300 }, layers: [layer(5)] });

  const dataDir = await makeTempDir("regplane-ionos-yandex-data-");
  for (const tag of ["v1", "v2"]) await writeSyntheticImage(path.join(dataDir, "registry", "team/app"), { tag });
  await writeSyntheticImage(path.join(dataDir, "registry", "tools/lint"), { tag: "1" });

  const secrets = path.join(work, "secrets");
  await fs.mkdir(secrets);
  await fs.writeFile(path.join(secrets, "ionos-token"), `${IONOS_TOKEN}\n`);
  await fs.writeFile(path.join(secrets, "frozen-password"), "frozen-registry-token-password\n");
  const keyFile = { id: KEY_ID, service_account_id: SERVICE_ACCOUNT, created_at: "2026-07-01T00:00:00Z", key_algorithm: "RSA_2048", public_key: keys.publicKey.export({ type: "spki", format: "pem" }), private_key: keys.privateKey.export({ type: "pkcs8", format: "pem" }) };
  await fs.writeFile(path.join(secrets, "yandex-key.json"), JSON.stringify(keyFile));

  server = await startServer({
    dataDir,
    env: { IONOS_REGISTRY_PASSWORD: ROBOT.password },
    config: [
      "registries:",
      "  - id: local",
      "    provider: local",
      "  - id: ionos",
      "    provider: ionos",
      "    insecure: true",
      `    endpoint: ${ionos.url}`,
      `    tokenFile: ${path.join(secrets, "ionos-token")}`,
      "    pageSize: 2",
      "    registryInsecure: true",
      "    registryTokens:",
      "      - registry: fra-main",
      `        username: ${ROBOT.username}`,
      "        password: ${IONOS_REGISTRY_PASSWORD}",
      "      - registry: fra-frozen",
      "        username: robot",
      `        passwordFile: ${path.join(secrets, "frozen-password")}`,
      "  - id: ionos-frozen",
      "    provider: ionos",
      "    insecure: true",
      `    endpoint: ${ionos.url}`,
      `    tokenFile: ${path.join(secrets, "ionos-token")}`,
      `    registryId: ${FROZEN_ID}`,
      "    registryUsername: robot",
      `    registryPasswordFile: ${path.join(secrets, "frozen-password")}`,
      "    registryInsecure: true",
      "  - id: yc",
      "    provider: yandex",
      "    insecure: true",
      `    folderId: ${FOLDER}`,
      `    serviceAccountKeyFile: ${path.join(secrets, "yandex-key.json")}`,
      `    endpoint: ${yandex.url}`,
      `    operationEndpoint: ${yandex.url}`,
      `    iamEndpoint: ${yandex.iamUrl}`,
      "  - id: yc-main",
      "    provider: yandex",
      "    insecure: true",
      `    folderId: ${FOLDER}`,
      `    registryId: ${YC_MAIN_ID}`,
      `    serviceAccountKeyFile: ${path.join(secrets, "yandex-key.json")}`,
      `    endpoint: ${yandex.url}`,
      `    operationEndpoint: ${yandex.url}`,
      `    iamEndpoint: ${yandex.iamUrl}`,
      "folders:",
      "  - id: mixed",
      "    registries: [local, ionos, yc]",
      "  - id: pinned",
      "    registries: [ionos-frozen, yc-main]",
      "",
    ].join("\n"),
  });
  images = new GrpcClient(ImageService, server.grpcAddress);
  registries = new GrpcClient(RegistryService, server.grpcAddress);
  operations = new GrpcClient(OperationService, server.grpcAddress);
}, 180_000);

afterAll(async () => {
  for (const c of [images, registries, operations]) c?.close();
  if (server) expect(await server.stop()).toBe(0);
  await Promise.all([ionos?.stop(), yandex?.stop(), main?.stop(), readOnly?.stop()]);
  if (work) await fs.rm(work, { recursive: true, force: true });
});

describe("registries of provider accounts", () => {
  it("lists the configured entries and the registries each account holds, under the provider ids", async () => {
    const res = await registries.call("list", { folderId: "mixed" });
    const byName = new Map((res.registries as Registry[]).map((r) => [r.name, r]));
    expect([...byName.keys()].sort()).toEqual(["fra-frozen", "fra-main", "ionos", "local", "yc", "yc-edge", "yc-main"]);
    expect(byName.get("fra-main")).toMatchObject({ provider: "ionos", folderId: "mixed", hostname: main.host, location: "de/fra", status: Registry_Status.ACTIVE });
    expect(byName.get("yc-main")).toMatchObject({ id: ycMain.id, provider: "yandex", labels: { team: "platform" }, hostname: "cr.yandex" });
    expect(res.unreachable).toEqual([]);
    const got = (await registries.call("get", { registryId: byName.get("fra-main")!.id })) as Registry;
    expect(got.name).toBe("fra-main");
    expect((await grpcFailure(registries.call("get", { registryId: "crpnosuchregistry000" }))).code).toBe(grpc.status.NOT_FOUND);
  });

  it("creates, updates and deletes an IONOS registry through operations", async () => {
    const schedule = { days: ["Monday", "Thursday"], time: "02:30:00+00:00" };
    const submitted = (await registries.call("create", { folderId: "mixed", providerAccount: "ionos", name: "made-by-regplane", location: "de/txl", garbageCollectionSchedule: schedule })) as Operation;
    expect(anyUnpack(submitted.metadata!, CreateRegistryMetadataSchema)).toBeDefined();
    const created = registryOf(await waitDone(submitted));
    expect(created).toMatchObject({ name: "made-by-regplane", provider: "ionos", location: "de/txl", status: Registry_Status.ACTIVE, hostname: "made-by-regplane.cr.ionos.test", folderId: "mixed" });
    expect(created.garbageCollectionSchedule).toMatchObject(schedule);
    expect(ionos.registries.get(created.id)?.name).toBe("made-by-regplane");

    const updating = (await registries.call("update", {
      registryId: created.id,
      updateMask: { paths: ["garbage_collection_schedule", "api_subnet_allow_list"] },
      garbageCollectionSchedule: { days: ["Sunday"], time: "04:00:00+00:00" },
      apiSubnetAllowList: ["198.51.100.0/24", "2001:db8::/32"],
    })) as Operation;
    expect(anyUnpack(updating.metadata!, UpdateRegistryMetadataSchema)?.registryId).toBe(created.id);
    const updated = registryOf(await waitDone(updating));
    expect(updated.garbageCollectionSchedule).toMatchObject({ days: ["Sunday"], time: "04:00:00+00:00" });
    expect(updated.apiSubnetAllowList).toEqual(["198.51.100.0/24", "2001:db8::/32"]);
    expect(ionos.registries.get(created.id)?.apiSubnetAllowList).toEqual(["198.51.100.0/24", "2001:db8::/32"]);

    // IONOS registries cannot be renamed: the operation fails with the reason.
    const renamed = await waitDone((await registries.call("update", { registryId: created.id, name: "other-name" })) as Operation);
    expect(renamed.result.case).toBe("error");
    if (renamed.result.case === "error") expect(renamed.result.value.code).toBe(grpc.status.INVALID_ARGUMENT);

    const deleting = (await registries.call("delete", { registryId: created.id })) as Operation;
    expect(anyUnpack(deleting.metadata!, DeleteRegistryMetadataSchema)?.registryId).toBe(created.id);
    const deleted = await waitDone(deleting);
    expect(deleted.result.case).toBe("response");
    if (deleted.result.case === "response") expect(anyUnpack(deleted.result.value, EmptySchema)).toBeDefined();
    expect(ionos.registries.has(created.id)).toBe(false);
    expect((await grpcFailure(registries.call("get", { registryId: created.id }))).code).toBe(grpc.status.NOT_FOUND);
  });

  it("creates, updates and deletes a Yandex registry, each a Yandex Operation polled to its end", async () => {
    const created = registryOf(await waitDone((await registries.call("create", { folderId: "mixed", providerAccount: "yc", name: "yc-made", labels: { env: "test" } })) as Operation));
    expect(created).toMatchObject({ name: "yc-made", provider: "yandex", status: Registry_Status.ACTIVE, labels: { env: "test" } });
    expect(yandex.registries.get(created.id)?.folderId).toBe(FOLDER);

    const updated = registryOf(await waitDone((await registries.call("update", { registryId: created.id, updateMask: { paths: ["labels"] }, labels: { env: "prod", tier: "1" } })) as Operation));
    expect(updated.labels).toEqual({ env: "prod", tier: "1" });
    expect(yandex.registries.get(created.id)?.labels).toEqual({ env: "prod", tier: "1" });

    const deleted = await waitDone((await registries.call("delete", { registryId: created.id })) as Operation);
    expect(deleted.result.case).toBe("response");
    expect(yandex.registries.has(created.id)).toBe(false);
  });

  it("a Yandex operation that fails ends our operation with its error", async () => {
    yandex.failOperationOn(ycEdge.id, { code: 9, message: "Registry has images; delete them first" });
    const op = await waitDone((await registries.call("delete", { registryId: ycEdge.id })) as Operation);
    expect(op.result.case).toBe("error");
    if (op.result.case === "error") {
      expect(op.result.value.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(op.result.value.message).toContain("Registry has images; delete them first");
    }
    expect(yandex.registries.has(ycEdge.id)).toBe(true);
    yandex.registries.get(ycEdge.id)!.status = "ACTIVE";
  });

  it("configured entries are configuration; providers without registry methods say which capability is missing", async () => {
    const entry = await grpcFailure(registries.call("delete", { registryId: "ionos" }));
    expect(entry.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(errorInfo(entry.status)?.reason).toBe("PROVIDER_ACCOUNT_IS_CONFIGURATION");
    const local = await grpcFailure(registries.call("create", { folderId: "mixed", providerAccount: "local", name: "nope" }));
    expect(local.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(errorInfo(local.status)?.metadata.capability).toBe("create_registries");
    const ambiguous = await grpcFailure(registries.call("create", { folderId: "mixed", name: "which-one" }));
    expect(ambiguous.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe("images of provider accounts", () => {
  it("lists IONOS artifacts of every registry of the contract, one image per digest with its tags", async () => {
    const listed = await listAll({ registryId: "ionos", pageSize: 2n });
    const v1 = await inspectRaw(main.host, "team/app:v1", `${ROBOT.username}:${ROBOT.password}`);
    const v2 = await inspectRaw(main.host, "team/app:v2", `${ROBOT.username}:${ROBOT.password}`);
    const b = await inspectRaw(main.host, "tools/base:1", `${ROBOT.username}:${ROBOT.password}`);
    const frozen = await inspectRaw(readOnly.host, "frozen/app:v1");
    expect(listed.map((i) => `${i.name}@${i.digest} ${i.tags.join(",")}`).sort()).toEqual(
      [
        `ionos/fra-frozen/frozen/app@${frozen.digest} v1`,
        `ionos/fra-main/team/app@${v1.digest} latest,v1`,
        `ionos/fra-main/team/app@${v2.digest} v2`,
        `ionos/fra-main/tools/base@${b.digest} 1`,
      ].sort(),
    );
    const one = listed.find((i) => i.digest === v2.digest)!;
    const got = (await images.call("get", { imageId: one.id })) as Image;
    expect([got.name, got.digest, got.tags, got.mediaType]).toEqual([one.name, v2.digest, ["v2"], v2.manifest.mediaType ?? "application/vnd.oci.image.manifest.v1+json"]);
  });

  it("deletes an IONOS artifact through the registry's OCI API with the registry token; a registry refusing deletes → FAILED_PRECONDITION", async () => {
    const creds = `${ROBOT.username}:${ROBOT.password}`;
    const v2 = await inspectRaw(main.host, "team/app:v2", creds);
    const target = (await listAll({ repositoryName: "ionos/fra-main/team/app" })).find((i) => i.digest === v2.digest)!;
    const op = await waitDone((await images.call("delete", { imageId: target.id })) as Operation);
    expect(op.result.case).toBe("response");
    await expect(inspectRaw(main.host, `team/app@${v2.digest}`, creds)).rejects.toThrow();
    expect((await listAll({ repositoryName: "ionos/fra-main/team/app" })).map((i) => i.digest)).not.toContain(v2.digest);

    const frozen = (await listAll({ repositoryName: "ionos/fra-frozen/frozen/app" }))[0];
    const refused = await waitDone((await images.call("delete", { imageId: frozen.id })) as Operation);
    expect(refused.result.case).toBe("error");
    if (refused.result.case === "error") {
      expect(refused.result.value.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(refused.result.value.message).toContain("deletes are disabled");
    }
    await inspectRaw(readOnly.host, `frozen/app@${frozen.digest}`);
  });

  it("lists, gets and deletes Yandex images; a delete whose Yandex operation fails carries its error", async () => {
    const listed = await listAll({ registryId: "yc", pageSize: 2n });
    expect(listed.map((i) => i.name).sort()).toEqual([`yc/${ycEdge.id}/proxy`, `yc/${ycEdge.id}/proxy`, `yc/${ycMain.id}/web/api`, `yc/${ycMain.id}/web/api`, `yc/${ycMain.id}/worker`].sort());
    const api1 = listed.find((i) => i.digest === digest(1))!;
    expect(api1.tags).toEqual(["1.0", "latest"]);
    expect(Number(api1.compressedSize)).toBe(300 + 1001 + 1002);
    expect(api1.layers.map((l) => l.digest)).toEqual([digest(1001), digest(1002)]);
    const got = (await images.call("get", { imageId: api1.id })) as Image;
    expect([got.digest, got.config?.digest]).toEqual([digest(1), digest(501)]);

    const gone = await waitDone((await images.call("delete", { imageId: api1.id })) as Operation);
    expect(gone.result.case).toBe("response");
    expect([...yandex.images.values()].map((i) => i.digest)).not.toContain(digest(1));
    expect((await grpcFailure(images.call("get", { imageId: api1.id }))).code).toBe(grpc.status.NOT_FOUND);

    const pinned = listed.find((i) => i.digest === digest(5))!;
    const yandexId = [...yandex.images.values()].find((i) => i.digest === digest(5))!.id;
    yandex.failOperationOn(yandexId, { code: 9, message: "Image is used by a running scan" });
    const failed = await waitDone((await images.call("delete", { imageId: pinned.id })) as Operation);
    expect(failed.result.case).toBe("error");
    if (failed.result.case === "error") {
      expect(failed.result.value.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(failed.result.value.message).toContain("Image is used by a running scan");
    }
    expect(yandex.images.has(yandexId)).toBe(true);
  });

  it("an entry pinned to one registry (registryId) lists that registry's images, paths without the registry prefix", async () => {
    const frozen = await listAll({ registryId: "ionos-frozen", pageSize: 1n });
    expect(frozen.map((i) => `${i.name} ${i.tags}`)).toEqual(["ionos-frozen/frozen/app v1"]);
    const main = await listAll({ registryId: "yc-main", pageSize: 1n, orderBy: "name" });
    const held = [...yandex.images.values()].filter((i) => i.registryId === YC_MAIN_ID).map((i) => `yc-main/${i.name.slice(YC_MAIN_ID.length + 1)}`);
    expect(main.map((i) => i.name)).toEqual(held.sort());
    const one = await listAll({ repositoryName: "yc-main/worker" });
    expect(one.map((i) => i.tags)).toEqual([["stable"]]);
    const ns = await new GrpcClient(NamespaceService, server.grpcAddress).call("list", { folderId: "pinned" });
    expect(ns.namespaces.map((n: { id: string }) => n.id)).toEqual(["ionos-frozen/frozen", "yc-main/web", "yc-main/worker"]);
  });

  it("an IONOS token the API rejects is our configuration's fault: FAILED_PRECONDITION with the IONOS error code", async () => {
    const fraMain = [...ionos.registries.values()].find((r) => r.name === "fra-main")!;
    ionos.expireToken(IONOS_TOKEN);
    try {
      const err = await grpcFailure(registries.call("get", { registryId: fraMain.id }));
      expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(errorInfo(err.status)?.metadata).toMatchObject({ registry_id: "ionos", provider: "ionos", http_status: "401", provider_code: "paas-auth-1" });
      expect(err.message).not.toContain(IONOS_TOKEN);
      // A listing whose only registry rejects our token gets that registry's own permanent error.
      const listing = await grpcFailure(images.call("list", { registryId: "ionos" }));
      expect(listing.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(errorInfo(listing.status)?.metadata.registry_id).toBe("ionos");
    } finally {
      ionos.addToken(IONOS_TOKEN);
    }
  });
});

describe("Yandex IAM tokens", () => {
  it("are replaced before they expire, and once more when the API calls one expired early", async () => {
    const before = yandex.requests.length;
    const exchanges = yandex.iamExchanges.filter((e) => e.ok).length;
    await images.call("list", { registryId: "yc" });
    await new Promise((r) => setTimeout(r, IAM_LIFETIME_MS + 500));
    await images.call("list", { registryId: "yc" });
    await registries.call("get", { registryId: ycMain.id });
    expect(yandex.iamExchanges.filter((e) => e.ok).length).toBeGreaterThan(exchanges);
    expect(yandex.requests.slice(before).map((r) => r.token)).not.toContain("expired");

    yandex.expireAllTokens();
    const from = yandex.requests.length;
    expect(((await images.call("list", { registryId: "yc" })).images as Image[]).length).toBeGreaterThan(0);
    expect(yandex.requests.slice(from).map((r) => r.token)).toEqual(["expired", "valid"]);
  });
});

describe("one folder across IONOS, Yandex and the embedded registry", () => {
  it("walks every image exactly once with one page token at a small page size, natively and ordered", async () => {
    const expected = [
      ...(await listAll({ registryId: "local", pageSize: 1000n })),
      ...(await listAll({ registryId: "ionos", pageSize: 1000n })),
      ...(await listAll({ registryId: "yc", pageSize: 1000n })),
    ].map((i) => i.id);
    expect(new Set(expected).size).toBe(expected.length);
    const perRegistry = await Promise.all(["local", "ionos", "yc"].map(async (registryId) => (await listAll({ registryId, pageSize: 1000n })).map((i) => i.id)));
    expect(perRegistry.map((ids) => ids.length >= 3)).toEqual([true, true, true]);
    expect(expected).toEqual(perRegistry.flat());

    // A rate limit in the middle of the walk is waited out (Retry-After), not reported.
    ionos.failNext({ pathPrefix: "/registries", status: 429, errorCode: "paas-rate-1", message: "Too Many Requests", retryAfter: "1", times: 1 });
    for (const orderBy of ["", "name desc", "created_at, digest desc"]) {
      const walked = await listAll({ folderId: "mixed", pageSize: 2n, orderBy });
      expect(ionos.pendingFailures()).toBe(0);
      const ids = walked.map((i) => i.id);
      expect(new Set(ids).size, orderBy).toBe(ids.length);
      expect([...ids].sort(), orderBy).toEqual([...expected].sort());
      if (orderBy === "name desc") {
        const names = walked.map((i) => i.name);
        expect(names).toEqual([...names].sort().reverse());
      }
    }
  });
});
