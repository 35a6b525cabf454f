// IonosProvider's own state stays bounded: deletes in 10,000 distinct registries of a contract keep a
// bounded number of Distribution clients open, and every client pushed out is closed.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IonosProvider } from "../src/adapters/ionos/index.js";
import type { ManifestDeleter } from "../src/core/distribution/index.js";

const TOKEN = "ionos-bounds-token";
const REGISTRIES = 10_000;
const DIGEST = `sha256:${"a".repeat(64)}`;

const registryName = (i: number) => `reg-${String(i).padStart(5, "0")}`;
const registryId = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;

function registryDoc(i: number): object {
  return { id: registryId(i), properties: { name: registryName(i), location: "de/fra", hostname: `${registryName(i)}.example` }, metadata: { state: "RUNNING" } };
}

/** Just enough of the IONOS API for a delete: registries by filter.name, and one registry by id. */
let server: http.Server;
let endpoint: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://fake");
    const send = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    const byName = /^reg-(\d{5})$/.exec(url.searchParams.get("filter.name") ?? "");
    if (url.pathname === "/registries" && byName) return send(200, { items: [registryDoc(Number(byName[1]))], pagination: {}, _links: {} });
    const byId = /^\/registries\/00000000-0000-4000-8000-([0-9a-f]{12})$/.exec(url.pathname);
    if (byId) return send(200, registryDoc(parseInt(byId[1], 16)));
    send(404, { httpStatus: 404, messages: [{ errorCode: "404", message: "not found" }] });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe("IonosProvider", () => {
  it("keeps a bounded number of Distribution clients open over 10,000 registries, closing those it drops", async () => {
    let opened = 0;
    let closed = 0;
    const provider = new IonosProvider({
      id: "ionos",
      endpoint,
      insecure: true,
      token: TOKEN,
      registryCredentials: { username: "robot", password: "robot-password" },
      distributionClient: (): ManifestDeleter => {
        opened++;
        return {
          deleteManifest: async () => "deleted",
          close: async () => {
            closed++;
          },
        };
      },
    });
    const signal = new AbortController().signal;
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < REGISTRIES; i = next++) await provider.deleteImage(`${registryName(i)}/app`, DIGEST, signal);
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(opened).toBe(REGISTRIES);
    expect(provider.ociClientCount).toBeGreaterThan(0);
    expect(provider.ociClientCount).toBeLessThanOrEqual(256);
    expect(closed).toBe(opened - provider.ociClientCount);
    await provider.close();
    expect(closed).toBe(opened);
  }, 120_000);
});
