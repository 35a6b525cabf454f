// A provider's permanent failure keeps its meaning at the API edge: rejected credentials, a rejected
// argument or cursor, something not there are never UNAVAILABLE and never carry RetryInfo — for a
// one-registry scope and for a folder whose every registry failed so — and ImageService.List and
// NamespaceService.List give the same answer. Every provider (OCI on a real registry, IBM, IONOS,
// Scaleway, Yandex on their fakes) behind a proxy that answers in the provider's own error shape.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { NamespaceService } from "../src/gen/regplane/v1/namespace_service_pb.js";
import { startEchoProxy, type EchoProxy, type ErrorShape } from "./fakes/echo-proxy.js";
import { IbmFake } from "./fakes/ibm.js";
import { IonosFake } from "./fakes/ionos.js";
import { ScalewayFake } from "./fakes/scaleway.js";
import { YandexFake } from "./fakes/yandex.js";
import { callAt, PORTS, type Outcome } from "./support/edge-call.js";
import { buildBaseLayout, makeTempDir } from "./support/images.js";
import { pushImage, startRegistry, type RunningRegistry } from "./support/registry.js";
import { startServer, type ServerProcess } from "./support/server.js";

const Code = { OK: 0, INVALID_ARGUMENT: 3, NOT_FOUND: 5, FAILED_PRECONDITION: 9, UNAVAILABLE: 14 } as const;
const OCI_PASSWORD = randomBytes(20).toString("hex");
const IBM_KEY = randomBytes(20).toString("hex");
const IONOS_TOKEN = randomBytes(20).toString("hex");
const SCW_KEY = randomUUID();
const YC_TOKEN = randomBytes(20).toString("hex");
const FOLDER = "b1gpermanent00000001";
const digest = (n: number) => `sha256:${createHash("sha256").update(String(n)).digest("hex")}`;

interface Provider {
  id: string;
  shape: ErrorShape;
  /** Status that says "your credentials are wrong" without a token refresh hiding it. */
  credentials: number;
  /** Requests of the listing, not of a token exchange. */
  match?: RegExp;
  /** Whether the second page of a one-page-size listing asks the provider again with a cursor. */
  nativeCursor: boolean;
}

const PROVIDERS: Provider[] = [
  { id: "oci", shape: "oci", credentials: 401, nativeCursor: true },
  { id: "ibm", shape: "ibm", credentials: 403, match: /^\/api\//, nativeCursor: false },
  { id: "ionos", shape: "ionos", credentials: 401, nativeCursor: true },
  // Scaleway's listing of one repository's tags is read whole and kept: the next page asks nothing.
  { id: "scw", shape: "scaleway", credentials: 401, nativeCursor: false },
  { id: "yc", shape: "yandex", credentials: 401, match: /^(?!\/iam\/)/, nativeCursor: true },
];

let registry: RunningRegistry;
let ibm: IbmFake;
let ionos: IonosFake;
let scw: ScalewayFake;
let yandex: YandexFake;
const proxies: Record<string, EchoProxy> = {};
let server: ServerProcess;

function arm(p: Provider, status: number): void {
  proxies[p.id].arm({ status, shape: p.shape, match: p.match, times: 1000, padChars: 0 });
}

function expectPermanent(out: Outcome, code: number, what: string): void {
  expect(out.code, `${what}: ${out.message}`).toBe(code);
  expect(out.code).not.toBe(Code.UNAVAILABLE);
  expect(out.retryDelayMs, `${what} carries RetryInfo`).toBeUndefined();
}

beforeAll(async () => {
  registry = await startRegistry({ auth: { kind: "htpasswd", users: { ci: OCI_PASSWORD } } });
  const base = await buildBaseLayout(path.join(await makeTempDir("regplane-permanent-"), "layout"));
  for (const repo of ["a/one", "b/two", "c/three"]) await pushImage(base.dir, "v1", registry.host, repo, "v1", { credentials: `ci:${OCI_PASSWORD}` });
  ibm = await IbmFake.start({ apiKey: IBM_KEY });
  ibm.addNamespace("team");
  ibm.pushImage("team/app", ["1"]);
  ibm.pushImage("team/app", ["2"]);
  ionos = await new IonosFake({ tokens: [IONOS_TOKEN] }).start();
  const fra = ionos.addRegistry({ name: "fra" });
  for (let i = 1; i <= 3; i++) ionos.addArtifact(fra.id, `team/app${i}`, { digest: digest(i), tags: ["v1"] });
  scw = await ScalewayFake.start({ secretKey: SCW_KEY });
  scw.addNamespace("shop");
  for (const tag of ["v1", "v2", "v3"]) scw.pushTag("shop/api", tag);
  yandex = await new YandexFake({ staticTokens: [YC_TOKEN] }).start();
  const yc = yandex.addRegistry({ folderId: FOLDER, name: "perm" });
  for (let i = 1; i <= 3; i++) yandex.addImage(yc.id, `app${i}`, { digest: digest(100 + i), tags: ["v1"] });
  proxies.oci = await startEchoProxy(registry.url);
  proxies.ibm = await startEchoProxy(ibm.url);
  proxies.ionos = await startEchoProxy(ionos.url);
  proxies.scw = await startEchoProxy(scw.url);
  proxies.yc = await startEchoProxy(yandex.url);
  const config = `
registries:
  - id: oci
    provider: oci
    endpoint: ${proxies.oci.url}
    insecure: true
    username: ci
    password: \${OCI_PASSWORD}
    catalogPageSize: 1
    breakerThreshold: 1000
  - id: ibm
    provider: ibm
    insecure: true
    registryUrl: ${proxies.ibm.url}
    iamUrl: ${proxies.ibm.url}
    account: ${ibm.account}
    apiKey: \${IBM_API_KEY}
    breakerThreshold: 1000
  - id: ionos
    provider: ionos
    insecure: true
    endpoint: ${proxies.ionos.url}
    token: \${IONOS_TOKEN}
    pageSize: 1
  - id: scw
    provider: scaleway
    insecure: true
    region: fr-par
    apiUrl: ${proxies.scw.url}
    projectId: ${scw.projectId}
    secretKey: \${SCW_SECRET_KEY}
    breakerThreshold: 1000
  - id: yc
    provider: yandex
    insecure: true
    folderId: ${FOLDER}
    iamToken: \${YC_TOKEN}
    endpoint: ${proxies.yc.url}
    operationEndpoint: ${proxies.yc.url}
folders:
  - id: every
    registries: [oci, ibm, ionos, scw, yc]
  - id: pair
    registries: [oci, scw]
`;
  server = await startServer({ config, env: { OCI_PASSWORD, IBM_API_KEY: IBM_KEY, IONOS_TOKEN, SCW_SECRET_KEY: SCW_KEY, YC_TOKEN } });
}, 120_000);

afterEach(() => {
  for (const p of Object.values(proxies)) p.clear();
});

afterAll(async () => {
  if (server) expect(await server.stop()).toBe(0);
  await Promise.all(Object.values(proxies).map((p) => p.close()));
  await Promise.all([registry?.stop(), ibm?.close(), ionos?.stop(), scw?.close(), yandex?.stop()]);
});

describe("one registry in scope", () => {
  for (const p of PROVIDERS) {
    const failures: Array<[string, number, number]> = [
      ["rejected credentials", p.credentials, Code.FAILED_PRECONDITION],
      ["a rejected argument", 400, Code.INVALID_ARGUMENT],
    ];
    for (const [what, status, code] of failures) {
      it.each(PORTS)(`${p.id}: ${what} (HTTP ${status}) is the same permanent code on ImageService.List and NamespaceService.List (%s port)`, async (port) => {
        arm(p, status);
        const images = await callAt(server, port, ImageService, "list", { registryId: p.id });
        const namespaces = await callAt(server, port, NamespaceService, "list", { registryId: p.id });
        expectPermanent(images, code, "ImageService.List");
        expectPermanent(namespaces, code, "NamespaceService.List");
        expect(images.reason).toBe(namespaces.reason);
        expect(images.metadata.registry_id).toBe(p.id);
      });
    }

    it.each(PORTS)(`${p.id}: something not there (HTTP 404) is never UNAVAILABLE (%s port)`, async (port) => {
      arm(p, 404);
      const images = await callAt(server, port, ImageService, "list", { registryId: p.id });
      const namespaces = await callAt(server, port, NamespaceService, "list", { registryId: p.id });
      // A provider may read a missing listing as an empty one; otherwise it is NOT_FOUND.
      for (const out of [images, namespaces]) {
        expect([Code.OK, Code.NOT_FOUND], out.message).toContain(out.code);
        expect(out.retryDelayMs).toBeUndefined();
      }
      expect(images.code).toBe(namespaces.code);
    });

    if (p.nativeCursor) {
      it.each(PORTS)(`${p.id}: a cursor the provider rejects on the next page is INVALID_ARGUMENT without RetryInfo (%s port)`, async (port) => {
        const first = await callAt(server, port, ImageService, "list", { registryId: p.id, pageSize: 1n });
        expect(first.code, first.message).toBe(Code.OK);
        expect(first.res.nextPageToken).not.toBe("");
        arm(p, 400);
        const next = await callAt(server, port, ImageService, "list", { registryId: p.id, pageSize: 1n, pageToken: first.res.nextPageToken });
        expect(proxies[p.id].pending()).toBeLessThan(1000);
        expectPermanent(next, Code.INVALID_ARGUMENT, "the next page");
      });
    }
  }
});

describe("a rate limit", () => {
  it.each(PORTS)("one registry asking us to come back in 120 s: RESOURCE_EXHAUSTED with that delay on both Lists (%s port)", async (port) => {
    proxies.oci.arm({ status: 429, shape: "oci", times: 1000, headers: { "retry-after": "120" } });
    for (const service of [ImageService, NamespaceService]) {
      const out = await callAt(server, port, service, "list", { registryId: "oci" });
      expect(out.code, `${service.typeName}: ${out.message}`).toBe(8);
      expect(out.retryDelayMs).toBe(120_000);
    }
  });
});

describe("several registries in scope", () => {
  it.each(PORTS)("every registry rejecting our credentials: FAILED_PRECONDITION naming each reason, no RetryInfo, on both Lists (%s port)", async (port) => {
    for (const p of PROVIDERS) arm(p, p.credentials);
    const images = await callAt(server, port, ImageService, "list", { folderId: "every" });
    const namespaces = await callAt(server, port, NamespaceService, "list", { folderId: "every" });
    for (const out of [images, namespaces]) {
      expectPermanent(out, Code.FAILED_PRECONDITION, "every registry failed");
      expect(out.reason).toBe("ALL_REGISTRIES_FAILED");
      expect(out.metadata.registry_ids).toBe("oci,ibm,ionos,scw,yc");
      expect(out.metadata.reasons).toBe(PROVIDERS.map((p) => `${p.id}=PROVIDER_CREDENTIALS_REJECTED`).join(","));
    }
  });

  it.each(PORTS)("different permanent failures: FAILED_PRECONDITION, no RetryInfo (%s port)", async (port) => {
    arm(PROVIDERS[0], 401);
    arm(PROVIDERS[3], 400);
    for (const service of [ImageService, NamespaceService]) {
      const out = await callAt(server, port, service, "list", { folderId: "pair" });
      expectPermanent(out, Code.FAILED_PRECONDITION, service.typeName);
      expect(out.metadata.reasons).toBe("oci=PROVIDER_CREDENTIALS_REJECTED,scw=PROVIDER_REJECTED_REQUEST");
    }
  });

  it.each(PORTS)("one of them merely down: UNAVAILABLE with RetryInfo, since a retry may help (%s port)", async (port) => {
    arm(PROVIDERS[0], 401);
    arm(PROVIDERS[3], 500);
    for (const service of [ImageService, NamespaceService]) {
      const out = await callAt(server, port, service, "list", { folderId: "pair" });
      expect(out.code, out.message).toBe(Code.UNAVAILABLE);
      expect(out.reason).toBe("ALL_REGISTRIES_UNAVAILABLE");
      expect(out.retryDelayMs).toBeGreaterThan(0);
    }
  });

  it.each(PORTS)("a permanent failure beside a registry that answers is named in unreachable (%s port)", async (port) => {
    arm(PROVIDERS[0], 401);
    for (const service of [ImageService, NamespaceService]) {
      const out = await callAt(server, port, service, "list", { folderId: "pair" });
      expect(out.code, out.message).toBe(Code.OK);
      expect(out.res.unreachable).toEqual(["oci"]);
    }
  });
});
