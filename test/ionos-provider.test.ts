// IonosProvider's own state stays bounded: deletes in 10,000 distinct registries of a contract keep a
// bounded number of Distribution clients open, every client pushed out is closed, and none is closed
// under a delete still running on it.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IonosProvider } from "../src/adapters/ionos/index.js";
import type { ManifestDeleter } from "../src/core/distribution/index.js";
import { Gate, until } from "./support/gate.js";

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

  it("closes a client pushed out of the cache only once the delete running on it is done", async () => {
    const gate = new Gate();
    const clients: Array<{ registry: number; closed: boolean }> = [];
    const provider = new IonosProvider({
      id: "ionos",
      endpoint,
      insecure: true,
      token: TOKEN,
      registryCredentials: { username: "robot", password: "robot-password" },
      distributionClient: (o): ManifestDeleter => {
        const client = { registry: Number(/reg-(\d{5})/.exec(o.endpoint)![1]), closed: false };
        clients.push(client);
        return {
          deleteManifest: async (_repository, _digest, signal) => {
            if (client.closed) throw new Error("deleteManifest on a closed client");
            if (client.registry === 0) await gate.pass(signal);
            if (client.closed) throw new Error("the client was closed under its delete");
            return "deleted";
          },
          close: async () => {
            client.closed = true;
          },
        };
      },
    });
    const signal = new AbortController().signal;
    const held = provider.deleteImage(`${registryName(0)}/app`, DIGEST, signal);
    await until(() => gate.waiting === 1);
    // Enough other registries to push registry 0's client out of the cache (bound 256).
    for (let i = 1; i <= 300; i++) await provider.deleteImage(`${registryName(i)}/app`, DIGEST, signal);
    const first = clients.find((c) => c.registry === 0)!;
    expect(clients.filter((c) => c.closed).length).toBeGreaterThan(0);
    expect(first.closed).toBe(false);
    gate.open();
    await held;
    expect(first.closed).toBe(true);
    await provider.close();
  }, 60_000);
});
