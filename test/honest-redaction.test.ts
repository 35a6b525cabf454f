// No credential reaches a caller or a log, whatever a provider echoes: every provider (OCI with Basic and
// with Bearer tokens, IBM and its IAM, IONOS with a token and with Basic, Scaleway, Yandex and its IAM)
// sits behind a proxy that answers 4xx and 5xx with the password, the Basic value, the bearer token or
// the API key the request carried in the error body and headers — once whole, once straddling the point
// where messages are cut — through both ports of a started server. And a start-up error never echoes a
// URL's user-info.
import { randomBytes, randomUUID } from "node:crypto";
import type { DescService } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { NamespaceService } from "../src/gen/regplane/v1/namespace_service_pb.js";
import { OperationService } from "../src/gen/regplane/v1/operation_service_pb.js";
import { RegistryService } from "../src/gen/regplane/v1/registry_service_pb.js";
import { ECHO_MARK, FILLER, startEchoProxy, type EchoProxy, type EchoRule, type ErrorShape } from "./fakes/echo-proxy.js";
import { IbmFake } from "./fakes/ibm.js";
import { IonosFake } from "./fakes/ionos.js";
import { ScalewayFake } from "./fakes/scaleway.js";
import { YandexFake } from "./fakes/yandex.js";
import { callAt, PORTS, secretFragments, type Port } from "./support/edge-call.js";
import { buildBaseLayout, makeTempDir } from "./support/images.js";
import { pushImage, startRegistry, type RunningRegistry } from "./support/registry.js";
import { startServer, type ServerProcess } from "./support/server.js";
import { startTokenServer, type TokenServer } from "./support/token-server.js";

// Random only: a readable label would match registry ids and field names in the fragment search.
const secret = (_label: string) => randomBytes(20).toString("hex");
const OCI_PASSWORD = secret("oci-password");
const OCI_TOKEN_PASSWORD = secret("oci-token-password");
const IBM_KEY = secret("ibm-apikey");
const IONOS_TOKEN = secret("ionos-token");
const IONOS_PASSWORD = secret("ionos-password");
const SCW_KEY = randomUUID();
const YC_OAUTH = secret("y0_oauth");
const CONFIGURED = [OCI_PASSWORD, OCI_TOKEN_PASSWORD, IBM_KEY, IONOS_TOKEN, IONOS_PASSWORD, SCW_KEY, YC_OAUTH];

let basicRegistry: RunningRegistry;
let tokenRegistry: RunningRegistry;
let tokens: TokenServer;
let ibm: IbmFake;
let ionos: IonosFake;
let scw: ScalewayFake;
let scwOps: ScalewayFake;
let yandex: YandexFake;
const proxies: Record<string, EchoProxy> = {};
let server: ServerProcess;

interface Case {
  name: string;
  proxy: string;
  shape: ErrorShape;
  statuses: number[];
  match?: RegExp;
  service: DescService;
  method: string;
  req: object;
  /** The configured secret this request carries (tokens it carries are learnt from the proxy). */
  carries?: string;
}

const imagesOf = (registryId: string) => ({ service: ImageService, method: "list", req: { registryId } });

// Token exchanges first: once a token is cached, no request goes to IAM.
const CASES: Case[] = [
  { name: "IBM IAM (API key in the form)", proxy: "ibm", shape: "iam", statuses: [400, 500], match: /^\/identity\/token/, ...imagesOf("ibm"), carries: IBM_KEY },
  { name: "Yandex IAM (OAuth token in the body)", proxy: "yc", shape: "yandex", statuses: [401, 500], match: /^\/iam\//, ...imagesOf("yc"), carries: YC_OAUTH },
  { name: "OCI with Basic", proxy: "oci-basic", shape: "oci", statuses: [401, 500], ...imagesOf("oci-basic"), carries: OCI_PASSWORD },
  { name: "OCI with a Bearer token", proxy: "oci-token", shape: "oci", statuses: [403, 500], ...imagesOf("oci-token") },
  { name: "IBM API (IAM token)", proxy: "ibm", shape: "ibm", statuses: [403, 500], match: /^\/api\//, ...imagesOf("ibm") },
  { name: "IONOS with a token", proxy: "ionos", shape: "ionos", statuses: [401, 500], ...imagesOf("ionos"), carries: IONOS_TOKEN },
  { name: "IONOS with Basic", proxy: "ionos", shape: "ionos", statuses: [401, 500], service: RegistryService, method: "list", req: { folderId: "ionos-basic" }, carries: IONOS_PASSWORD },
  // NamespaceService.List: one request (an image listing reads namespaces and images side by side).
  { name: "Scaleway (X-Auth-Token)", proxy: "scw", shape: "scaleway", statuses: [401, 400, 500], service: NamespaceService, method: "list", req: { registryId: "scw" }, carries: SCW_KEY },
  { name: "Yandex API (IAM token)", proxy: "yc", shape: "yandex", statuses: [403, 500], match: /^(?!\/iam\/)/, ...imagesOf("yc") },
];

function allSecrets(): string[] {
  const out = new Set(CONFIGURED);
  for (const p of Object.values(proxies)) for (const s of p.echoed) out.add(s);
  return [...out];
}

/** One call answered by the armed proxy; fails the test if the proxy did not answer it. */
async function echoed(c: Case, port: Port, rule: Omit<EchoRule, "shape" | "match">) {
  const proxy = proxies[c.proxy];
  await proxy.idle();
  proxy.arm({ ...rule, shape: c.shape, match: c.match });
  const from = proxy.seen.length;
  const out = await callAt(server, port, c.service, c.method, c.req);
  expect(proxy.pending(), `${c.name}: the armed answer was not asked for (${out.code} ${out.message})`).toBe(0);
  expect(out.code, `${c.name}: ${proxy.seen.slice(from).join(", ")}`).not.toBe(0);
  return out;
}

beforeAll(async () => {
  basicRegistry = await startRegistry({ auth: { kind: "htpasswd", users: { ci: OCI_PASSWORD } } });
  const base = await buildBaseLayout(`${await makeTempDir("regplane-echo-")}/layout`);
  await pushImage(base.dir, "v1", basicRegistry.host, "team/app", "v1", { credentials: `ci:${OCI_PASSWORD}` });
  tokens = await startTokenServer({ users: { tok: OCI_TOKEN_PASSWORD }, service: "regplane-echo", issuer: "regplane-echo-issuer" });
  tokenRegistry = await startRegistry({ auth: { kind: "token", realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.certPath } });
  ibm = await IbmFake.start({ apiKey: IBM_KEY });
  ibm.addNamespace("team");
  ionos = await new IonosFake({ tokens: [IONOS_TOKEN], users: { "ionos-user": IONOS_PASSWORD } }).start();
  ionos.addRegistry({ name: "fra" });
  scw = await ScalewayFake.start({ secretKey: SCW_KEY });
  scw.addNamespace("shop");
  // Its own fake for the delete: requests of a listing still in flight elsewhere never meet its rules.
  scwOps = await ScalewayFake.start({ secretKey: SCW_KEY });
  scwOps.pushTag("shop/api", "v1");
  yandex = await new YandexFake({ oauthTokens: [YC_OAUTH] }).start();
  yandex.addRegistry({ folderId: "b1gechofolder0000001", name: "echo" });
  proxies["oci-basic"] = await startEchoProxy(basicRegistry.url);
  proxies["oci-token"] = await startEchoProxy(tokenRegistry.url);
  proxies.ibm = await startEchoProxy(ibm.url);
  proxies.ionos = await startEchoProxy(ionos.url);
  proxies.scw = await startEchoProxy(scw.url);
  proxies["scw-ops"] = await startEchoProxy(scwOps.url);
  proxies.yc = await startEchoProxy(yandex.url);
  const config = `
registries:
  - id: oci-basic
    provider: oci
    endpoint: ${proxies["oci-basic"].url}
    insecure: true
    username: ci
    password: \${OCI_PASSWORD}
    breakerThreshold: 1000
  - id: oci-token
    provider: oci
    endpoint: ${proxies["oci-token"].url}
    insecure: true
    username: tok
    password: \${OCI_TOKEN_PASSWORD}
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
  - id: ionos-user
    provider: ionos
    insecure: true
    endpoint: ${proxies.ionos.url}
    username: ionos-user
    password: \${IONOS_PASSWORD}
  - id: scw
    provider: scaleway
    insecure: true
    region: fr-par
    apiUrl: ${proxies.scw.url}
    projectId: ${scw.projectId}
    secretKey: \${SCW_SECRET_KEY}
    breakerThreshold: 1000
  - id: scw-ops
    provider: scaleway
    insecure: true
    region: fr-par
    apiUrl: ${proxies["scw-ops"].url}
    projectId: ${scwOps.projectId}
    secretKey: \${SCW_SECRET_KEY}
  - id: yc
    provider: yandex
    insecure: true
    folderId: b1gechofolder0000001
    oauthToken: \${YC_OAUTH}
    endpoint: ${proxies.yc.url}
    operationEndpoint: ${proxies.yc.url}
    iamEndpoint: ${proxies.yc.url}/iam/v1/tokens
folders:
  - id: ionos-basic
    registries: [ionos-user]
`;
  server = await startServer({
    config,
    // Debug lines carry the most provider detail (retries, failed requests).
    args: ["--log-level", "debug"],
    env: { OCI_PASSWORD, OCI_TOKEN_PASSWORD, IBM_API_KEY: IBM_KEY, IONOS_TOKEN, IONOS_PASSWORD, SCW_SECRET_KEY: SCW_KEY, YC_OAUTH },
  });
}, 120_000);

afterAll(async () => {
  if (server) expect(await server.stop()).toBe(0);
  await Promise.all(Object.values(proxies).map((p) => p.close()));
  await Promise.all([basicRegistry?.stop(), tokenRegistry?.stop(), tokens?.stop(), ibm?.close(), ionos?.stop(), scw?.close(), scwOps?.close(), yandex?.stop()]);
});

describe("a provider that echoes our credentials", () => {
  for (const c of CASES) {
    for (const status of c.statuses) {
      it.each(PORTS)(`${c.name}, HTTP ${status}: redacted whole and across the cut (%s port)`, async (port) => {
        const whole = await echoed(c, port, { status });
        if (c.carries !== undefined) expect(proxies[c.proxy].echoed).toContain(c.carries);
        expect(whole.visible).toContain(ECHO_MARK);
        expect(whole.visible).toContain("<redacted>");
        expect(secretFragments(whole.visible, allSecrets())).toEqual([]);

        // Where the message is cut: the filler that survives after the mark.
        const calibration = await echoed(c, port, { status, calibrate: true });
        const start = calibration.message.indexOf(ECHO_MARK) + ECHO_MARK.length;
        let kept = 0;
        while (calibration.message[start + kept] === FILLER) kept++;
        expect(kept).toBeGreaterThan(8);
        expect(kept).toBeLessThan(2000);

        // The first credential begins 8 characters before the cut.
        const straddling = await echoed(c, port, { status, padChars: kept - 8 });
        expect(straddling.message).toContain(FILLER.repeat(kept - 8));
        expect(secretFragments(straddling.visible, allSecrets())).toEqual([]);
      });
    }
  }

  // A delete's failure is kept in the operation and shown to whoever reads it.
  for (const [registryId, proxy, shape] of [["oci-basic", "oci-basic", "oci"], ["scw-ops", "scw-ops", "scaleway"]] as const) {
    it.each(PORTS)(`${registryId}: a delete the provider refuses, echoing our credentials, ends in an error without them (%s port)`, async (port) => {
      const listed = await callAt(server, port, ImageService, "list", { registryId });
      expect(listed.code, listed.message).toBe(0);
      proxies[proxy].arm({ method: "DELETE", status: 403, shape, times: 10 });
      const submitted = await callAt(server, port, ImageService, "delete", { imageId: listed.res.images[0].id });
      expect(submitted.code, submitted.message).toBe(0);
      let op = submitted.res;
      while (!op.done) op = (await callAt(server, port, OperationService, "wait", { operationId: op.id, timeout: { seconds: 20n } })).res;
      expect(proxies[proxy].pending(), "the DELETE was not answered by the proxy").toBeLessThan(10);
      proxies[proxy].clear();
      expect(op.result.case).toBe("error");
      const error = op.result.value as { code: number; message: string; details: Array<{ value: Uint8Array }> };
      expect(error.message).toContain("<redacted>");
      const visible = `${error.message}\n${error.details.map((d) => Buffer.from(d.value).toString("latin1")).join("\n")}`;
      expect(secretFragments(visible, allSecrets())).toEqual([]);
    });
  }

  it("wrote no credential, whole or in part, to its logs", () => {
    const logs = `${JSON.stringify(server.logs)}\n${server.stderr()}`;
    expect(server.logs.length).toBeGreaterThan(0);
    expect(secretFragments(logs, allSecrets())).toEqual([]);
  });
});

describe("start-up errors", () => {
  const PASSWORD = secret("endpoint-password");
  const entries: Record<string, string> = {
    oci: `    provider: oci\n    insecure: true\n    endpoint: http://ci:${PASSWORD}@127.0.0.1:99999`,
    ionos: `    provider: ionos\n    token: abcdefgh\n    endpoint: http://ci:${PASSWORD}@127.0.0.1:99999/x`,
    yandex: `    provider: yandex\n    folderId: b1g\n    iamToken: abcdefgh\n    endpoint: http://ci:${PASSWORD}@127.0.0.1:99999/x`,
  };
  it.each(Object.keys(entries))("an unparseable %s endpoint with user-info is named without it", async (provider) => {
    const failed = await startServer({ config: `registries:\n  - id: bad\n${entries[provider]}\n` }).then(
      async (s) => {
        await s.kill();
        throw new Error("started");
      },
      (e: Error) => e.message,
    );
    expect(failed).toContain("registries[bad].endpoint");
    expect(failed).toContain("<redacted>@127.0.0.1:99999");
    expect(secretFragments(failed, [PASSWORD])).toEqual([]);
  });
});
