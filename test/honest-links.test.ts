// An OCI registry's paging Link is followed only to the registry's own origin (scheme, host and port):
// a Link to the same host on another port, or to https on the same host and port, is refused before any
// request goes there, so the credentials never leave for it. Through a started server, both ports.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { startEchoProxy, type EchoProxy } from "./fakes/echo-proxy.js";
import { callAt, PORTS } from "./support/edge-call.js";
import { buildBaseLayout, makeTempDir } from "./support/images.js";
import { pushImage, startRegistry, type RunningRegistry } from "./support/registry.js";
import { startServer, type ServerProcess } from "./support/server.js";

const PASSWORD = randomBytes(20).toString("hex");
const FAILED_PRECONDITION = 9;

let registry: RunningRegistry;
let proxy: EchoProxy;
let server: ServerProcess;
/** Another port on the same host: records every request and the Authorization it carried. */
let trap: http.Server;
let trapPort = 0;
const trapped: Array<{ url?: string; authorization?: string }> = [];

beforeAll(async () => {
  registry = await startRegistry({ auth: { kind: "htpasswd", users: { ci: PASSWORD } } });
  const base = await buildBaseLayout(path.join(await makeTempDir("regplane-links-"), "layout"));
  for (const repo of ["a/one", "b/two", "c/three"]) await pushImage(base.dir, "v1", registry.host, repo, "v1", { credentials: `ci:${PASSWORD}` });
  proxy = await startEchoProxy(registry.url);
  trap = http.createServer((req, res) => {
    trapped.push({ url: req.url, authorization: req.headers.authorization });
    res.writeHead(200, { "content-type": "application/json" }).end('{"repositories":[]}');
  });
  await new Promise<void>((resolve) => trap.listen(0, "127.0.0.1", () => resolve()));
  trapPort = (trap.address() as AddressInfo).port;
  server = await startServer({
    env: { OCI_PASSWORD: PASSWORD },
    config: `
registries:
  - id: oci
    provider: oci
    endpoint: ${proxy.url}
    insecure: true
    username: ci
    password: \${OCI_PASSWORD}
    catalogPageSize: 1
    breakerThreshold: 1000
`,
  });
}, 120_000);

afterAll(async () => {
  if (server) expect(await server.stop()).toBe(0);
  await proxy?.close();
  await new Promise<void>((resolve) => (trap ? trap.close(() => resolve()) : resolve()));
  await registry?.stop();
});

beforeEach(() => {
  proxy.rewriteLink = undefined;
  trapped.length = 0;
});

describe("paging Links", () => {
  it.each(PORTS)("an absolute Link to the registry's own origin is followed to the end (%s port)", async (port) => {
    proxy.rewriteLink = (link) => link.replace("</v2/", `<${proxy.url}/v2/`);
    const out = await callAt(server, port, ImageService, "list", { registryId: "oci" });
    expect(out.code, out.message).toBe(0);
    expect(out.res.images.map((i: { name: string }) => i.name).sort()).toEqual(["oci/a/one", "oci/b/two", "oci/c/three"]);
  });

  it.each(PORTS)("a Link to the same host on another port is refused and never requested (%s port)", async (port) => {
    proxy.rewriteLink = (link) => link.replace("</v2/", `<http://127.0.0.1:${trapPort}/v2/`);
    const out = await callAt(server, port, ImageService, "list", { registryId: "oci" });
    expect(out.code, out.message).toBe(FAILED_PRECONDITION);
    expect(out.reason).toBe("PROVIDER_LINK_REFUSED");
    expect(out.metadata.link_host).toBe(`127.0.0.1:${trapPort}`);
    expect(out.retryDelayMs).toBeUndefined();
    expect(trapped).toEqual([]);
  });

  it.each(PORTS)("a Link to https on the same host and port is refused and never connected to (%s port)", async (port) => {
    proxy.rewriteLink = (link) => link.replace("</v2/", `<https://127.0.0.1:${proxy.port}/v2/`);
    const before = proxy.nonHttpConnections;
    const out = await callAt(server, port, ImageService, "list", { registryId: "oci" });
    expect(out.code, out.message).toBe(FAILED_PRECONDITION);
    expect(out.reason).toBe("PROVIDER_LINK_REFUSED");
    expect(proxy.nonHttpConnections).toBe(before);
  });
});
