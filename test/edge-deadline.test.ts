// A call whose deadline passes while a registry holds it answers DEADLINE_EXCEEDED on every protocol of
// both ports. The registry holds the listing at a gate that opens only after the answer, so the deadline
// always passes first and no timing margin decides the outcome; the HTTP clients send the deadline
// header without enforcing it themselves, so the code asserted is the server's.
import { ConnectError, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageService } from "../src/gen/regplane/v1/image_service_pb.js";
import { connectClient, GrpcClient, GrpcError, type Protocol } from "./support/clients.js";
import { ListingGate, startEdgeApp, type EdgeApp } from "./support/edge-app.js";

const DEADLINE_EXCEEDED = 4;

let edge: EdgeApp;
beforeAll(async () => {
  edge = await startEdgeApp("registries:\n  - { id: reg, provider: memory }\n");
});
afterAll(() => edge?.stop());

/** Holds every listing at a fresh gate, opened only once the call has been answered. */
function holdListings(): ListingGate {
  const gate = new ListingGate();
  edge.providers.get("reg")!.listingGate = gate;
  return gate;
}

async function codeOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 0;
  } catch (err) {
    if (err instanceof ConnectError) return err.code;
    if (err instanceof GrpcError) return err.code;
    throw err;
  }
}

describe("deadlines on every port and protocol", () => {
  const httpProtocols: Array<{ protocol: Protocol; header: Record<string, string> }> = [
    { protocol: "connect", header: { "connect-timeout-ms": "50" } },
    { protocol: "connect-binary", header: { "connect-timeout-ms": "50" } },
    { protocol: "grpc-web", header: { "grpc-timeout": "50m" } },
    { protocol: "grpc-http", header: { "grpc-timeout": "50m" } },
  ];
  for (const { protocol, header } of httpProtocols) {
    it(`answers DEADLINE_EXCEEDED over ${protocol} on the HTTP port`, async () => {
      const gate = holdListings();
      const client = connectClient(ImageService, edge.httpUrl, protocol) as Client<typeof ImageService>;
      const code = await codeOf(client.list({ registryId: "reg" }, { headers: header }));
      gate.open();
      expect(code).toBe(DEADLINE_EXCEEDED);
      // The listing (when it got that far before the deadline) was told to stop.
      expect(gate.held.every((q) => q.signal.aborted)).toBe(true);
    });
  }

  it("answers DEADLINE_EXCEEDED on the gRPC port to a client that does not enforce the deadline itself", async () => {
    const gate = holdListings();
    const client = connectClient(ImageService, `http://${edge.grpcAddress}`, "grpc-http") as Client<typeof ImageService>;
    const code = await codeOf(client.list({ registryId: "reg" }, { headers: { "grpc-timeout": "50m" } }));
    gate.open();
    expect(code).toBe(DEADLINE_EXCEEDED);
  });

  it("answers DEADLINE_EXCEEDED on the gRPC port to grpc-js", async () => {
    const gate = holdListings();
    const client = new GrpcClient(ImageService, edge.grpcAddress);
    try {
      // grpc-js enforces its deadline locally too; the server's answer is the same code.
      const code = await codeOf(client.call("list", { registryId: "reg" }, { deadlineMs: 50 }));
      gate.open();
      expect(code).toBe(DEADLINE_EXCEEDED);
    } finally {
      client.close();
    }
  });
});
