// Connections that never become calls cannot hold the ports: the server closes sockets that send nothing,
// half an HTTP/2 preface, half an HTTP/1.1 request or only the preface (each test waits for the server's
// close, with no upper time bound asserted), and beyond maxConnections(PerAddress) new connections are
// closed while the established trusted connection keeps being served (counted, not timed).
import * as net from "node:net";
import { type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { connectClient, GrpcClient } from "./support/clients.js";
import { startEdgeApp, type EdgeApp } from "./support/edge-app.js";

const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/** A raw TCP connection that sends `bytes` and resolves once the server closes it. */
async function rawSocket(port: number, bytes: string): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  const socket = net.connect(port, "127.0.0.1");
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => {});
  socket.resume();
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  if (bytes !== "") socket.write(bytes);
  return { socket, closed };
}

describe("sockets that never become calls are closed", () => {
  let edge: EdgeApp;
  beforeAll(async () => {
    edge = await startEdgeApp(
      "registries:\n  - { id: reg, provider: memory }\nlimits:\n  firstBytesTimeout: 100ms\n  headersTimeout: 100ms\n  idleTimeout: 200ms\n",
    );
  });
  afterAll(() => edge?.stop());

  const sends: Array<[string, string]> = [
    ["nothing", ""],
    ["half an HTTP/2 preface", PREFACE.slice(0, 10)],
    ["only the HTTP/2 preface", PREFACE],
    ["half an HTTP/1.1 request", "GET /healthz HTTP/1.1\r\nHost: x\r\n"],
  ];
  for (const [what, bytes] of sends) {
    it(`closes a socket on the HTTP port that sends ${what}`, async () => {
      const { closed } = await rawSocket(edge.app.httpPort, bytes);
      await closed;
    });
  }
  for (const [what, bytes] of sends.slice(0, 3)) {
    it(`closes a socket on the gRPC port that sends ${what}`, async () => {
      const { closed } = await rawSocket(edge.app.grpcPort, bytes);
      await closed;
    });
  }
});

describe.each(["maxConnectionsPerAddress", "maxConnections"])("connection caps: %s", (cap) => {
  let edge: EdgeApp;
  const CAP = 5;
  beforeAll(async () => {
    edge = await startEdgeApp(`registries:\n  - { id: reg, provider: memory }\nlimits:\n  ${cap}: ${CAP}\n`);
  });
  afterAll(() => edge?.stop());

  const ports = [
    {
      name: "HTTP",
      port: () => edge.app.httpPort,
      trusted: () => {
        const client = connectClient(ImageService, edge.httpUrl, "grpc-http") as Client<typeof ImageService>;
        return { list: async () => (await client.list({ registryId: "reg" })).images.length, close: () => {} };
      },
    },
    {
      name: "gRPC",
      port: () => edge.app.grpcPort,
      trusted: () => {
        const client = new GrpcClient(ImageService, edge.grpcAddress);
        return { list: async () => ((await client.call("list", { registryId: "reg" })) as { images: unknown[] }).images.length, close: () => client.close() };
      },
    },
  ];
  for (const p of ports) {
    it(`refuses connections beyond the cap on the ${p.name} port and keeps serving the established one`, async () => {
      const trusted = p.trusted();
      try {
        expect(await trusted.list()).toBe(2);
        const fillers = [];
        for (let i = 0; i < CAP - 1; i++) fillers.push(await rawSocket(p.port(), ""));
        const refused = [];
        for (let i = 0; i < 3; i++) refused.push(await rawSocket(p.port(), ""));
        await Promise.all(refused.map((r) => r.closed));
        const served = [];
        for (let i = 0; i < 10; i++) served.push(await trusted.list());
        expect(served).toEqual(Array(10).fill(2));
        // The fillers were kept open all along: the server closed only the ones beyond the cap.
        expect(fillers.filter((f) => f.socket.destroyed).length).toBe(0);
        for (const f of fillers) f.socket.destroy();
        await Promise.all(fillers.map((f) => f.closed));
      } finally {
        trusted.close();
      }
    });
  }
});
